# syntax=docker/dockerfile:1
# execlog-worker image: the PEX that `./pants package services/log-worker::` writes to
# dist/services.log-worker/execlog-worker.pex, on python:3.11-slim. One image, several roles:
# `worker` (Celery consumer of the logs queue), `api` (log-worker HTTP API, port 8001),
# `flower` (port 5555), `migrate`, `retention`, `dlq`.
# Build from the repository root (compose does): docker build -f deploy/compose/log-worker.Dockerfile .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PEX_ROOT=/opt/pex

RUN groupadd --system --gid 10001 execlog \
    && useradd --system --uid 10001 --gid execlog --home-dir /nonexistent --shell /usr/sbin/nologin execlog \
    && install -d -o execlog -g execlog -m 0750 /var/lib/execlog

COPY --chmod=0755 dist/services.log-worker/execlog-worker.pex /app/execlog-worker.pex

# The PEX runs in venv mode: build its venv now so the container starts fast and needs no
# writable PEX_ROOT (this also proves the PEX runs on this base image).
RUN python3.11 /app/execlog-worker.pex --help >/dev/null \
    && chmod -R a+rX /opt/pex

USER execlog:execlog
WORKDIR /var/lib/execlog
EXPOSE 8001 5555
STOPSIGNAL SIGTERM
ENTRYPOINT ["python3.11", "/app/execlog-worker.pex"]
CMD ["worker"]
