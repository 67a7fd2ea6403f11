#!/usr/bin/env bash
# README's first command: installs the dependencies, builds nabla, and trains the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
echo "== training a network whose hidden layer is a user-defined op (examples/custom_op.cpp)"
build/examples/custom_op
