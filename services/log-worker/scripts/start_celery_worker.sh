#!/usr/bin/env bash
# Start the log-worker Celery worker: queue `logs`, prefork pool, concurrency 4, node logs@%h,
# 1000 tasks per child (each flag from its WORKER_* variable).
#
# Settings come from the environment (the same variables the service reads):
#   WORKER_CONCURRENCY (4)            child processes
#   WORKER_HOSTNAME (logs@%h)         node name; give each worker on a host its own
#   WORKER_MAX_TASKS_PER_CHILD (1000) recycle a child after this many tasks
#   WORKER_MAX_MEMORY_PER_CHILD       KiB, e.g. 200000; unset = no limit
#   WORKER_LOGLEVEL (info)   WORKER_LOGFILE (unset = stderr; rotate it with logrotate)
#   EXECLOG_MIGRATE_ON_START (0)      1 = run `migrate` first (safe with several workers)
#   EXECLOG_WORKER_BIN                the PEX / entry point (default: `execlog-worker` on PATH,
#                                     else `${PYTHON:-python3} -m execlog_worker`)
#   plus DATABASE_URL, REDIS_URL or REDIS_HOST/REDIS_PORT/REDIS_DB/REDIS_PASSWORD, ...
# Extra arguments are passed on to `celery worker`.
set -euo pipefail

if [[ -n "${EXECLOG_WORKER_BIN:-}" ]]; then
  cmd=("${EXECLOG_WORKER_BIN}")
elif command -v execlog-worker >/dev/null 2>&1; then
  cmd=(execlog-worker)
else
  cmd=("${PYTHON:-python3}" -m execlog_worker)
fi

if [[ "${EXECLOG_MIGRATE_ON_START:-0}" == "1" ]]; then
  "${cmd[@]}" migrate
fi

args=(
  worker
  --queues=logs
  --concurrency="${WORKER_CONCURRENCY:-4}"
  --pool=prefork
  --hostname="${WORKER_HOSTNAME:-logs@%h}"
  --max-tasks-per-child="${WORKER_MAX_TASKS_PER_CHILD:-1000}"
  --loglevel="${WORKER_LOGLEVEL:-info}"
)
if [[ -n "${WORKER_MAX_MEMORY_PER_CHILD:-}" ]]; then
  args+=(--max-memory-per-child="${WORKER_MAX_MEMORY_PER_CHILD}")
fi
if [[ -n "${WORKER_LOGFILE:-}" ]]; then
  args+=(--logfile="${WORKER_LOGFILE}")
fi

exec "${cmd[@]}" "${args[@]}" "$@"
