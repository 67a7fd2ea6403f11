#!/usr/bin/env bash
# Installs the dependencies, builds nabla with warnings as errors, and runs every test (CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/fetch-mnist-digits.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DNABLA_WERROR=ON
cmake --build build -j2
ctest --test-dir build --output-on-failure -j2
