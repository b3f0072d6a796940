#!/usr/bin/env bash
# Start N Communis daphne processes on consecutive loopback ports, for nginx to spread sockets over
# (deploy/nginx/communis.conf).  Production shape: every process shares one PostgreSQL database
# (DATABASE_URL) and one Redis (REDIS_URL: room events and control messages cross processes
# through it).  Any socket may land on any process.
#
#   DATABASE_URL=postgres://communis@127.0.0.1/communis REDIS_URL=redis://127.0.0.1:6379/0 \
#     deploy/run-multi.sh [N=2] [BASE_PORT=8001]
#
# Other settings (SECRET_KEY, ALLOWED_HOSTS, DATABASE_CONN_MAX_AGE, …) pass through the
# environment; see the README's operations section and docs/performance.md.  Logs go to
# var/daphne-<port>.log.  Ctrl+C or SIGTERM stops every process; if one dies, the rest are
# stopped too (let systemd or your supervisor restart the whole set).
set -euo pipefail

N="${1:-2}"
BASE_PORT="${2:-8001}"
BIND="${BIND:-127.0.0.1}"
# Twisted's default listen backlog is 50: a reconnect storm overflows it and the kernel drops
# handshakes that clients retry only a second later.  The kernel caps it at net.core.somaxconn.
BACKLOG="${BACKLOG:-4096}"
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"

if ! [[ "$N" =~ ^[1-9][0-9]*$ ]] || ! [[ "$BASE_PORT" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [processes] [base-port]" >&2
  exit 2
fi
if [ "$N" -gt 1 ] && [ -z "${REDIS_URL:-}" ]; then
  echo "REDIS_URL is required for more than one process: events would stay inside one." >&2
  exit 2
fi
if [ "$N" -gt 1 ] && [ -z "${DATABASE_URL:-}" ]; then
  echo "warning: no DATABASE_URL, so every process uses the embedded SQLite file;" \
    "production runs PostgreSQL" >&2
fi
# Each socket is a file descriptor: lift the soft limit to the hard one (raise the hard limit
# with LimitNOFILE= in the systemd unit, or /etc/security/limits.conf).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open-file limit per process: $(ulimit -n)"

mkdir -p var
"$PYTHON" manage.py migrate --noinput -v0

pids=()
stop_all() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
on_signal() {
  stop_all
  exit 0
}
trap stop_all EXIT
trap on_signal INT TERM

for ((i = 0; i < N; i++)); do
  port=$((BASE_PORT + i))
  "$PYTHON" -m daphne --proxy-headers \
    -e "tcp:port=${port}:interface=${BIND}:backlog=${BACKLOG}" \
    chatserver.asgi:application >>"var/daphne-${port}.log" 2>&1 &
  pids+=("$!")
  echo "daphne $((i + 1))/${N} on ${BIND}:${port} (pid $!, log var/daphne-${port}.log)"
done

# Block until any process exits, then take the others down with it.
wait -n || true
echo "a daphne process exited; stopping the others" >&2
exit 1
