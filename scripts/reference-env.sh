#!/usr/bin/env bash
# Creates (or reuses) the reference virtual environment: today's PyTorch, JAX and ONNX Runtime from
# PyPI, pinned, for the benchmarks (bench/run.sh) and the cross-check scripts (scripts/*_reference.py).
# Never needed to build nabla or to run its tests. Lives outside the source tree:
#   $NABLA_REFERENCE_ENV, default ~/.cache/nabla/reference-env
# Prints the versions it holds. Run as root on a fresh machine (installs python3-venv if missing).
set -euo pipefail
env_dir=${NABLA_REFERENCE_ENV:-$HOME/.cache/nabla/reference-env}
pins=(torch==2.15.0 jax==0.10.2 jaxlib==0.10.2 numpy==2.3.5 onnx==1.23.2 onnxruntime==1.31.1)
if ! /usr/bin/python3 -c "import ensurepip, venv" 2> /dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q --no-install-recommends python3-venv
fi
stamp="$env_dir/nabla-pins.txt"
if [[ ! -f $stamp || "$(cat "$stamp")" != "${pins[*]}" ]]; then
  echo "reference environment: installing ${pins[*]} into $env_dir (a few GB, once)"
  /usr/bin/python3 -m venv "$env_dir"
  "$env_dir/bin/pip" install -q --disable-pip-version-check "${pins[@]}"
  echo "${pins[*]}" > "$stamp"
fi
"$env_dir/bin/python" - <<'PY'
import sys, numpy, torch, jax, onnxruntime
print(f"reference environment {sys.prefix}: Python {sys.version.split()[0]}, PyTorch {torch.__version__}, "
      f"JAX {jax.__version__} ({jax.default_backend()}), numpy {numpy.__version__}, ONNX Runtime {onnxruntime.__version__}")
PY
