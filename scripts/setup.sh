#!/usr/bin/env bash
# Set up minesweep on a fresh Debian machine: system packages the tests use, a virtualenv in
# .venv, and the package installed into it (editable, so rules/ is used in place).
#   bash scripts/setup.sh          runtime only
#   bash scripts/setup.sh test     plus test dependencies and Debian tools (tshark, chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
want=${1:-run}

if [ "$want" = test ]; then
  need=()
  command -v tshark >/dev/null || need+=(tshark)
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)
  command -v ndpiReader >/dev/null || need+=(libndpi-bin)
  [ -x /usr/bin/time ] || need+=(time)
  fc-list 2>/dev/null | grep -qi "noto.*cjk" || need+=(fonts-noto-cjk)  # Chinese in report screenshots
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    echo "setup: installing Debian packages: ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "$want" = test ]; then
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi
