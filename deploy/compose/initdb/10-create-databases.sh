#!/usr/bin/env bash
# Creates the two execlog databases, each owned by its own login role:
#   EXECLOG_API_DB  (default execlog_api)  owned by EXECLOG_API_DB_USER  (default execlog_api)
#   EXECLOG_LOGS_DB (default execlog_logs) owned by EXECLOG_LOGS_DB_USER (default execlog_logs)
# Passwords come from EXECLOG_API_DB_PASSWORD and EXECLOG_LOGS_DB_PASSWORD (required).
# Idempotent: an existing role gets its password reset, an existing database is kept.
# The postgres image runs it once from /docker-entrypoint-initdb.d on an empty data directory;
# elsewhere run it by hand as a superuser (psql's usual PGHOST/PGPORT/PGUSER variables apply).
set -euo pipefail

admin_user="${POSTGRES_USER:-${PGUSER:-postgres}}"
admin_db="${POSTGRES_DB:-postgres}"

create_db() {
    local db="$1" role="$2" password="$3"
    psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$admin_user" --dbname "$admin_db" \
        --set=db="$db" --set=role="$role" --set=password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')
\gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'password')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')
\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db')
\gexec
SELECT format('GRANT ALL ON DATABASE %I TO %I', :'db', :'role')
\gexec
SQL
}

create_db "${EXECLOG_API_DB:-execlog_api}" "${EXECLOG_API_DB_USER:-execlog_api}" \
    "${EXECLOG_API_DB_PASSWORD:?EXECLOG_API_DB_PASSWORD is required}"
create_db "${EXECLOG_LOGS_DB:-execlog_logs}" "${EXECLOG_LOGS_DB_USER:-execlog_logs}" \
    "${EXECLOG_LOGS_DB_PASSWORD:?EXECLOG_LOGS_DB_PASSWORD is required}"
