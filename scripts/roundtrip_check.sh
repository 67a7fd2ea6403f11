#!/usr/bin/env bash
# The PyTorch round trip (scripts/roundtrip_torch.py with build/examples/roundtrip) as a ctest: exits
# 77 (skipped) when the reference environment lacks torch, onnx or onnxruntime.
#   bash scripts/roundtrip_check.sh build/examples/roundtrip build/roundtrip-check
set -euo pipefail
program=$1 dir=$2
env_dir=${NABLA_REFERENCE_ENV:-$HOME/.cache/nabla/reference-env}
python=$env_dir/bin/python
if [[ ! -x $python ]] || ! "$python" -c "import torch, onnx, onnxruntime" 2> /dev/null; then
  echo "SKIPPED: no reference environment with torch, onnx and onnxruntime at $env_dir (bash scripts/reference-env.sh makes one)"
  exit 77
fi
rm -rf "$dir"
exec "$python" "$(dirname "$0")/roundtrip_torch.py" "$program" "$dir"
