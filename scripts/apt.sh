# Sourced by scripts/bootstrap.sh and scripts/test: install Debian packages when missing.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: one apt-get call for all of them. Concurrent calls (the test script
# installs its packages in the background while bootstrap builds .venv) wait for dpkg's lock.
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "please install: $*" >&2
    return 1
  fi
  local wait_lock=(-o DPkg::Lock::Timeout=600)
  if [ ! -f /tmp/.strongroom-apt-updated ]; then
    as_root apt-get "${wait_lock[@]}" update -qq && touch /tmp/.strongroom-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get "${wait_lock[@]}" install -y -qq "$@" >/dev/null
}
