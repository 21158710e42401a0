#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/ui), only when it is missing.
# Playwright drives this system browser (never `playwright install`: it downloads its own build).
set -euo pipefail
CHROMIUM=${DOCLORA_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
bash "$(dirname "$0")/apt-install.sh" install-browser chromium fonts-dejavu-core
test -x "$CHROMIUM"
echo "[install-browser] $("$CHROMIUM" --version 2>/dev/null || echo chromium installed)"
