#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian/Ubuntu
# machine, into a virtual environment: the one already active ($VIRTUAL_ENV),
# or the project's own `.venv` (made with the standard library's venv; on
# Debian/Ubuntu the system python3 refuses `pip install` outside one, PEP 668).
# Also: Debian's Chromium (browser tests), Node.js (frontend unit tests),
# TensorFlow, PyTorch and JAX (CPU builds) with Keras 3, the trainer
# frameworks, and this package with its test extra.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  as_root apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}

missing=()
command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
command -v node >/dev/null || missing+=(nodejs)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

if [ -n "${VIRTUAL_ENV:-}" ]; then
  py="$VIRTUAL_ENV/bin/python"
else
  py=.venv/bin/python
  if ! [ -x "$py" ] || ! "$py" -m pip --version >/dev/null 2>&1; then
    rm -rf .venv
    if ! python3 -m venv .venv >&2; then
      # Debian/Ubuntu ship venv's ensurepip in a separate package.
      rm -rf .venv
      apt_install python3-venv
      python3 -m venv .venv >&2
    fi
  fi
fi
pip() { "$py" -m pip install -q --disable-pip-version-check "$@" >&2; }

# TensorFlow's CPU-only wheel is a fraction of the default one's download (the
# package's own `[tf]` extra names plain `tensorflow`, which users with a GPU want).
if [ "$(uname -m)" = x86_64 ]; then tf_wheel=tensorflow-cpu; else tf_wheel=tensorflow; fi
pip "$tf_wheel>=2.16" "keras>=3"
# torch is pinned: 2.13.0 is a CPU build (on this project's machines pip finds
# its wheel on local disk), while plain `torch` or a newer release pulls a
# CUDA build of several GB. Installed first so that lightning/transformers keep it.
pip torch==2.13.0
pip jax==0.10.2 jaxlib==0.10.2
pip -e ".[test,jax,flax,lightning,transformers,plot]" torch==2.13.0 jax==0.10.2
