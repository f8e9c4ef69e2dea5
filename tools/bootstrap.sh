#!/usr/bin/env bash
# Set up a fresh machine for building and testing codetracer-bundle.
#  - Debian packages the bundles and the tests use (when run as root and missing)
#  - CPython 3.12 and 3.13 found through pyenv (fails loudly when absent)
#  - .venv (Python 3.12) with requirements-dev.txt: every Python tool pinned, with
#    hashes (`make lock` writes it from requirements-dev.in)
#  - the Rust toolchain's clippy and the Windows/macOS targets of the wheels
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(squashfs-tools nsis xorriso 7zip shellcheck desktop-file-utils zsh fish dash
              cmake gcc-mingw-w64-x86-64 wine wine64 squashfuse fuse3 hyperfine file gcc)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: apt-get install ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing Debian packages: ${missing[*]} (install them as root)" >&2
    exit 1
  fi
fi

python_for() {  # python_for 3.12 -> path of the newest pyenv CPython 3.12.x
  local want=$1 root best=""
  if ! root=$(pyenv root 2>/dev/null); then
    echo "bootstrap: pyenv not found; CPython $want is required (install it with pyenv)" >&2
    return 1
  fi
  for d in "$root"/versions/"$want".*; do
    [ -x "$d/bin/python$want" ] && best="$d/bin/python$want"
  done
  if [ -z "$best" ]; then
    echo "bootstrap: CPython $want not found under $root/versions (pyenv install $want)" >&2
    return 1
  fi
  echo "$best"
}
PY312=$(python_for 3.12)
PY313=$(python_for 3.13)
echo "bootstrap: CPython 3.12 = $PY312, CPython 3.13 = $PY313" >&2

if [ ! -x .venv/bin/python ]; then
  "$PY312" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.txt

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
# The Rust targets of the cross-built Windows and macOS wheels (clippy checks
# them in `make lint`; `make wheel-windows` / `make wheel-macos` build them).
targets=$(PYTHONPATH=packaging .venv/bin/python -c 'from ctbundle._wheel import rust_targets; print(*rust_targets())')
installed=$(rustup target list --installed)
for t in $targets; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
echo "bootstrap: ok" >&2
