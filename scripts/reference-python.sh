#!/usr/bin/env bash
# Runs a Python script with the reference PyTorch: the reference environment's (today's PyTorch from
# PyPI, scripts/reference-env.sh) where it exists, else Debian's python3-torch (installed if missing).
# Says which PyTorch ran. For the cross-check scripts, e.g.
#   bash scripts/reference-python.sh scripts/torch_reference.py
set -euo pipefail
env_dir=${NABLA_REFERENCE_ENV:-$HOME/.cache/nabla/reference-env}
if [[ -x $env_dir/bin/python ]] && "$env_dir/bin/python" -c "import torch" 2> /dev/null; then
  python=$env_dir/bin/python
else
  python=/usr/bin/python3
  if ! $python -c "import torch" 2> /dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-torch
  fi
fi
"$python" -c "import sys, torch; print(f'reference: PyTorch {torch.__version__} on Python {sys.version.split()[0]} ({sys.executable})')" >&2
exec "$python" "$@"
