#!/usr/bin/env bash
# README's first command: installs the dependencies and data, builds nabla, trains the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/fetch-mnist-digits.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
build/examples/nabla-train "$@"
