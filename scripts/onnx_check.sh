#!/usr/bin/env bash
# Exports the models to ONNX (tests/onnx/export_models.cpp) and checks them with onnx.checker and
# ONNX Runtime in the reference environment (scripts/onnx_check.py). Exits 77 (ctest: skipped) when
# the reference environment, or onnx and onnxruntime in it, is missing.
#   bash scripts/onnx_check.sh build/tests/onnx_export_models build/onnx-check
set -euo pipefail
exporter=$1 dir=$2
env_dir=${NABLA_REFERENCE_ENV:-$HOME/.cache/nabla/reference-env}
python=$env_dir/bin/python
if [[ ! -x $python ]] || ! "$python" -c "import onnx, onnxruntime" 2> /dev/null; then
  echo "SKIPPED: no reference environment with onnx and onnxruntime at $env_dir (bash scripts/reference-env.sh makes one)"
  exit 77
fi
rm -rf "$dir"
"$exporter" "$dir"
exec "$python" "$(dirname "$0")/onnx_check.py" "$dir"
