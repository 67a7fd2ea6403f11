#!/usr/bin/env bash
# Runs nabla and PyTorch side by side on the book's models, alternating the contenders, at 1 and 2
# threads, REPS repetitions after each process's own warm-up, and writes docs/benchmarks.md and
# docs/img/benchmarks.png. Beside PyTorch (Debian's python3-torch, and today's 2.x from the reference
# environment of scripts/reference-env.sh where it exists, eager and under torch.compile, and JAX's
# jax.jit from that environment) for every model: libtorch's C++ API
# (libtorch-dev) and a plain OpenBLAS loop for the MLPs. Installs python3-torch and libtorch-dev if missing.
#   bash bench/run.sh            REPS=3 by default; about 10 minutes without the reference environment,
#                                much longer with it (torch.compile compiles in each of its processes; NOCOMPILE=1 skips it)
#   ATTENTION_ONLY=1 bash bench/run.sh   the attention and char-GPT rows alone, into out/bench-attention/results.jsonl
#   BF16_ONLY=1 bash bench/run.sh        the bf16 autocast rows alone, into out/bench-attention/results.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
if ! /usr/bin/python3 -c "import torch" 2> /dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-torch
fi
if ! dpkg -s libtorch-dev > /dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libtorch-dev
fi
cmake -S . -B build > /dev/null  # finds Torch for bench_libtorch
if [[ -n ${ATTENTION_ONLY:-}${BF16_ONLY:-} ]]; then
  cmake --build build -j2 --target bench_models bench_sgemm_peak bench_attention > /dev/null
else
  cmake --build build -j2 --target bench_models bench_sgemm_peak bench_micro bench_blas_loop bench_libtorch bench_mlp_step \
    bench_cnn_step bench_allreduce bench_attention > /dev/null
fi
out=out/bench
[[ -z ${ATTENTION_ONLY:-}${BF16_ONLY:-} ]] || out=out/bench-attention  # rows alone: not docs/benchmarks.md's results
mkdir -p "$out" docs/img
results=$out/results.jsonl
: > "$results"
echo "{\"impl\": \"meta\", \"commit\": \"$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs' || echo '+changes')\"}" >> "$results"
# The machine's load as the run starts and ends: a busy machine slows every contender (compare ratios).
echo "{\"impl\": \"load\", \"when\": \"start\", \"loadavg\": $(cut -d' ' -f1 /proc/loadavg)}" >> "$results"
# OpenBLAS's kernel set: the one nabla selects (Debian's OpenBLAS 0.3.21 falls back to its slow
# SSE3 kernels on CPUs newer than itself; see nabla::blas_info), pinned with OPENBLAS_CORETYPE for
# every process below, so PyTorch's OpenBLAS calls run the same kernels as nabla's.
core=$(build/bench/bench_sgemm_peak 1 | grep -o '"core": "[^"]*"' | cut -d'"' -f4)
export OPENBLAS_CORETYPE=$core
echo "OpenBLAS core for all contenders: $core"

# Today's PyTorch (2.x from PyPI, eager, and under torch.compile) and JAX (jax.jit) beside Debian's 1.13,
# where the reference environment exists (bash scripts/reference-env.sh); they run on their own BLAS
# (MKL/oneDNN, XLA's Eigen), not the pinned OpenBLAS.
ref_env=${NABLA_REFERENCE_ENV:-$HOME/.cache/nabla/reference-env}
torch2=""
if [[ -x $ref_env/bin/python ]] && "$ref_env/bin/python" -c "import torch" 2> /dev/null; then
  torch2=$ref_env/bin/python
  echo "PyTorch 2.x from the reference environment: $("$torch2" -c 'import torch; print(torch.__version__)')"
else
  echo "no reference environment at $ref_env (bash scripts/reference-env.sh): no PyTorch 2.x column"
fi
jax=""
if [[ -n $torch2 ]] && "$torch2" -c "import jax" 2> /dev/null; then
  jax=$torch2
  echo "JAX from the reference environment: $("$jax" -c 'import jax; print(jax.__version__)')"
