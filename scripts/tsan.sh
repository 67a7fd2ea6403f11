#!/usr/bin/env bash
# Builds the test binary with ThreadSanitizer in build-tsan and runs every doctest case on 2 threads
# (nabla's thread pool and OpenBLAS's), with OpenBLAS's own threads suppressed (scripts/tsan.supp).
#   bash scripts/tsan.sh          about 4 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
flags=-fsanitize=thread
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" > /dev/null
cmake --build build-tsan -j2 --target nabla_tests
OPENBLAS_NUM_THREADS=2 TSAN_OPTIONS="halt_on_error=1 allocator_may_return_null=1 suppressions=$PWD/scripts/tsan.supp" build-tsan/tests/nabla_tests
