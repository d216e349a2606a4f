#!/usr/bin/env bash
# Applies the checked-in migrations to a throwaway cluster of Debian's PostgreSQL server (15 on
# Debian 12), proving the same code runs against a DATABASE_URL server. initdb refuses root, so the
# cluster runs as the postgres system user.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "Debian's PostgreSQL server is not installed (apt-get install postgresql)"; exit 1; }
dir=$(mktemp -d /tmp/xray-pg15-XXXXXX)
chmod 755 "$dir"
port=$(( 20000 + RANDOM % 20000 ))
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
cleanup() { as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
as_pg "$bin/pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c listen_addresses=127.0.0.1" -l "$dir/log" -w start >/dev/null
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $port"
DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres" pnpm exec tsx scripts/migrate.ts
