# syntax=docker/dockerfile:1
# execlog-api image: the PEX that `./pants package services/api::` writes to
# dist/services.api/execlog-api.pex, on python:3.11-slim.
# Build from the repository root (compose does): docker build -f deploy/compose/api.Dockerfile .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PEX_ROOT=/opt/pex \
    LOG_SPOOL_DIR=/var/lib/execlog/spool

RUN groupadd --system --gid 10001 execlog \
    && useradd --system --uid 10001 --gid execlog --home-dir /nonexistent --shell /usr/sbin/nologin execlog \
    && install -d -o execlog -g execlog -m 0750 /var/lib/execlog /var/lib/execlog/spool

COPY --chmod=0755 dist/services.api/execlog-api.pex /app/execlog-api.pex

# The PEX runs in venv mode: build its venv now so the container starts fast and needs no
# writable PEX_ROOT (this also proves the PEX runs on this base image).
RUN python3.11 /app/execlog-api.pex --help >/dev/null \
    && chmod -R a+rX /opt/pex

USER execlog:execlog
WORKDIR /var/lib/execlog
VOLUME ["/var/lib/execlog/spool"]
EXPOSE 8000
STOPSIGNAL SIGTERM
ENTRYPOINT ["python3.11", "/app/execlog-api.pex"]
CMD ["serve"]
