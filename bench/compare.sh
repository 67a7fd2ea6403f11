#!/usr/bin/env bash
# Before and after a change: the nabla rows of bench/run.sh, timed with two builds of bench_models
# side by side in one run, alternating which goes first, REPS repetitions; prints, per row, the
# median over repetitions of each build's per-process median step time, min–max, and new / old.
#   bash bench/compare.sh OLD_BUILD_DIR [NEW_BUILD_DIR]     (NEW defaults to build; REPS=5)
# ROWS="network1 train 10|network2" keeps only the rows that start with one of those patterns ('|'
# between them: "model", "model mode" or "model mode batch"); THREADS="1" keeps one thread count.
# Build the old one from a worktree: git worktree add /tmp/old <commit>; cmake -S /tmp/old -B /tmp/old/build ...
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: bench/compare.sh OLD_BUILD_DIR [NEW_BUILD_DIR]}
new=${2:-build}
REPS=${REPS:-5}
out=$(mktemp)
source bench/rows.sh  # configs, pin_for
# Only the rows both builds can run (an older build may lack a mode, such as hvp).
both=()
for c in "${configs[@]}"; do
  read -r model mode batch steps <<< "$c"
  if "$old/bench/bench_models" --model "$model" --mode "$mode" --batch 1 --steps 1 --warmup 0 > /dev/null 2>&1; then
    both+=("$c")
  else
    echo "skipping $model $mode: $old/bench/bench_models cannot run it" >&2
  fi
done
configs=("${both[@]}")
if [[ -n ${ROWS:-} ]]; then
  IFS='|' read -r -a patterns <<< "$ROWS"
  kept=()
  for c in "${configs[@]}"; do
    for p in "${patterns[@]}"; do
      if [[ "$c " == "$p "* ]]; then kept+=("$c"); break; fi
    done
  done
  configs=("${kept[@]}")
fi
for rep in $(seq "$REPS"); do
  for t in ${THREADS:-1 2}; do
    pin=$(pin_for "$t")
    for c in "${configs[@]}"; do
      read -r model mode batch steps <<< "$c"
      args=(--model "$model" --mode "$mode" --batch "$batch" --threads "$t" --steps "$steps" --warmup $((steps / 10 + 5)))
      order=("$old" "$new")
      if ((rep % 2 == 0)); then order=("$new" "$old"); fi
      for b in "${order[@]}"; do
        tag=old
        [[ $b == "$new" ]] && tag=new
        OPENBLAS_NUM_THREADS=$t $pin "$b/bench/bench_models" "${args[@]}" | sed "s/^{/{\"build\": \"$tag\", /" >> "$out"
      done
    done
    echo "rep $rep/$REPS, $t thread(s) done" >&2
  done
done
/usr/bin/python3 - "$out" << 'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    key = (r["model"], r["mode"], r["batch"], r["threads"])
    rows.setdefault(key, {"old": [], "new": []})[r["build"]].append(r["median_us"])
def fmt(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.1f} µs"
print("| model | mode | batch | threads | before | after | after / before |")
print("|---|---|---|---|---|---|---|")
for (m, mode, b, t), v in rows.items():
    o, n = statistics.median(v["old"]), statistics.median(v["new"])
    print(f"| {m} | {mode} | {b} | {t} | {fmt(o)} ({fmt(min(v['old']))}–{fmt(max(v['old']))}) | "
          f"{fmt(n)} ({fmt(min(v['new']))}–{fmt(max(v['new']))}) | {n / o:.3f} |")
PY
rm -f "$out"
