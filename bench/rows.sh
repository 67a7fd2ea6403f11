# bench/rows.sh — sourced by run.sh and compare.sh: the rows of docs/benchmarks.md and how a
# process is pinned, so both time the same things the same way.
# model mode batch steps
configs=(
  "network1 train 10 3000" "network1 train 64 1500" "network1 train 256 600" "network2 train 10 2000"
  "network3 train 10 300" "network3 train 64 80" "network1 infer 1000 300" "network3 infer 1000 20"
  "network2 hvp 10 2000"  # a Hessian-vector product of the cost in all parameters, network2 as [784, 30, 10]
  "bn_cnn train 64 40" "char_lstm train 32 40"  # beyond the book: batch norm, an LSTM; Adam
)
# pin_for THREADS: the command prefix for a run on THREADS threads. One thread: every contender on
# the same CPU. On a virtual machine the CPUs need not be equal (here the second one is at times a
# third slower), and a process must not draw a better one.
pin_for() {
  if [[ $1 == 1 ]] && command -v taskset > /dev/null; then echo "taskset -c 0"; fi
}
