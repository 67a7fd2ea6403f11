#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ (clang-19, the library under AddressSanitizer and
# UndefinedBehaviorSanitizer), writes their seed corpora with nabla itself, and runs each harness
# for a bounded time. A finding (crash, sanitizer report, failed invariant) stops with its input
# saved as build-fuzz/findings/<harness>/crash-*, and the script fails.
#
#   bash scripts/fuzz.sh              60 s per harness
#   bash scripts/fuzz.sh 600 idx      10 minutes of the IDX harness alone
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
harnesses=("$@")
((${#harnesses[@]})) || harnesses=(safetensors checkpoint idx digits torch api)

need=()
for p in clang-19 libclang-rt-19-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" ||
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"; }
fi

cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-19 -DNABLA_FUZZ=ON \
  -DNABLA_BUILD_TESTS=OFF -DNABLA_BUILD_EXAMPLES=OFF -DNABLA_BUILD_BENCH=OFF > build-fuzz.log
cmake --build build-fuzz -j2 >> build-fuzz.log || { tail -40 build-fuzz.log; exit 1; }
rm -f build-fuzz.log
build-fuzz/fuzz/nabla-fuzz-seeds build-fuzz/seeds
cp tests/data/torch/*.pt build-fuzz/seeds/torch/  # the torch harness's seeds: files PyTorch wrote

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
command -v llvm-symbolizer > /dev/null && export ASAN_SYMBOLIZER_PATH="$(command -v llvm-symbolizer)"  # stacks with function names
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
printf '%-12s %12s %10s %8s %s\n' harness executions "execs/s" seconds result
for h in "${harnesses[@]}"; do
  corpus=build-fuzz/corpus/$h findings=build-fuzz/findings/$h
  mkdir -p "$corpus" "$findings"
  log=build-fuzz/$h.log
  # -rss_limit_mb: a reader that allocates what a file merely claims is a finding, not a slow run.
  dict=()
  [ -f "fuzz/$h.dict" ] && dict=(-dict="fuzz/$h.dict")
  if build-fuzz/fuzz/$h-fuzz "$corpus" build-fuzz/seeds/$h "${dict[@]}" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
       -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" > "$log" 2>&1; then
    result=ok
  else
    result="FINDING (see $log, input in $findings/)"
    status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  printf '%-12s %12s %10s %8s %s\n' "$h" "$execs" "$rate" "$seconds" "$result"
  [ "$result" = ok ] || tail -30 "$log"
done
exit $status
