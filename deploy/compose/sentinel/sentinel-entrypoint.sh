#!/bin/sh
# Writes a Sentinel configuration (Sentinel rewrites its own file, so it must be writable) and
# starts redis-sentinel. Used by docker-compose.sentinel.yml.
#   SENTINEL_MASTER_NAME  name clients ask for (the services' REDIS_SENTINEL_MASTER)
#   SENTINEL_MASTER_HOST  initial master (resolvable name), port 6379
#   SENTINEL_QUORUM       sentinels that must agree the master is down (default 2)
#   REDIS_PASSWORD        the data nodes' requirepass / masterauth
set -eu

conf=/data/sentinel.conf
cat >"$conf" <<CONF
port 26379
dir /data
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel monitor ${SENTINEL_MASTER_NAME:?} ${SENTINEL_MASTER_HOST:?} 6379 ${SENTINEL_QUORUM:-2}
sentinel auth-pass ${SENTINEL_MASTER_NAME} ${REDIS_PASSWORD:?}
sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 5000
sentinel failover-timeout ${SENTINEL_MASTER_NAME} 60000
sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1
CONF
exec redis-sentinel "$conf"
