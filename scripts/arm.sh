#!/usr/bin/env bash
# Cross-compiles the Catch2 test suite for AArch64 (aarch64-linux-gnu-g++, -O2, static) with the NEON dispatch library
# (src/dispatch.cpp + src/isa_neon.cpp + src/isa_neondot.cpp) and runs it under qemu-aarch64 twice, side by side on a 2-core machine: with
# the NEON kernels the dispatcher picks, and with QAMW_ISA=scalar. tests/test_golden.cpp passing in both runs is the
# portability proof of the format: the codes and decoded floats made on x86-64 are reproduced bit for bit by the ARM
# build. Logs (with per-test durations): build-arm/tests-native.log, build-arm/tests-scalar.log.
#
# Usage: scripts/arm.sh [CATCH2 TEST SPEC...]   e.g. scripts/arm.sh '[golden]', or scripts/arm.sh '~[slow]~[quality]'
# Environment: ARM_TESTS (test sources, default tests/test_*.cpp), ARM_BUILD_DIR (default build-arm), ARM_NICE (niceness, default 10), QEMU (default qemu-aarch64),
# ARM_CXXFLAGS (extra compiler flags for every source; use another ARM_BUILD_DIR for them: objects are rebuilt only when a
# source changes).
# Installs (Debian 12) g++-aarch64-linux-gnu and qemu-user when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${ARM_BUILD_DIR:-build-arm}
niceness=${ARM_NICE:-10}
qemu=${QEMU:-qemu-aarch64}
cxx=aarch64-linux-gnu-g++

scripts/require.sh g++-aarch64-linux-gnu qemu-user catch2 libxsimd-dev xtl-dev libeigen3-dev libcli11-dev nlohmann-json3-dev
mkdir -p "$build/obj" "$build/include"

# The host's header-only dependencies, without putting the host's /usr/include (x86-64 glibc headers) on the path.
ln -sfn /usr/include/xsimd "$build/include/xsimd"
ln -sfn /usr/include/catch2 "$build/include/catch2"
[ -d /usr/include/xtl ] && ln -sfn /usr/include/xtl "$build/include/xtl"

# -ffp-contract=off as in the native build: GCC contracts a*b+c into fma by default on AArch64, which would change
# the encoder's arithmetic (docs/FORMAT.md specifies unfused operations).
cxxflags=(-std=c++17 -O2 -ffp-contract=off -Wall -Wextra -pthread -DQAMW_DISPATCH=1
  "-DQAMW_SOURCE_DIR=\"$root\"" "-DQAMW_SHARED_DIR=\"$root/../shared\""
  -Iinclude -Itools -isystem "$build/include" -isystem /usr/include/eigen3)
read -r -a extra_flags <<<"${ARM_CXXFLAGS:-}"
cxxflags+=("${extra_flags[@]}")
# ARM_TESTS: the test sources to build (default: all of them); CI builds the golden and kernel tests only.
read -r -a tests <<<"${ARM_TESTS:-$(echo tests/test_*.cpp)}"
sources=(tests/main.cpp "${tests[@]}" src/dispatch.cpp src/isa_neon.cpp src/isa_neondot.cpp)

# Compile (only what changed since the last object; headers are checked through the compiler's dependency files).
# Compiler output goes to <object>.log: GCC 12 prints pages of -Wmaybe-uninitialized false positives from
# std::variant (io/json.hpp) at -O2 for AArch64; the native build shows the warnings that matter.
compile() {
  local src=$1 obj dep
  obj="$build/obj/$(echo "$src" | tr '/' '_').o"
  dep="${obj%.o}.d"
  if [ -f "$obj" ] && [ -f "$dep" ]; then
    local stale=0 f
    for f in $(sed -e 's/\\$//' -e 's/^[^:]*://' "$dep"); do
      [ "$f" -nt "$obj" ] && { stale=1; break; }
    done
    [ $stale -eq 0 ] && return 0
  fi
  local flags=("${cxxflags[@]}")
  # the dot-product kernel set's own flags, as cmake/qamwDispatch.cmake gives them
  [ "$src" = src/isa_neondot.cpp ] && flags+=(-march=armv8.2-a+dotprod)
  if ! nice -n "$niceness" "$cxx" "${flags[@]}" -MMD -MF "$dep" -c "$src" -o "$obj" 2>"${obj%.o}.log"; then
    echo "arm: compiling $src failed:" >&2
    grep -E -A3 "error" "${obj%.o}.log" | head -30 >&2
    return 1
  fi
}
start=$(date +%s)
pids=()
for src in "${sources[@]}"; do
  compile "$src" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$(nproc)" ]; then
    wait "${pids[0]}" || { echo "arm: build failed" >&2; wait; exit 1; }
    pids=("${pids[@]:1}")
  fi
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
[ $failed -eq 0 ] || { echo "arm: build failed" >&2; exit 1; }
objs=()
for src in "${sources[@]}"; do objs+=("$build/obj/$(echo "$src" | tr '/' '_').o"); done
nice -n "$niceness" "$cxx" -static -pthread "${objs[@]}" -o "$build/qamw_tests"
echo "arm: built $build/qamw_tests ($(file -b "$build/qamw_tests" | cut -d, -f1-2)) in $(($(date +%s) - start)) s"