fi
echo "PyTorch from Debian: $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
source bench/rows.sh  # configs, pin_for
main_reps=$REPS
[[ -z ${ATTENTION_ONLY:-}${BF16_ONLY:-} ]] || main_reps=0
for rep in $(seq "$main_reps"); do
  for t in 1 2; do
    pin=$(pin_for "$t")
    # The sgemm peak, measured in every repetition beside the models it is compared with.
    OPENBLAS_NUM_THREADS=$t $pin build/bench/bench_sgemm_peak "$t" >> "$results"
    for c in "${configs[@]}"; do
      read -r model mode batch steps <<< "$c"
      warm=$((steps / 10 + 5))
      args=(--model "$model" --mode "$mode" --batch "$batch" --threads "$t" --steps "$steps" --warmup "$warm")
      contenders=("build/bench/bench_models" "/usr/bin/python3 bench/torch_models.py")
      if [[ -n $torch2 ]]; then
        contenders+=("$torch2 bench/torch_models.py --impl pytorch2")
        # torch.compile: no double backward (hvp), and compiling takes many steps' time (NOCOMPILE=1 skips it).
        if [[ $mode != hvp && -z ${NOCOMPILE:-} ]]; then contenders+=("$torch2 bench/torch_models.py --impl pytorch2-compile --compile"); fi
      fi
      if [[ -n $jax ]]; then contenders+=("$jax bench/jax_models.py"); fi
      if [[ ($model == network1 || $model == network2) && $mode != hvp ]]; then contenders+=("build/bench/bench_libtorch"); fi
      if [[ $model == network1 ]]; then contenders+=("build/bench/bench_blas_loop"); fi
      # Rotate which contender goes first from one repetition to the next.
      n=${#contenders[@]}
      for k in $(seq 0 $((n - 1))); do
        # shellcheck disable=SC2086  # the python contender is two words on purpose
        OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t $pin ${contenders[$(((k + rep) % n))]} "${args[@]}" >> "$results"
      done
      echo "rep $rep/$REPS, $t thread(s): $model $mode batch $batch"
    done
  done
done
# Attention (ATTENTION_ONLY=1 bash bench/run.sh runs this part alone): scaled_dot_product_attention forward +
# backward (float32, batch 8, 4 heads, head dim 64, T = 256 and 1024, causal) and nabla-char-gpt's training step
# (32 windows of 128 characters, AdamW, clipping) beside PyTorch 2.x's (the reference environment's, eager), one
# thread, pinned, alternating; then the peak memory of one T = 1024 step, each
# contender in a process of its own: the SDPA step, and nabla-char-gpt's training step at 1024-character windows.
attention_rows() {
  [[ -n $torch2 ]] || return 0
  local rep k
  for rep in $(seq "$REPS"); do
    local attn=("build/bench/bench_attention --threads 1 --reps 5" "$torch2 bench/attention_torch.py --threads 1 --reps 5")
    for k in 0 1; do
      # shellcheck disable=SC2086  # each contender is several words on purpose
      OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 ${attn[$(((k + rep) % 2))]} | sed 's/^{/{"impl": "attention", /' >> "$results"
    done
    local step=(--model char_gpt --batch 32 --threads 1 --steps 20 --warmup 3)
    local gpt_step=("build/bench/bench_models" "$torch2 bench/torch_models.py --impl pytorch2")
    for k in 0 1; do
      # shellcheck disable=SC2086
      OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 ${gpt_step[$(((k + rep) % 2))]} "${step[@]}" >> "$results"
    done
    echo "rep $rep/$REPS: attention rows"
  done
  local mem=("build/bench/bench_attention --threads 1 --reps 2 --T 1024 --backend fused"
    "$torch2 bench/attention_torch.py --threads 1 --reps 2 --T 1024 --backend default")
  for k in 0 1; do
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 ${mem[$k]} | sed 's/^{/{"impl": "attention-memory", /' >> "$results"
  done
  local gpt=(--model char_gpt --context 1024 --batch 8 --threads 1 --steps 3 --warmup 1)
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 build/bench/bench_models "${gpt[@]}" >> "$results"
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 "$torch2" bench/torch_models.py "${gpt[@]}" --impl pytorch2 >> "$results"
}
# bfloat16 autocast: the bn_cnn training step under autocast beside the same step in float32, nabla's and
# PyTorch 2.x's (eager, torch.autocast("cpu", dtype=torch.bfloat16)), one thread, pinned, the four alternating.
bf16_rows() {
  [[ -n $torch2 ]] || return 0
  local rep k
  local args=(--model bn_cnn --mode train --batch 64 --threads 1 --steps 40 --warmup 9)
  for rep in $(seq "$REPS"); do
    local c=("build/bench/bench_models --autocast bf16" "build/bench/bench_models"
      "$torch2 bench/torch_models.py --impl pytorch2-bf16 --autocast bf16" "$torch2 bench/torch_models.py --impl pytorch2")
    for k in 0 1 2 3; do
      # shellcheck disable=SC2086  # each contender is several words on purpose
      OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 ${c[$(((k + rep) % 4))]} "${args[@]}" |
        sed 's/^{/{"section": "bf16", /' >> "$results"
    done
    echo "rep $rep/$REPS: bf16 autocast rows"
  done
}
if [[ -n ${BF16_ONLY:-} ]]; then
  bf16_rows
  exit 0
fi
if [[ -n ${ATTENTION_ONLY:-} ]]; then
  attention_rows
  echo "{\"impl\": \"load\", \"when\": \"end\", \"loadavg\": $(cut -d' ' -f1 /proc/loadavg)}" >> "$results"
  exit 0
fi
attention_rows
bf16_rows
# Per CPU level (nabla/cpu.hpp), one thread: nabla forced to each level this CPU has, PyTorch limited
# to the same instruction set, both on OpenBLAS's kernels for that level, alternating; and the
# sgemm rate at that level.
flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
levels=(generic)
[[ $flags == *" avx2 "* && $flags == *" fma "* ]] && levels+=(avx2)
[[ $flags == *" avx512f "* && $flags == *" avx512cd "* && $flags == *" avx512bw "* && $flags == *" avx512dq "* &&
  $flags == *" avx512vl "* ]] && levels+=(avx512)
level_env() {
  case $1 in
    generic) echo "NABLA_CPU=generic ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 OPENBLAS_CORETYPE=Nehalem" ;;
    avx2) echo "NABLA_CPU=avx2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell" ;;
    avx512) echo "NABLA_CPU=avx512 ATEN_CPU_CAPABILITY=avx512 ONEDNN_MAX_CPU_ISA=AVX512_CORE OPENBLAS_CORETYPE=SkylakeX" ;;
  esac
}
level_configs=("network3 train 64 80" "network3 train 10 300" "network1 train 10 3000" "network1 train 64 1500")
for rep in $(seq "$REPS"); do
  for level in "${levels[@]}"; do
    read -r -a lenv <<< "$(level_env "$level")"
    tag="s/^{/{\"level\": \"$level\", /"
    env "${lenv[@]}" taskset -c 0 build/bench/bench_sgemm_peak 1 | sed "$tag" >> "$results"
    for c in "${level_configs[@]}"; do
      read -r model mode batch steps <<< "$c"
      args=(--model "$model" --mode "$mode" --batch "$batch" --threads 1 --steps "$steps" --warmup $((steps / 10 + 5)))
      contenders=("build/bench/bench_models" "/usr/bin/python3 bench/torch_models.py")
      for k in 0 1; do
        # shellcheck disable=SC2086  # the python contender is two words on purpose
        env "${lenv[@]}" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 ${contenders[$(((k + rep) % 2))]} "${args[@]}" |
          sed "$tag" >> "$results"
      done
    done
    echo "rep $rep/$REPS: level $level rows"
  done
