# Sourced by scripts/test: make sure PostgreSQL and Redis answer on 127.0.0.1, starting (or,
# on a fresh Debian machine, installing) them when they do not.
pg_up() { python - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 5432)); sys.exit(0)
except OSError:
    sys.exit(1)
PY
}
redis_up() { python - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 6379)); s.sendall(b"PING\r\n"); sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}
wait_for() { for _ in $(seq 1 30); do "$1" && return 0; python -c 'import time; time.sleep(1)'; done; return 1; }

if [ -z "${STRONGROOM_TEST_POSTGRES_URL:-}" ] && ! pg_up; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432; starting it" >&2
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
  fi
  ver="$(ls /etc/postgresql | head -1)"
  # Trust auth on loopback for the test cluster only.
  hba="/etc/postgresql/$ver/main/pg_hba.conf"
  grep -q 'strongroom-test' "$hba" || as_root sed -i '1i host all all 127.0.0.1/32 trust # strongroom-test' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_for pg_up || { echo "PostgreSQL did not start" >&2; exit 1; }
fi
if ! redis_up; then
  echo "Redis is not answering on 127.0.0.1:6379; starting it" >&2
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_for redis_up || { echo "Redis did not start" >&2; exit 1; }
fi
export STRONGROOM_TEST_REDIS_URL="${STRONGROOM_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
