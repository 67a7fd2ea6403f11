#!/usr/bin/env bash
# Trains the models beyond the book (docs/results-beyond.md) and copies their figures to
# docs/img/ and their metrics, summaries and samples to docs/results-beyond/: the batch-norm CNN
# (nabla-train --model bn_cnn, two threads, about 65 minutes on 2 cores), the character-level LSTM
# on Debian's fortunes (one thread, about 25 minutes), the character-level transformer on the same text
# (nabla-char-gpt, one thread, 6 epochs of about 1.5 minutes of CPU each) and the convolutional autoencoder
# (one thread, about 4 minutes). ONLY=bn_cnn|char_lstm|char_gpt|autoencoder runs one of them.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/examples
for p in nabla-train nabla-char-lstm nabla-char-gpt nabla-autoencoder; do
  [ -x "$bin/$p" ] || { echo "build first: cmake -S . -B build -G Ninja && cmake --build build -j2" >&2; exit 1; }
done
mkdir -p out docs/img docs/results-beyond

keep() {  # out dir, name in docs, extra files...
  local dir=$1 name=$2; shift 2
  mkdir -p "docs/results-beyond/$name"
  cp "$dir/metrics.csv" "$dir/summary.json" "$@" "docs/results-beyond/$name/"
  cp "$dir/learning_curves.png" "docs/img/beyond-$name-curves.png"
}

if [ -z "${ONLY:-}" ] || [ "$ONLY" = bn_cnn ]; then
  "$bin/nabla-train" --model bn_cnn --hidden 38 --epochs 30 --augment --schedule cosine --warmup 1 --weight-decay 0.05 \
    --early-stop 10 --threads 2 --quiet --out out/bn_cnn-fashion | tee out/bn_cnn.log | grep -E "^epoch|accuracy"
  keep out/bn_cnn-fashion bn_cnn
fi
if [ -z "${ONLY:-}" ] || [ "$ONLY" = char_lstm ]; then
  "$bin/nabla-char-lstm" --epochs 10 --threads 1 --quiet --out out/char_lstm-fortunes | tee out/char_lstm.log | grep -E "^epoch|test"
  keep out/char_lstm-fortunes char_lstm out/char_lstm-fortunes/samples.txt
fi
if [ -z "${ONLY:-}" ] || [ "$ONLY" = char_gpt ]; then
  "$bin/nabla-char-gpt" --epochs 6 --threads 1 --quiet --out out/char_gpt-fortunes | tee out/char_gpt.log | grep -E "^epoch|test"
  keep out/char_gpt-fortunes char_gpt out/char_gpt-fortunes/samples.txt
fi
if [ -z "${ONLY:-}" ] || [ "$ONLY" = autoencoder ]; then
  "$bin/nabla-autoencoder" --epochs 20 --threads 1 --quiet --out out/autoencoder-fashion | tee out/autoencoder.log | grep -E "^epoch|test"
  keep out/autoencoder-fashion autoencoder
  cp out/autoencoder-fashion/reconstructions.png docs/img/beyond-autoencoder-reconstructions.png
fi
