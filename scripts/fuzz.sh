#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, clang, ASan + UBSan) and runs each one for SECONDS (default 60) on a copy of
# its seed corpus. Before fuzzing, every saved reproducer under fuzz/crashes/<harness>/ is replayed as a regression
# test. Exits non-zero on any crash, leak, timeout, out-of-memory or sanitizer report, naming the saved input.
#
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]      (default: every harness in fuzz/CMakeLists.txt)
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (harnesses run at a time, default 1),
#              FUZZ_NICE (niceness, default 10), FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(fuzz_json fuzz_safetensors fuzz_container fuzz_decode fuzz_act_stats fuzz_imatrix fuzz_sensitivity)
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-1}
niceness=${FUZZ_NICE:-10}

scripts/require.sh clang libclang-rt-14-dev cmake libxsimd-dev xtl-dev libeigen3-dev libcli11-dev nlohmann-json3-dev

echo "fuzz: building harnesses in $build/"
cmake -S fuzz -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice -n "$niceness" cmake --build "$build" -j"$(nproc)" --target "${harnesses[@]}" >/dev/null

run_dir="$build/run"
status=0

# 1. Regression: every saved reproducer must now run cleanly.
for h in "${harnesses[@]}"; do
  if compgen -G "fuzz/crashes/$h/*" >/dev/null; then
    if ! "$build/$h" -runs=1 -timeout=10 -rss_limit_mb=2048 fuzz/crashes/"$h"/* >"$build/$h.regression.log" 2>&1; then
      echo "fuzz: $h: a saved reproducer under fuzz/crashes/$h/ still fails (log: $build/$h.regression.log)"
      grep -m5 -E "ERROR|runtime error|invariant|Running:" "$build/$h.regression.log" | sed 's/^/    /' || true
      status=1
    else
      echo "fuzz: $h: $(ls fuzz/crashes/"$h" | wc -l) saved reproducer(s) pass"
    fi
  fi
done

# 2. Fuzzing: SECONDS per harness on a fresh copy of the seed corpus (libFuzzer adds to the corpus it runs on).
fuzz_one() {
  local h=$1 dir="$run_dir/$1"
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp -r fuzz/corpus/"$h"/. "$dir/corpus/"
  local dict=()
  [ -f "fuzz/dict/$h.dict" ] && dict=(-dict="fuzz/dict/$h.dict")
  local start end rc=0
  start=$(date +%s)
  # shellcheck disable=SC2086
  nice -n "$niceness" "$build/$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/" "${dict[@]}" ${FUZZ_ARGS:-} "$dir/corpus" >"$dir/log" 2>&1 || rc=$?
  end=$(date +%s)
  local execs corpus
  execs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log" | grep -o '[0-9]*$' || echo "?")
  corpus=$(ls "$dir/corpus" | wc -l)
  local artifacts
  # crash-, leak-, timeout- and oom- inputs are failures; slow-unit- ones (> 10 s, e.g. on a starved machine) are not.
  artifacts=$(ls "$dir/artifacts" | { grep -v '^slow-unit-' || true; } | wc -l)
  if [ "$rc" -ne 0 ] || [ "$artifacts" -ne 0 ] || grep -q -E "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:" "$dir/log"; then
    printf 'fuzz: %-17s FAILED (exit %s) after %s s, %s executions; inputs:\n' "$h" "$rc" $((end - start)) "$execs"
    ls "$dir/artifacts" | { grep -v '^slow-unit-' || true; } | sed "s|^|    $dir/artifacts/|"
    grep -m8 -E "ERROR|runtime error|invariant|SUMMARY" "$dir/log" | sed 's/^/    /' || true
    echo "    log: $dir/log"
    return 1
  fi
  printf 'fuzz: %-17s ok: %s executions in %s s (%s/s), corpus %s → %s inputs\n' "$h" "$execs" $((end - start)) \
    "$( [ "$execs" != "?" ] && echo $((execs / ((end - start) > 0 ? (end - start) : 1))) || echo "?")" \
    "$(ls fuzz/corpus/"$h" | wc -l)" "$corpus"
}

pids=()
names=()
for h in "${harnesses[@]}"; do
  fuzz_one "$h" &
  pids+=($!)
  names+=("$h")
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done

if [ "$status" -ne 0 ]; then
  echo "fuzz: FAILED — copy a failing input to fuzz/crashes/<harness>/ once understood, so it stays a regression test"
fi
exit "$status"
