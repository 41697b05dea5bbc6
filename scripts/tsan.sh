#!/usr/bin/env bash
# Builds the worker-pool tests (tests/test_parallel.cpp: coverage, errors, nested and concurrent callers) with
# ThreadSanitizer and runs them; any data race report fails the run. Usage: scripts/tsan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/require.sh build-essential catch2 libcli11-dev nlohmann-json3-dev
mkdir -p build-tsan
start=$(date +%s)
g++ -std=c++17 -O1 -g -fsanitize=thread -Iinclude tests/main.cpp tests/test_parallel.cpp -o build-tsan/test_parallel -pthread
echo "tsan: built in $(($(date +%s) - start)) s"
TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1}" build-tsan/test_parallel
