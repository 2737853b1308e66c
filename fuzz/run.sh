#!/usr/bin/env bash
# Runs every fuzz target from its seeds (fuzz/seeds/<target>) with cargo-fuzz.
#   fuzz/run.sh            a short run of each (CI): 15 s per target
#   fuzz/run.sh 120        120 s per target
#   fuzz/run.sh --runs N   N executions per target (the documented long run)
# Prints one line per target: executions, time, coverage, and any crash (which fails the
# script; libFuzzer leaves the input in fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "$0")"
limit=(-max_total_time="${1:-15}")
if [ "${1:-}" = "--runs" ]; then limit=(-runs="$2"); fi
export RUSTC_BOOTSTRAP=1   # cargo-fuzz needs -Z flags; stable toolchain otherwise
# No sanitizer: the fuzzed crates forbid unsafe code, and AddressSanitizer would make the
# engine target 7x slower. libFuzzer still catches every panic, abort, leak and timeout.
flags=(-O -s none)
cargo fuzz build "${flags[@]}" 2>&1 | grep -E "^error" || true
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for t in $(cargo fuzz list); do
  mkdir -p "$work/$t" "seeds/$t"
  start=$(date +%s)
  if cargo fuzz run "${flags[@]}" "$t" "$work/$t" "seeds/$t" -- "${limit[@]}" -rss_limit_mb=4096 \
       >"$work/$t.log" 2>&1; then
    result=ok
  else
    result="FAILED (see fuzz/artifacts/$t)"; status=1
    tail -n 30 "$work/$t.log"
  fi
  runs=$(grep -oE "Done [0-9]+ runs" "$work/$t.log" | grep -oE "[0-9]+" || echo "?")
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "$work/$t.log" | tail -n1 || true)
  echo "fuzz $t: $result, $runs executions in $(( $(date +%s) - start )) s, $cov"
done
exit $status
