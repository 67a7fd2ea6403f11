#!/usr/bin/env bash
# The dcgan full runs' losses side by side: per-epoch means of D_loss and G_loss (every 10th batch, from
# each run's losses.csv) of nabla's examples/pytorch/dcgan.cpp and of the same model in PyTorch
# (scripts/pytorch_examples_reference.py dcgan --out DIR), printed as a table and drawn with gnuplot.
#   bash scripts/dcgan-curves.sh NABLA_DIR TORCH_DIR OUT.png
set -euo pipefail
nabla=${1:?usage: dcgan-curves.sh NABLA_DIR TORCH_DIR OUT.png} torch=${2:?} png=${3:?}
means() {  # epoch, mean D_loss, mean G_loss, batches logged; a batch logged twice (a resumed run) counts once
  awk -F, 'NR > 1 && !seen[$1 "," $2]++ { d[$1] += $3; g[$1] += $4; n[$1]++ }
           END { for (e in n) printf "%d %.4f %.4f %d\n", e, d[e] / n[e], g[e] / n[e], n[e] }' "$1/losses.csv" | sort -n
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
means "$nabla" > "$tmp/nabla.dat"
means "$torch" > "$tmp/torch.dat"
echo "epoch | nabla D_loss | nabla G_loss | PyTorch D_loss | PyTorch G_loss"
join "$tmp/nabla.dat" "$tmp/torch.dat" | awk '{ printf "%d | %.3f | %.3f | %.3f | %.3f\n", $1, $2, $3, $5, $6 }'
gnuplot <<GP
set terminal pngcairo size 900,380 font 'sans,10'
set output '$png'
set multiplot layout 1,2 title 'dcgan on Fashion-MNIST: per-epoch mean losses, nabla and PyTorch 2.x'
set xlabel 'epoch'
set grid
set key top right
set ylabel 'D\_loss'
plot '$tmp/nabla.dat' using 1:2 with linespoints title 'nabla', '$tmp/torch.dat' using 1:2 with linespoints title 'PyTorch'
set ylabel 'G\_loss'
plot '$tmp/nabla.dat' using 1:3 with linespoints title 'nabla', '$tmp/torch.dat' using 1:3 with linespoints title 'PyTorch'
unset multiplot
GP
echo "wrote $png"
