#!/usr/bin/env bash
# Fuzzes the decoders that read bytes from the network, each for a bounded time.
#
#   scripts/fuzz.sh [seconds-per-target]     (default 30)
#   FUZZ_TARGETS="call_json" scripts/fuzz.sh 60
#
# Works on a stable toolchain: cargo-fuzz's default (address sanitizer) needs nightly's
# -Zsanitizer, so we build with `--sanitizer none` and let the coverage
# instrumentation (-Cpasses=sancov-module, stable flags) drive libFuzzer. The code
# under test is safe Rust; what we look for is panics, failed assertions, and hangs.
# RUSTC_BOOTSTRAP=1 covers any unstable flag a cargo-fuzz version may still pass.
#
# A crash leaves its input under fuzz/artifacts/<target>/; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none <target> <file>
# Inputs found along the way accumulate in fuzz/corpus/<target>/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-30}"
TARGETS="${FUZZ_TARGETS:-recordio_decoder call_json call_protobuf}"
# A hung input fails the run rather than eating the time budget.
PER_INPUT_TIMEOUT=10

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
FUZZ_FLAGS=(--sanitizer none --debug-assertions)

echo "building fuzz targets"
cargo fuzz build "${FUZZ_FLAGS[@]}"

status=0
for target in $TARGETS; do
  echo "fuzzing $target for ${SECONDS_PER_TARGET}s"
  mkdir -p "fuzz/corpus/$target"
  corpora=("fuzz/corpus/$target")
  [ -d "fuzz/seeds/$target" ] && corpora+=("fuzz/seeds/$target")
  extra=()
  [ -f "fuzz/$target.dict" ] && extra+=("-dict=fuzz/$target.dict")
  # libFuzzer stops itself at max_total_time; the outer timeout is a backstop in case
  # it does not (a stuck build lock, say).
  if ! timeout --signal=INT --kill-after=30 "$((SECONDS_PER_TARGET + 120))" \
      cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "${corpora[@]}" -- \
      -max_total_time="$SECONDS_PER_TARGET" \
      -timeout="$PER_INPUT_TIMEOUT" \
      -rss_limit_mb=2048 \
      -print_final_stats=1 \
      "${extra[@]}" 2>&1 | grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED)'; then
    echo "FAILED: $target (see fuzz/artifacts/$target/)"
    status=1
  fi
done
exit "$status"
