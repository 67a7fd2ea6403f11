#!/usr/bin/env bash
# Installs what nabla needs to build, test and train, from Debian 12's packages (run as root).
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libopenblas-dev libfmt-dev doctest-dev zlib1g-dev nlohmann-json3-dev libcli11-dev libbenchmark-dev
  graphviz gnuplot-nox dataset-fashion-mnist fortunes
  libopenmpi-dev openmpi-bin
  qemu-user  # the test suite on emulated CPUs without AVX-512 and without AVX (tests/CMakeLists.txt)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
