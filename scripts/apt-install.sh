#!/usr/bin/env bash
# apt-install.sh TAG PACKAGE...: installs Debian packages for the test setup (needs root).
set -euo pipefail
tag=$1; shift
if [ "$(id -u)" -ne 0 ]; then
  echo "[$tag] $* missing; run this script as root (it uses apt-get)." >&2
  exit 1
fi
echo "[$tag] installing Debian's $* (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
