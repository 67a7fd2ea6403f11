#!/usr/bin/env bash
# tests/cpu/level_symbols.sh LEVEL 'OBJ;OBJ;…' — the object files of one kernel level
# (src/kernels/level/, compiled with that level's target flags) define no symbol outside
# nabla::kernels::LEVEL. An inline function or template they emitted under a shared name (a std::
# algorithm, a Tensor method) could be the copy the linker keeps for the whole library, with
# AVX-512 instructions in code that runs on every CPU.
set -euo pipefail
level=$1
IFS=';' read -r -a objects <<< "$2"
bad=0
for obj in "${objects[@]}"; do
  # Defined, external or weak: nm's upper-case types, and u/i/v/w (unique, indirect, weak).
  while read -r type name; do
    case "$name" in
      "nabla::kernels::${level}::"*) ;;
      __odr_asan*|__asan*|__tsan*|__ubsan*|__sancov*) ;;  # a sanitizer's bookkeeping data, no code
      *) echo "$obj: $type $name is compiled for $level but not in nabla::kernels::$level"; bad=1 ;;
    esac
  done < <(nm -C --defined-only "$obj" | awk '$2 ~ /^[A-Zuivw]$/ { t = $2; $1 = ""; $2 = ""; sub(/^  /, ""); print t, $0 }')
done
[[ $bad == 0 ]] && echo "${#objects[@]} object files of level $level: every symbol in nabla::kernels::$level"
exit $bad
