#!/usr/bin/env bash
# docs/img/sharpness.png: network2 on Fashion-MNIST trained by nabla-train at η = 0.5 and η = 2.0
# (constant, 12 epochs, mini-batch 10), each epoch's sharpness — the largest Hessian eigenvalue of
# the cost on the first 1,000 training images — beside the stability limit 2/η.
#   bash scripts/sharpness-figure.sh        (about a minute, after cmake --build build)
set -euo pipefail
cd "$(dirname "$0")/.."
for lr in 0.5 2.0; do
  build/examples/nabla-train --model network2 --schedule constant --lr "$lr" --epochs 12 --sharpness 1000 --quiet \
    --out "out/sharpness-lr$lr" | grep -E "sharpness|test accuracy"
done
gnuplot <<'GP'
set terminal pngcairo size 1100,440 font 'sans,10' noenhanced
set output 'docs/img/sharpness.png'
set datafile separator ','
set grid
set multiplot layout 1,2 title 'network2 [784, 100, 10] on Fashion-MNIST, mini-batch 10, constant η: sharpness against the stability limit'
set title 'λ_max of the cost (first 1,000 training images)'
set xlabel 'epoch'
set logscale y
set key top left
plot 'out/sharpness-lr0.5/sharpness.csv' using 1:3 with linespoints lw 2 title 'λ_max, η = 0.5', \
     '' using 1:4 with lines dashtype 2 lw 2 title '2/η = 4', \
     'out/sharpness-lr2.0/sharpness.csv' using 1:3 with linespoints lw 2 title 'λ_max, η = 2.0', \
     '' using 1:4 with lines dashtype 2 lw 2 title '2/η = 1'
unset logscale y
set title 'validation accuracy'
set key bottom right
plot 'out/sharpness-lr0.5/metrics.csv' using 1:6 with linespoints lw 2 title 'η = 0.5', \
     'out/sharpness-lr2.0/metrics.csv' using 1:6 with linespoints lw 2 title 'η = 2.0'
unset multiplot
GP
echo "wrote docs/img/sharpness.png"
