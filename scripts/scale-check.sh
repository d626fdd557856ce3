#!/usr/bin/env bash
# The multi-process scenario of test/scale/chaos.test.ts (2 APIs, 2 workers, SIGTERM, kill -9
# mid-run and mid-post, an API killed under a subscriber) on Debian's PostgreSQL server, with
# every pool going through PgBouncer in transaction mode and LISTEN (DATABASE_LISTEN_URL)
# going direct. Not run in CI. Needs: apt-get install postgresql pgbouncer.
#
#   scripts/scale-check.sh [accounts]        (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS="${1:-20000}"

PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$PGBIN" ] || ! command -v pgbouncer >/dev/null; then
  echo "needs Debian's postgresql and pgbouncer: apt-get install postgresql pgbouncer" >&2
  exit 2
fi

WORK="$(mktemp -d)"
chmod 755 "$WORK"
# PostgreSQL and PgBouncer refuse to run as root: as root, they run as the postgres user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
PGPORT="$(free_port)"
BOUNCER_PORT="$(free_port)"

cleanup() {
  [ -f "$WORK/pgbouncer.pid" ] && kill "$(cat "$WORK/pgbouncer.pid")" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on port $PGPORT, PgBouncer $(pgbouncer --version | head -n 1 | awk '{print $2}') (transaction mode) on port $BOUNCER_PORT"
as_pg "$PGBIN/initdb" -D "$WORK/pg" -U billrun --auth=trust --no-sync -E UTF8 >/dev/null
# Debian's defaults otherwise: max_connections = 100, shared_buffers = 128MB.
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/postgres.log" -w \
  -o "-p $PGPORT -c listen_addresses=127.0.0.1 -k $WORK" start >/dev/null
as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U billrun billrun

cat > "$WORK/userlist.txt" <<USERS
"billrun" ""
USERS
cat > "$WORK/pgbouncer.ini" <<INI
[databases]
billrun = host=127.0.0.1 port=$PGPORT dbname=billrun

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
INI
[ "$(id -u)" = 0 ] && chown postgres "$WORK"/pgbouncer.ini "$WORK"/userlist.txt
as_pg pgbouncer -d "$WORK/pgbouncer.ini"

SCALE_DATABASE_URL="postgresql://billrun@127.0.0.1:$BOUNCER_PORT/billrun" \
SCALE_DIRECT_URL="postgresql://billrun@127.0.0.1:$PGPORT/billrun" \
SCALE_ACCOUNTS="$ACCOUNTS" \
  npx vitest run test/scale/chaos.test.ts 2>&1 | tee "$WORK/vitest.log" | grep -E "scale:|✓|×|Error|Tests|Duration" || true
grep -q "Tests .*1 passed" "$WORK/vitest.log"
