#!/usr/bin/env bash
# tests/cpu/at_level.sh LEVEL COMMAND… — runs COMMAND with NABLA_CPU=LEVEL where this CPU has the level
# (as the kernel reports it in /proc/cpuinfo's flags, a second opinion to nabla's own CPUID reading),
# else exits 77, which CTest reports as skipped.
set -euo pipefail
level=$1
shift
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
case $level in
  generic) ;;
  avx2) has avx2 fma || { echo "this CPU has no AVX2 + FMA: level avx2 not tested"; exit 77; } ;;
  avx512) has avx512f avx512cd avx512bw avx512dq avx512vl || { echo "this CPU has no AVX-512: level avx512 not tested"; exit 77; } ;;
  avx512bf16) has avx512f avx512cd avx512bw avx512dq avx512vl avx512_bf16 || { echo "this CPU has no AVX512-BF16: level avx512bf16 not tested"; exit 77; } ;;
  *) echo "at_level.sh: unknown level $level" >&2; exit 2 ;;
esac
NABLA_CPU=$level exec "$@"
