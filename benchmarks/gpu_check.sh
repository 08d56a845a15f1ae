#!/usr/bin/env bash
# The GPU check: on a machine with CUDA, run the cuda-marked tests and the overhead, attribution
# and WSOL benchmarks on the GPU, print their tables and keep them in one folder.
#
#   make gpu-check                      # with the project's .venv
#   make gpu-check PY=python3 OUT_DIR=/tmp/gpu   # another interpreter (torch + captum installed)
#
# Each step has its own time limit so the whole check ends in under 8 minutes; a failing step is
# reported and the others still run. Exit status: 0 when every step passed, 1 otherwise, 2 when
# there is no CUDA device.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT_DIR=${OUT_DIR:-outputs/gpu-check}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PY" -c 'import torch, captum, captum_infocam, sys; sys.exit(not torch.cuda.is_available())'; then
    echo "gpu-check: '$PY' sees no CUDA device (or lacks torch/captum/captum_infocam): run it on" \
         "a machine with a GPU, after 'make test' or with PY= naming an interpreter that has them"
    exit 2
fi
"$PY" -c 'import torch; p = torch.cuda.get_device_properties(0); print(f"device: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}")' | tee "$OUT_DIR/device.txt"

failed=()
step() {  # step NAME SECONDS COMMAND...: run, log to $OUT_DIR/NAME.log, remember failures
    local name=$1 seconds=$2; shift 2
    echo; echo "== $name: $*"
    local start=$SECONDS
    timeout "$seconds" "$@" 2>&1 | tee "$OUT_DIR/$name.log"
    local status=${PIPESTATUS[0]}
    echo "== $name: exit $status after $((SECONDS - start)) s"
    [ "$status" -eq 0 ] || failed+=("$name (exit $status)")
}

cuda_test_files=$(grep -l "mark.cuda" tests/*.py)
step cuda-tests 240 "$PY" -m pytest -q -p no:cacheprovider -m cuda -rs $cuda_test_files
step overhead 60 "$PY" benchmarks/overhead.py --device cuda
step attribution-speed 120 "$PY" benchmarks/attribution_speed.py --devices cuda \
    --table "$OUT_DIR/attribution_speed.rst"
step wsol-speed 120 "$PY" benchmarks/wsol_speed.py --device cuda --table "$OUT_DIR/wsol_speed.md"

echo
if [ ${#failed[@]} -eq 0 ]; then
    echo "gpu-check: every step passed; tables in $OUT_DIR"
else
    printf 'gpu-check: failed: %s\n' "${failed[@]}"
    exit 1
fi
