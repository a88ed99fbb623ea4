# syntax=docker/dockerfile:1
# execlog-api image: the PEX that `./pants package services/api::` writes to
# dist/services.api/execlog-api.pex, on python:3.11-slim.
# Build from the repository root (compose does): docker build -f deploy/compose/api.Dockerfile .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOG_SPOOL_DIR=/var/lib/execlog/spool

RUN groupadd --system --gid 10001 execlog \
    && useradd --system --uid 10001 --gid execlog --home-dir /nonexistent --shell /usr/sbin/nologin execlog \
    && install -d -o execlog -g execlog -m 0750 /var/lib/execlog /var/lib/execlog/spool

COPY --chmod=0755 dist/services.api/execlog-api.pex /app/execlog-api.pex

# The PEX runs in venv mode: let it build its venv now, then run that venv directly
# (/app/venv/pex is the same CLI). The container then starts fast, writes nothing under
# /opt/pex (a read-only root filesystem is fine) and the build proves the PEX runs on this image.
RUN PEX_ROOT=/opt/pex python3.11 /app/execlog-api.pex --help >/dev/null \
    && set -- /opt/pex/venvs/s/*/venv \
    && test "$#" -eq 1 && test -x "$1/pex" \
    && ln -s "$1" /app/venv \
    && python3.11 -m compileall -q /opt/pex/installed_wheels /app/venv/lib/ \
    && chmod -R a+rX /opt/pex \
    && rm /app/execlog-api.pex \
    && /app/venv/pex --help >/dev/null

USER execlog:execlog
WORKDIR /var/lib/execlog
VOLUME ["/var/lib/execlog/spool"]
EXPOSE 8000
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/venv/pex"]
CMD ["serve"]
