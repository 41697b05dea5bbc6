#!/usr/bin/env bash
# Sets up, builds and runs the main job: `qamw demo [MODEL]` quantizes a model (default: the vendored stories260K) at
# 3.5, 4 and 5.5 bits per weight and reports size, quality and speed. Usage: scripts/demo.sh [MODEL] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/tools/qamw demo "$@"
