#!/usr/bin/env bash
# tests/dist/stall.sh — a rank that stops answering without dying (SIGSTOP, as a hung host looks): with
# NABLA_DIST_TIMEOUT=5 the other rank's gradient allreduce gives up with a DistError naming itself and
# the wait, it exits, and mpirun ends the job. Passes when that happens within 30 s.
#   tests/dist/stall.sh MPIRUN NABLA_TRAIN SCRATCH DIGITS_DIR
set -uo pipefail
mpirun=$1 train=$2 dir=$3/dist-stall digits=$4
source "$(dirname "$0")/two_ranks.sh"
NABLA_DIST_TIMEOUT=5 start_two_ranks
trap 'kill -CONT $victim 2>/dev/null; kill -KILL $victim 2>/dev/null' EXIT
start=$(date +%s.%N)
kill -STOP "$victim"
for _ in $(seq 300); do kill -0 $launcher 2>/dev/null || break; sleep 0.1; done
if kill -0 $launcher 2>/dev/null; then echo "FAIL: mpirun still running 30 s after rank 1 stopped"; kill $launcher; cat "$dir/log"; exit 1; fi
wait $launcher
rc=$?
took=$(echo "$(date +%s.%N) - $start" | bc)
cat "$dir/log"
echo "mpirun exited with $rc, $took s after rank 1 (pid $victim) was stopped"
[[ $rc -ne 0 ]] || { echo "FAIL: mpirun exited 0"; exit 1; }
grep -q "not completed after 5 s on rank 0 of 2" "$dir/log" || { echo "FAIL: no DistError from rank 0"; exit 1; }
echo "PASS: rank 0 gave up after its timeout"