done
# Data-parallel training over MPI: allreduce bandwidth, and network3 at batch 64 per rank on 1 and 2
# ranks (one thread each, alternating), with 4 MB buckets (one, for network3) and 0.25 MB (two).
if [[ -x build/bench/bench_allreduce ]] && command -v mpirun > /dev/null; then
  mpi=(mpirun --oversubscribe --allow-run-as-root --bind-to core -np 2)
  for rep in $(seq "$REPS"); do
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "${mpi[@]}" build/bench/bench_allreduce 64 >> "$results"
    for mb in 4 0.25; do
      OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 build/bench/bench_models --model network3 --batch 64 --threads 1 \
        --steps 300 --warmup 30 | sed 's/"impl": "nabla"/"impl": "nabla-1rank"/' >> "$results"
      OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "${mpi[@]}" build/bench/bench_models --model network3 --batch 64 --threads 1 \
        --steps 300 --warmup 30 --bucket-mb "$mb" >> "$results"
    done
    echo "rep $rep/$REPS: data-parallel rows"
  done
fi
# Memory: long runs sampling the resident set every 10,000 steps (none may grow after warm-up).
build/bench/bench_models --model network1 --batch 10 --steps 100000 --warmup 0 --rss-every 10000 --threads 1 >> "$results"
build/bench/bench_models --model network2 --batch 10 --steps 100000 --warmup 0 --rss-every 10000 --threads 1 >> "$results"
build/bench/bench_models --model network3 --batch 10 --steps 20000 --warmup 0 --rss-every 2000 --threads 1 >> "$results"
# Single ops and the per-op overhead (Google Benchmark), one thread.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 build/bench/bench_micro --benchmark_min_time=0.3 --benchmark_format=json \
  --benchmark_out="$out/micro.json" --benchmark_out_format=json > /dev/null
# The tensor surface in PyTorch, the same ops and shapes as bench_micro's surface_* rows, one thread.
OMP_NUM_THREADS=1 taskset -c 0 /usr/bin/python3 bench/torch_micro.py > "$out/torch_micro.jsonl"
# Where the time goes: each op's share of a training step (nabla::profile), one thread.
{
  OPENBLAS_NUM_THREADS=1 build/bench/bench_mlp_step 20000
  echo
  OPENBLAS_NUM_THREADS=1 build/bench/bench_cnn_step 300
} > "$out/op_shares.txt"
echo "{\"impl\": \"load\", \"when\": \"end\", \"loadavg\": $(cut -d' ' -f1 /proc/loadavg)}" >> "$results"
/usr/bin/python3 bench/report.py "$results" docs/benchmarks.md docs/img/benchmarks.png
echo "wrote docs/benchmarks.md"
