#!/bin/sh
# The training sequence behind models/linesight-defects-v1.onnx: one run from
# scratch, then three warm restarts from the previous checkpoint, then the ONNX
# export. 115 minutes of optimisation on 2 CPU cores plus ~10 minutes to render
# the cache (once). Each run's budget is wall-clock (see models/README.md), so
# a busy machine gets fewer steps from the same command.
set -eu
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
OUT=data/model-train
$PY models/train/train.py --imgsz 320 --minutes 25 --out $OUT/stage1.pt
$PY models/train/train.py --imgsz 320 --minutes 15 --init $OUT/stage1.pt --lr 1e-3 --warmup 30 --out $OUT/stage2.pt
$PY models/train/train.py --imgsz 320 --minutes 45 --init $OUT/stage2.pt --lr 1e-3 --warmup 30 --eval-every 0.25 --out $OUT/stage3.pt
$PY models/train/train.py --imgsz 320 --minutes 30 --init $OUT/stage3.pt --lr 5e-4 --warmup 30 --eval-every 0.34 --out $OUT/linesight-defects.pt
$PY models/train/export.py --ckpt $OUT/linesight-defects.pt --out models/linesight-defects-v1.onnx
