#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine:
# Debian's Chromium (for the browser tests), Node.js (frontend unit tests) and
# this package with its TensorFlow and test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" fonts-dejavu-core
fi

python3 -m pip install -q --disable-pip-version-check -e ".[tf,test]"
