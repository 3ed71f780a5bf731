#!/bin/sh
# The training behind models/linesight-defects-v1.onnx (1.1.0): one run from
# scratch, 25,000 optimisation steps of 16 crops on one cosine schedule (lr 2e-3
# to 1e-4, warm-up 60 steps), then the ONNX export. 100 minutes of training on
# 2 idle CPU cores, plus ~7 minutes to render the cache (once). The budget is a
# step count, so a busy machine takes longer but trains the same schedule.
set -eu
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
OUT=data/model-train
$PY models/train/train.py --imgsz 320 --steps 25000 --eval-every 0.1 --out $OUT/linesight-defects.pt
$PY models/train/export.py --ckpt $OUT/linesight-defects.pt --out "${1:-models/linesight-defects-v1.onnx}"
