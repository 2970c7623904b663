#!/usr/bin/env bash
# One call on a lent GPU: train on from the committed checkpoint, diagnose, benchmark; files into $OUT.
#   here, once:  make device-wheels          (VGG19 weights, ST-LPIPS AlexNet packed small, into .whl/)
#   device tool: run  command="bash scripts/device_train.sh"  carry=[".whl"]  timeout_s=590
# TRAIN_SECONDS (default 400) is the training share; probe, diagnosis and the ~60 s benchmark come on top
# (about 9 minutes in all; the checkpoint is exported after each phase, so a kill loses little).
# A second call, the machine still warm, with the layout the first one chose (its run.log's "probe:" line):
#   run  command="TRAIN_SECONDS=220 bash scripts/device_train.sh --layout 32,nhwc --no-bench"  timeout_s=275
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must name the output folder}"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="$PWD/.whl/stlpips:/tmp/site:$PWD" PYTHONUNBUFFERED=1  # .whl/stlpips: diagnose's 2nd network
python3 scripts/device_train.py --out "$OUT" --seconds "${TRAIN_SECONDS:-400}" "$@" 2>&1 | tee "$OUT/run.log"
