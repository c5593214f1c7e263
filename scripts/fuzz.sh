#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ and runs each for a given time on one core, one after
# the other. Installs the nightly toolchain if absent. docs/FUZZING.md says what each target
# asserts and records the long runs.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   run (default: 60 s, every target)
#   scripts/fuzz.sh --seeds [TARGET...]                regenerate the committed seed corpora
#   scripts/fuzz.sh --list                             the targets
#
# Each run starts from the committed seeds in fuzz/corpus/<target>/ plus a fresh temp dir; new
# inputs go to the temp dir only (libFuzzer writes to its first corpus dir), so runs never
# change the committed corpus. Crash/leak/timeout/OOM inputs are copied to
# fuzz/artifacts/<target>/ (gitignored). Exits nonzero if any target failed.
#
# The build is what `cargo +nightly fuzz build -a` does (release, AddressSanitizer, coverage
# instrumentation, debug assertions and overflow checks), with the same flags and target dir, so
# `cargo +nightly fuzz run -a <target>` reuses it; cargo-fuzz itself is not needed here.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

ALL_TARGETS=(code_parse verify bundle_open server_request ffi_entry)
TRIPLE=x86_64-unknown-linux-gnu

mode=run
secs=60
case "${1:-}" in
  --list) printf '%s\n' "${ALL_TARGETS[@]}"; exit 0 ;;
  --seeds) mode=seeds; shift ;;
  '') ;;
  *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...] | --seeds [TARGET...] | --list" >&2; exit 2 ;;
  *) secs="$1"; shift ;;
esac
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_targets/$t.rs" ] || { echo "no fuzz target $t (scripts/fuzz.sh --list)" >&2; exit 2; }
done

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "==> installing the nightly toolchain (cargo-fuzz's sanitizer flags need it)"
  rustup toolchain install nightly --profile minimal --no-self-update
fi
echo "==> $(rustup run nightly rustc --version)"

# cargo-fuzz 0.13's flags for `cargo fuzz build -a` on Linux (src/project.rs), same order.
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
RUSTFLAGS+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table"
RUSTFLAGS+=" -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
RUSTFLAGS+=" -Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Zsanitizer=address"
RUSTFLAGS+=" -Cllvm-args=-sanitizer-coverage-stack-depth -Cdebug-assertions -Ccodegen-units=1"
export RUSTFLAGS
echo "==> building the fuzz targets (fuzz/target)"
build_start=$SECONDS
cargo +nightly build --manifest-path fuzz/Cargo.toml --target "$TRIPLE" --release \
  --config 'profile.release.debug="line-tables-only"' --bins
echo "build: $((SECONDS - build_start)) s"
unset RUSTFLAGS
bin_dir="fuzz/target/$TRIPLE/release"
# Rust and the bundled SQLite both define some globals ASan would report as ODR violations
# (cargo-fuzz sets the same option).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"

work="$(mktemp -d "${TMPDIR:-/tmp}/paycode-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [ "$mode" = seeds ]; then
  for t in "${targets[@]}"; do
    rm -f "fuzz/corpus/$t"/seed-*
    TMPDIR="$work" PAYCODE_FUZZ_WRITE_SEEDS="$PWD/fuzz/corpus/$t" "$bin_dir/$t" -runs=1 2>&1 | grep wrote
  done
  exit 0
fi

fstat() { # stat NAME LOG: a `stat::NAME: value` line of -print_final_stats
  sed -n "s/^stat::$1: *//p" "$2" | tail -1
}

summary=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts" "$work/$t/tmp"
  log="$work/$t/log"
  echo "==> $t: ${secs} s (log: ${log}; seeds: fuzz/corpus/$t)"
  rc=0
  TMPDIR="$work/$t/tmp" "$bin_dir/$t" "$work/$t/corpus" "fuzz/corpus/$t" \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/$t/artifacts/" >"$log" 2>&1 || rc=$?
  # The last status line: "#N DONE cov: C ft: F corp: K/S lim: L exec/s: E rss: R Mb".
  last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")"
  execs="$(fstat number_of_executed_units "$log")"
  rate="$(fstat average_exec_per_sec "$log")"
  rss="$(fstat peak_rss_mb "$log")"
  if [ "$rc" = 0 ] && ! grep -qE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)' "$log"; then
    result=ok
  else
    result="FAILED (exit $rc)"
    failed=1
    mkdir -p "fuzz/artifacts/$t"
    cp "$work/$t/artifacts/"* "fuzz/artifacts/$t/" 2>/dev/null || true
    cp "$log" "fuzz/artifacts/$t/last-run.log"
    grep -E -A12 "panicked at|ERROR: " "$log" | head -40
    echo "    reproduce: (cd fuzz && cargo +nightly fuzz run -a $t artifacts/$t/<file>); log: fuzz/artifacts/$t/last-run.log"
  fi
  line="$(printf '%-15s %8s s %12s execs %8s exec/s  cov %6s  ft %6s  corpus %-12s  peak RSS %5s MB  %s' \
    "$t" "$secs" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" "$result")"
  echo "$line"
  summary+=("$line")
  if [ -n "${PAYCODE_FUZZ_KEEP_LOGS:-}" ]; then
    mkdir -p "$PAYCODE_FUZZ_KEEP_LOGS" && cp "$log" "$PAYCODE_FUZZ_KEEP_LOGS/$t.log"
  fi
done

printf '\n==> fuzz summary\n'
printf '%s\n' "${summary[@]}"
exit "$failed"
