#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine:
# Debian's Chromium (for the browser tests), Node.js (frontend unit tests),
# TensorFlow, PyTorch and JAX (CPU builds) with Keras 3, and this package with
# its test extra.
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

# The tests and the demo run on the CPU: TensorFlow's CPU-only wheel is a
# fraction of the default one's download. (The package's own `[tf]` extra names
# plain `tensorflow`, which users with a GPU want.)
if [ "$(uname -m)" = x86_64 ]; then tf_wheel=tensorflow-cpu; else tf_wheel=tensorflow; fi
python3 -m pip install -q --disable-pip-version-check "$tf_wheel>=2.16" "keras>=3"
# PyTorch and JAX for the PyTorch monitor and Keras on every backend, CPU builds.
# torch is pinned: 2.13.0 is a CPU build (on this project's machines pip finds
# its wheel on local disk), while plain `torch` or a newer release pulls a
# CUDA build of several GB.
python3 -m pip install -q --disable-pip-version-check torch==2.13.0
python3 -m pip install -q --disable-pip-version-check jax==0.10.2 jaxlib==0.10.2
python3 -m pip install -q --disable-pip-version-check -e ".[test]"
