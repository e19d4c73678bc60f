#!/usr/bin/env bash
# Set up stagesweep on a fresh Debian machine: system packages (when root), a venv, the project.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --test   also what the test suite needs (registry, dockerd, wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

pkgs=()
command -v git >/dev/null || pkgs+=(git)
command -v python3 >/dev/null || pkgs+=(python3)
python3 -c "import ensurepip, venv" 2>/dev/null || pkgs+=(python3-venv)
if [ "$want_test" = 1 ]; then
  [ -x /usr/bin/docker-registry ] || pkgs+=(docker-registry)
  command -v dockerd >/dev/null || pkgs+=(docker.io)
  command -v wrk >/dev/null || pkgs+=(wrk)
  command -v chromium >/dev/null || pkgs+=(chromium)
  { command -v go >/dev/null && [ -d /usr/share/gocode/src/github.com/Masterminds/sprig ]; } || pkgs+=(golang-go golang-github-masterminds-sprig-dev)
  [ -d /usr/share/gocode/src/github.com/bmatcuk/doublestar ] || pkgs+=(golang-github-bmatcuk-doublestar-dev)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || pkgs+=(postgresql)
  command -v skopeo >/dev/null || pkgs+=(skopeo)
fi
if [ "${#pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  else
    echo "missing Debian packages: ${pkgs[*]} (run as root or install them: apt-get install ${pkgs[*]})" >&2
    exit 1
  fi
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -U pip >/dev/null
if [ "$want_test" = 1 ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
