#!/usr/bin/env bash
# Start Flower (Celery monitoring) for the log-worker's broker, behind basic auth.
#
#   FLOWER_BASIC_AUTH   user:pass[,user:pass]  REQUIRED (Flower shows task arguments = log
#                       contents). Read from the environment by the service, never put on
#                       the command line (it would show in `ps`).
#   FLOWER_PORT (5555)  FLOWER_ADDRESS (127.0.0.1; 0.0.0.0 in a container)
#   REDIS_URL or REDIS_HOST/REDIS_PORT/REDIS_DB/REDIS_PASSWORD, BROKER_KEY_PREFIX
#   EXECLOG_WORKER_BIN  as in start_celery_worker.sh
# Extra arguments are passed on to Flower.
set -euo pipefail

if [[ -z "${FLOWER_BASIC_AUTH:-}" ]]; then
  echo "start_flower.sh: set FLOWER_BASIC_AUTH=user:pass (Flower must not run without auth)" >&2
  exit 2
fi

if [[ -n "${EXECLOG_WORKER_BIN:-}" ]]; then
  cmd=("${EXECLOG_WORKER_BIN}")
elif command -v execlog-worker >/dev/null 2>&1; then
  cmd=(execlog-worker)
else
  cmd=("${PYTHON:-python3}" -m execlog_worker)
fi

exec "${cmd[@]}" flower --port="${FLOWER_PORT:-5555}" --address="${FLOWER_ADDRESS:-127.0.0.1}" "$@"
