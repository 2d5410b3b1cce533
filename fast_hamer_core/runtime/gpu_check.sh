#!/usr/bin/env bash
# GPU check of the runtimes, in one call of under 8 minutes on one GPU (see gpu_check.py for the steps):
# ONNX export + ONNX Runtime parity, torch CUDA fp16 vs fp32, ONNX Runtime CUDA and TensorRT parity where
# their packages exist, then `fast-hamer bench --device cuda`. Installs nothing heavy: Python packages missing
# on the GPU machine may travel as wheels in .whl/ (installed with --no-deps into /tmp/site).
#
# Usage (from anywhere):  bash fast_hamer_core/runtime/gpu_check.sh [gpu_check.py options]
# Results go to $OUT (if set) else ./gpu_check_out: gpu_check.json, gpu_check.log, bench.{json,txt,png}.
# Exit status: 0 all checks within bounds, 1 a parity check failed, 2 no GPU / setup error.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO" || exit 2
OUT_DIR="${OUT:-$REPO/gpu_check_out}"
mkdir -p "$OUT_DIR" || exit 2
PY="${PYTHON:-python3}"
LIMIT_S="${GPU_CHECK_LIMIT_S:-470}"   # hard stop below 8 minutes; gpu_check.py budgets itself to 420 s

if compgen -G "$REPO/.whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/fast_hamer_site "$REPO"/.whl/*.whl || exit 2
    export PYTHONPATH="/tmp/fast_hamer_site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

{
    echo "== $(date -Is) gpu_check on $(hostname)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi: none"
    "$PY" - <<'PYEOF'
import importlib.util
for name in ("torch", "timm", "onnx", "onnxscript", "onnxruntime", "tensorrt", "cv2", "mediapipe", "matplotlib"):
    print(f"{name}: {'yes' if importlib.util.find_spec(name) else 'MISSING'}")
PYEOF
} 2>&1 | tee "$OUT_DIR/gpu_check.log"

timeout "$LIMIT_S" "$PY" -m fast_hamer_core.runtime.gpu_check --out "$OUT_DIR" "$@" 2>&1 | tee -a "$OUT_DIR/gpu_check.log"
status=${PIPESTATUS[0]}
rm -rf "$OUT_DIR/work"   # exported files are large and not needed back
echo "== gpu_check exit status $status" | tee -a "$OUT_DIR/gpu_check.log"
exit "$status"
