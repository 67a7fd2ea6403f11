#!/usr/bin/env bash
# tests/dist/fault.sh — a rank lost mid-epoch: nabla-train under `mpirun -np 2`, rank 1 killed with
# SIGKILL after rank 0 has written its first checkpoint. Passes when mpirun exits non-zero within
# 30 s naming rank 1, and the checkpoint rank 0 wrote still resumes (one process, one more epoch).
#   tests/dist/fault.sh MPIRUN NABLA_TRAIN SCRATCH DIGITS_DIR
set -uo pipefail
mpirun=$1 train=$2 dir=$3/dist-fault digits=$4
source "$(dirname "$0")/two_ranks.sh"
start_two_ranks
sleep 0.3
start=$(date +%s.%N)
kill -KILL "$victim"
wait $launcher
rc=$?
took=$(echo "$(date +%s.%N) - $start" | bc)
cat "$dir/log"
echo "mpirun exited with $rc, $took s after rank 1 (pid $victim) was killed"
[[ $rc -ne 0 ]] || { echo "FAIL: mpirun exited 0"; exit 1; }
(( $(echo "$took < 30" | bc) )) || { echo "FAIL: took over 30 s"; exit 1; }
grep -q "rank 1" "$dir/log" || { echo "FAIL: the output does not name rank 1"; exit 1; }
epoch=$(head -c 65536 "$dir/run/checkpoint.safetensors" | grep -ao '"epoch":"[0-9]*"' | grep -o '[0-9]*')
[[ -n $epoch ]] || { echo "FAIL: the checkpoint has no epoch in its header"; exit 1; }
OMP_NUM_THREADS=1 "$train" --resume "$dir/run/checkpoint.safetensors" --epochs $((epoch + 1)) --quiet --out "$dir/resumed" \
  || { echo "FAIL: the last checkpoint (epoch $epoch) does not resume"; exit 1; }
echo "PASS: the checkpoint of epoch $epoch resumed"
