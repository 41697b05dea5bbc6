#!/usr/bin/env bash
# ThreadSanitizer runs; any data race report fails. (1) The tools' worker-pool tests (tests/test_parallel.cpp:
# coverage, errors, nested and concurrent callers). (2) The engine example (examples/engine.cpp, header-only): one
# prepared tensor per layer, products on several std::threads at once — the engine API's concurrency contract — on a
# container that the Release build's `qamw quantize` writes (run scripts/test.sh first). Usage: scripts/tsan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/require.sh build-essential catch2 libxsimd-dev xtl-dev
mkdir -p build-tsan
start=$(date +%s)
g++ -std=c++17 -O1 -g -fsanitize=thread -Iinclude -Itools tests/main.cpp tests/test_parallel.cpp -o build-tsan/test_parallel -pthread
g++ -std=c++17 -O1 -g -fsanitize=thread -Iinclude examples/engine.cpp -o build-tsan/engine -pthread
echo "tsan: built in $(($(date +%s) - start)) s"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1}"
build-tsan/test_parallel
build/tools/qamw quantize examples/data/stories260K build-tsan/stories260K.qamw.safetensors --bpw 4 >/dev/null 2>&1
build-tsan/engine build-tsan/stories260K.qamw.safetensors 4 | tail -1
