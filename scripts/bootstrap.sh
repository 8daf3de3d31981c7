# Sourced by scripts/serve and scripts/test: make .venv and install the locked dependencies.
# Works on a fresh Debian machine with Python >= 3.11 (installs python3-venv if missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
  for candidate in "${STRONGROOM_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "Strongroom needs Python 3.11 or newer (set STRONGROOM_PYTHON to its path)" >&2
  return 1
}

source "$ROOT/scripts/apt.sh"

PY="$(find_python)"
stamp=".venv/.installed-$(sha256sum requirements.lock pyproject.toml scripts/bootstrap-tools.txt scripts/bootstrap.sh | sha256sum | cut -c1-16)"
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    ver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    apt_install "python${ver}-venv" || apt_install python3-venv
    "$PY" -m venv .venv
  fi
fi
if [ ! -f "$stamp" ]; then
  echo "Installing Strongroom and its locked dependencies into .venv ..." >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  # uv (pinned with hashes in scripts/bootstrap-tools.txt) installs the lock in seconds; pip is
  # the fallback where uv cannot be installed. Both check every hash in the lock. Both write
  # the bytecode (.pyc) at install time: where PYTHONDONTWRITEBYTECODE is set (this image sets
  # it) nothing else ever would, and every `strongroom` process would compile Django, ninja,
  # huey... from source again (2.6 s of CPU for a one-line command instead of 1.1 s).
  if .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
    -r scripts/bootstrap-tools.txt >/dev/null 2>&1 &&
    .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python --require-hashes \
      -r requirements.lock; then
    :
  else
    echo "uv unavailable: installing with pip (a few minutes) ..." >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock 2>&1 | grep -v '^WARNING: Location' || true
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 | grep -v '^WARNING: Location' || true
  # Fail loudly if the install failed (find_spec: importing ninja needs configured settings).
  .venv/bin/python -c 'import importlib.util as u, sys
missing = [m for m in ("strongroom", "django", "ninja", "huey", "gunicorn") if u.find_spec(m) is None]
sys.exit(f"missing after install: {missing}" if missing else 0)'
  .venv/bin/strongroom --help >/dev/null
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# The project's own modules too (up-to-date files are skipped: well under a second).
.venv/bin/python -m compileall -q -j 0 src >/dev/null
export PATH="$ROOT/.venv/bin:$PATH"
