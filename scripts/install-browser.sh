#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/ui), only when it is missing.
# Playwright drives this system browser (never `playwright install`: it downloads its own build).
set -euo pipefail
CHROMIUM=${DOCLORA_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "[install-browser] $CHROMIUM is missing; run this script as root (it uses apt-get)." >&2
  exit 1
fi
echo "[install-browser] installing Debian's chromium (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
test -x "$CHROMIUM"
echo "[install-browser] $("$CHROMIUM" --version 2>/dev/null || echo chromium installed)"
