#!/bin/sh
# The training sequence behind models/linesight-defects-v1.onnx: one run from
# scratch, then three warm restarts from the previous checkpoint, then the ONNX
# export. 22,198 optimisation steps of 16 crops (about 105 minutes on 2 idle
# CPU cores) plus ~10 minutes to render the cache (once). The budgets are step
# counts, so a busy machine takes longer but trains the same schedule.
set -eu
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
OUT=data/model-train
$PY models/train/train.py --imgsz 320 --steps 4290 --out $OUT/stage1.pt
$PY models/train/train.py --imgsz 320 --steps 1809 --init $OUT/stage1.pt --lr 1e-3 --warmup 30 --out $OUT/stage2.pt
$PY models/train/train.py --imgsz 320 --steps 10004 --init $OUT/stage2.pt --lr 1e-3 --warmup 30 --eval-every 0.25 --out $OUT/stage3.pt
$PY models/train/train.py --imgsz 320 --steps 6095 --init $OUT/stage3.pt --lr 5e-4 --warmup 30 --eval-every 0.34 --out $OUT/linesight-defects.pt
$PY models/train/export.py --ckpt $OUT/linesight-defects.pt --out "${1:-models/linesight-defects-v1.onnx}"
