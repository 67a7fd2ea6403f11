#!/usr/bin/env bash
# Two runs of one nabla-train recipe side by side (e.g. float32 and --autocast bf16): validation accuracy
# and training cost per epoch, from each run's metrics.csv, drawn with gnuplot.
#   bash scripts/recipe-curves.sh RUN_A "label A" RUN_B "label B" "title" OUT.png
set -euo pipefail
a=${1:?usage: recipe-curves.sh RUN_A LABEL_A RUN_B LABEL_B TITLE OUT.png} la=${2:?} b=${3:?} lb=${4:?} title=${5:?} png=${6:?}
gnuplot <<GP
set terminal pngcairo size 900,420 font 'sans,10' noenhanced
set output '$png'
set datafile separator ','
set multiplot layout 1,2 title '$title'
set xlabel 'epoch'
set grid
set key bottom right
set ylabel 'validation accuracy'
plot '$a/metrics.csv' every ::1 using 1:6 with linespoints title '$la', '$b/metrics.csv' every ::1 using 1:6 with linespoints title '$lb'
set key top right
set ylabel 'training cost'
plot '$a/metrics.csv' every ::1 using 1:3 with linespoints title '$la', '$b/metrics.csv' every ::1 using 1:3 with linespoints title '$lb'
unset multiplot
GP