# The neon and neondot objects, compiled with different -march, both instantiate neon64's float kernels (and any
# helper not templated on the tag); the linker keeps one copy of each for both kernel sets. Every function the two
# objects share must therefore compile to the same instructions, or ARMv8.2 code could reach the ARMv8.0 set.
objdump=aarch64-linux-gnu-objdump
neon="$build/obj/src_isa_neon.cpp.o" dot="$build/obj/src_isa_neondot.cpp.o"
# Each object's weak functions with the section holding their code (an alias, such as a complete-object destructor,
# shares its base's section), joined on the name.
funcs() { "$objdump" -t "$1" | awk '$2 == "w" && $3 == "F" {print $6, $4}' | LC_ALL=C sort; }
shared=$(LC_ALL=C join <(funcs "$neon") <(funcs "$dot"))
insns() { "$objdump" -d --no-show-raw-insn -j "$2" "$1" | grep -P '^\s+[0-9a-f]+:' | cut -f2-; }
n=0
while read -r sym sa sb; do
  name=$(echo "$sym" | c++filt)
  [ "$sa" = "$sb" ] || { echo "arm: $name is in section $sa for neon, $sb for neondot" >&2; exit 1; }
  a=$(insns "$neon" "$sa" || true) b=$(insns "$dot" "$sb" || true)  # grep finds nothing: empty, not an exit (set -e)
  [ -n "$a" ] || { echo "arm: no instructions found for $name in $neon (a comparison of nothing)" >&2; exit 1; }
  [ "$a" = "$b" ] || { echo "arm: $name compiles differently for neon and neondot" >&2; exit 1; }
  n=$((n + 1))
done <<<"$shared"
[ "$n" -gt 0 ] || { echo "arm: no shared functions found in $neon and $dot" >&2; exit 1; }
echo "arm: the $n functions neon and neondot share compile to the same instructions"

# Which kernels the dispatcher picks on this (emulated) CPU, and every ISA it can run.
cat >"$build/isa_probe.cpp" <<'EOF'
#include <qamw/dispatch.hpp>
#include <cstdio>
int main() {
    std::printf("selected ISA: %s; available:", qamw::isa_name(qamw::select_kernels().id));
    for (qamw::isa i : qamw::available_isas()) std::printf(" %s", qamw::isa_name(i));
    std::printf("\n");
}
EOF
nice -n "$niceness" "$cxx" "${cxxflags[@]}" -static "$build/isa_probe.cpp" "$build/obj/src_dispatch.cpp.o" \
  "$build/obj/src_isa_neon.cpp.o" "$build/obj/src_isa_neondot.cpp.o" -o "$build/isa_probe"

# The two runs are independent: they run side by side (one emulated CPU each) when the machine has two cores.
run_mode() {
  local mode=$1 start rc=0
  shift
  start=$(date +%s)
  if [ "$mode" = scalar ]; then
    QAMW_ISA=scalar nice -n "$niceness" "$qemu" "$build/qamw_tests" --durations yes "$@" >"$build/tests-$mode.log" 2>&1 || rc=$?
  else
    env -u QAMW_ISA nice -n "$niceness" "$qemu" "$build/qamw_tests" --durations yes "$@" >"$build/tests-$mode.log" 2>&1 || rc=$?
  fi
  echo "$rc $(($(date +%s) - start))" >"$build/tests-$mode.status"
}
probe=$(env -u QAMW_ISA "$qemu" "$build/isa_probe")
echo "arm: [native] $probe"
# qemu's default CPU has the dot-product extension: the dispatcher must find it, so the native run tests the neondot
# kernels (the other kernel sets run in the tests' loops over available_isas()).
case "$probe" in *"selected ISA: neondot"*) ;; *) echo "arm: the dispatcher did not pick neondot under $qemu" >&2; exit 1 ;; esac
echo "arm: [scalar] $(QAMW_ISA=scalar "$qemu" "$build/isa_probe")"
if [ "$(nproc)" -ge 2 ]; then
  run_mode native "$@" &
  run_mode scalar "$@" &
  wait
else
  run_mode native "$@"
  run_mode scalar "$@"
fi

status=0
for mode in native scalar; do
  read -r rc secs <"$build/tests-$mode.status"
  if [ "$rc" -eq 0 ]; then
    echo "arm: [$mode] $(grep -E '^(All tests passed|test cases:)' "$build/tests-$mode.log" | tail -1) ($secs s)"
  else
    echo "arm: [$mode] FAILED (exit $rc, $secs s); log: $build/tests-$mode.log"
    grep -E -A3 "FAILED|^test cases:" "$build/tests-$mode.log" | head -40 | sed 's/^/    /'
    status=1
  fi
done
exit "$status"
