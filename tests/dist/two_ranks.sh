# tests/dist/two_ranks.sh — sourced by fault.sh and stall.sh: starts nabla-train on 2 ranks in the
# background (network3 on the digits, writing $dir/run, its output in $dir/log; $launcher is mpirun's
# pid), waits for rank 0's first checkpoint, and sets $victim to rank 1's pid. Needs $mpirun, $train,
# $dir and $digits; extra environment for the ranks goes before the call (NABLA_DIST_TIMEOUT=5 start_two_ranks).
start_two_ranks() {
  rm -rf "$dir" && mkdir -p "$dir"
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $mpirun --oversubscribe --allow-run-as-root -np 2 "$train" --model network3 \
    --data digits --data-dir "$digits" --epochs 50 --hidden 30 --threads 1 --quiet --out "$dir/run" > "$dir/log" 2>&1 &
  launcher=$!
  for _ in $(seq 600); do [[ -f $dir/run/checkpoint.safetensors ]] && break; sleep 0.1; done
  [[ -f $dir/run/checkpoint.safetensors ]] || { echo "FAIL: no checkpoint after 60 s"; cat "$dir/log"; kill $launcher; exit 1; }
  victim=""
  for pid in $(pgrep -f -- "--out $dir/run"); do
    if tr '\0' '\n' < /proc/$pid/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then victim=$pid; fi
  done
  [[ -n $victim ]] || { echo "FAIL: rank 1 not found"; cat "$dir/log"; kill $launcher; exit 1; }
}
