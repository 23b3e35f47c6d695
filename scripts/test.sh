#!/usr/bin/env bash
# Runs every test of ratufa on a fresh machine: it installs what the tests need, then
# checks formatting and lints, runs the unit, integration and end-to-end tests, and
# fuzzes the decoders for a bounded time.
#
#   scripts/test.sh            everything
#   FUZZ_SECONDS=0 scripts/test.sh   skip the fuzzers
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-20}"

section() { printf '\n==== %s ====\n' "$*"; }

section "toolchain"
cargo --version
rustc --version
rustup component add rustfmt clippy >/dev/null 2>&1 || true

section "format"
cargo fmt --all -- --check

section "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

section "client dependencies"
# Real clients written for Mesos run against ratufa in the tests: pymesos (a
# virtualenv at .venv), mesos-go's api/v1 (Debian packages), curl; and ZooKeeper's
# server jar for the HA tests. Installed when missing; with RATUFA_REQUIRE_CLIENTS=1
# their tests fail rather than skip.
scripts/setup-python.sh
scripts/setup-go.sh
# Debian's ZooKeeper server jar: the HA tests start their own servers from it.
scripts/setup-zookeeper.sh
export RATUFA_REQUIRE_CLIENTS=1

section "tests"
# The workspace's unit tests, the proto/gateway/master integration tests, and the
# end-to-end tests in tests/ that start the real `ratufa` binary.
cargo test --workspace --locked

section "python client"
# clients/python: typed (mypy --strict) and tested against the ratufa binary that
# `cargo test` just built.
.venv/bin/python -m mypy --strict --config-file clients/python/pyproject.toml \
  clients/python/src clients/python/examples
RATUFA_BIN="$PWD/target/debug/ratufa" .venv/bin/python -m pytest clients/python/tests -q

if [ "$FUZZ_SECONDS" != "0" ]; then
  section "fuzz (${FUZZ_SECONDS}s per target)"
  scripts/fuzz.sh "$FUZZ_SECONDS"
fi

section "done"
