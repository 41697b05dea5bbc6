#!/usr/bin/env bash
# Installs what building qamw needs on Debian 12 (skips apt when everything is already there), then configures and
# builds into build/ (Release). Usage: scripts/setup.sh [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/require.sh build-essential cmake libeigen3-dev libxsimd-dev xtl-dev catch2 libbenchmark-dev libcli11-dev nlohmann-json3-dev

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
