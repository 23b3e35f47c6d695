#!/usr/bin/env bash
# Installs what the real-client tests need (tests/pymesos_client.rs,
# tests/curl_scheduler.rs) and what the Python client's own tests need, if it is missing:
#
#   .venv/        a virtualenv with pymesos 0.3.15 from PyPI (and its dependencies), and
#                 our client, clients/python, installed editable with its test tools
#                 (httpx, pytest, mypy, kazoo)
#   curl          for examples/curl/scheduler.sh (from Debian's packages)
#
# Idempotent: a second run checks and returns in well under a second.
#
# pymesos depends on http-parser 0.9.0, which PyPI has only as a source archive whose
# setup.py always builds a C extension (unless running on PyPy); the extension's
# Cython-generated C does not compile against Python 3.11 (longintrepr.h moved). Its
# pure-Python parser is complete, and http_parser.http falls back to it when the
# extension is absent. setup.py has no flag or environment variable for that, but its
# own `run_setup(with_binary)` takes one: we build the pure-Python wheel by calling
# run_setup(False) on the unpacked source archive, then install pymesos against it.
#
#   scripts/setup-python.sh            PYTHON=python3.11 scripts/setup-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PYMESOS_VERSION=0.3.15
HTTP_PARSER_VERSION=0.9.0
# The Python client's dependencies and test tools, pinned so that a fresh machine gets
# what the tests were written against.
CLIENT_TOOLS=(httpx==0.28.1 pytest==9.2.0 mypy==2.4.1 kazoo==2.11.0)

log() { printf 'setup-python: %s\n' "$*" >&2; }

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    log "cannot install $* (no apt-get): install it by hand"
    exit 1
  fi
  log "installing $* with apt-get"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# --- curl ---------------------------------------------------------------------------
command -v curl >/dev/null 2>&1 || apt_install curl

# --- the virtualenv with pymesos --------------------------------------------------------
installed() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$PYMESOS_VERSION" clients/python/src/ratufa <<'PY' 2>/dev/null
import sys
import pymesos
from http_parser.http import HttpParser
assert pymesos.__VERSION__ == sys.argv[1], pymesos.__VERSION__
assert HttpParser is not None
import os, httpx, pytest, mypy, ratufa
assert os.path.samefile(os.path.dirname(ratufa.__file__), sys.argv[2]), ratufa.__file__
PY
}

if installed; then
  log "pymesos $PYMESOS_VERSION and the ratufa client are installed in $VENV"
  exit 0
fi

if [ -z "${PYTHON:-}" ]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi
command -v "$PYTHON" >/dev/null 2>&1 || apt_install python3 python3-venv
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt_install python3-venv
fi

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1; then
  log "creating $VENV with $("$PYTHON" --version 2>&1)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip --disable-pip-version-check --quiet)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! "$VENV/bin/python" -c 'import http_parser.pyparser' >/dev/null 2>&1; then
  log "building http-parser $HTTP_PARSER_VERSION without its C extension"
  "${pip[@]}" install 'setuptools>=65,<85' 'wheel>=0.40,<1'
  "${pip[@]}" download --no-deps --no-binary :all: \
    "http-parser==$HTTP_PARSER_VERSION" -d "$work/sdist"
  tar -xzf "$work/sdist/http-parser-$HTTP_PARSER_VERSION.tar.gz" -C "$work"
  (
    cd "$work/http-parser-$HTTP_PARSER_VERSION"
    "$OLDPWD/$VENV/bin/python" -c 'import setup; setup.run_setup(False)' \
      bdist_wheel --dist-dir "$work/wheels" >"$work/build.log" 2>&1 ||
      { cat "$work/build.log" >&2; exit 1; }
  )
  "${pip[@]}" install "$work"/wheels/http_parser-"$HTTP_PARSER_VERSION"-py3-none-any.whl
fi

log "installing pymesos $PYMESOS_VERSION"
"${pip[@]}" install "pymesos==$PYMESOS_VERSION" addict==2.4.0 six==1.17.0

log "installing the ratufa client (clients/python) and its test tools"
"${pip[@]}" install "${CLIENT_TOOLS[@]}"
"${pip[@]}" install -e 'clients/python[test,zk]'

if ! installed; then
  log "pymesos $PYMESOS_VERSION or the ratufa client still does not import from $VENV"
  exit 1
fi
log "pymesos $PYMESOS_VERSION and the ratufa client are installed in $VENV"
