#!/usr/bin/env bash
# Runs nabla and PyTorch side by side on the book's models, alternating the contenders, at 1 and 2
# threads, REPS repetitions after each process's own warm-up, and writes docs/benchmarks.md and
# docs/img/benchmarks.png. Needs Debian's python3-torch (installed here if missing).
#   bash bench/run.sh            REPS=3 by default; about 10 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
if ! /usr/bin/python3 -c "import torch" 2> /dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-torch
fi
cmake --build build -j2 --target bench_models bench_sgemm_peak bench_micro > /dev/null
out=out/bench
mkdir -p "$out" docs/img
results=$out/results.jsonl
: > "$results"
echo "{\"impl\": \"meta\", \"commit\": \"$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs' || echo '+changes')\"}" >> "$results"
# OpenBLAS's kernel set: the one nabla selects (Debian's OpenBLAS 0.3.21 falls back to its slow
# SSE3 kernels on CPUs newer than itself; see nabla::blas_info), pinned with OPENBLAS_CORETYPE for
# every process below, so PyTorch's OpenBLAS calls run the same kernels as nabla's.
core=$(build/bench/bench_sgemm_peak 1 | grep -o '"core": "[^"]*"' | cut -d'"' -f4)
export OPENBLAS_CORETYPE=$core
echo "OpenBLAS core for all contenders: $core"
for t in 1 2; do build/bench/bench_sgemm_peak "$t" >> "$results"; done

# model mode batch steps
configs=(
  "network1 train 10 3000" "network1 train 64 1500" "network1 train 256 600" "network2 train 10 2000"
  "network3 train 10 300" "network3 train 64 80" "network1 infer 1000 300" "network3 infer 1000 20"
)
for rep in $(seq "$REPS"); do
  for t in 1 2; do
    for c in "${configs[@]}"; do
      read -r model mode batch steps <<< "$c"
      warm=$((steps / 10 + 5))
      args=(--model "$model" --mode "$mode" --batch "$batch" --threads "$t" --steps "$steps" --warmup "$warm")
      # Alternate which contender goes first from one repetition to the next.
      if (( rep % 2 )); then
        OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t build/bench/bench_models "${args[@]}" >> "$results"
        OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t /usr/bin/python3 bench/torch_models.py "${args[@]}" >> "$results"
      else
        OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t /usr/bin/python3 bench/torch_models.py "${args[@]}" >> "$results"
        OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t build/bench/bench_models "${args[@]}" >> "$results"
      fi
      echo "rep $rep/$REPS, $t thread(s): $model $mode batch $batch"
    done
  done
done
# Single ops and the per-op overhead (Google Benchmark), one thread.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 build/bench/bench_micro --benchmark_min_time=0.3 --benchmark_format=json \
  --benchmark_out="$out/micro.json" --benchmark_out_format=json > /dev/null
/usr/bin/python3 bench/report.py "$results" docs/benchmarks.md docs/img/benchmarks.png
echo "wrote docs/benchmarks.md"
