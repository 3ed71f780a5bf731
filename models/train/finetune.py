#!/usr/bin/env /usr/bin/python3
"""Fine-tune the shipped detector on a dataset exported from the line (CPU, minutes).

    finetune.py --data DIR [--base models/linesight-defects-v1.onnx] [--out FILE.onnx] [--steps 300]

DIR is what `linesight dataset export --format yolo` wrote: data.yaml,
images/{train,val}, labels/{train,val}, manifest.json. The steps:

1. Load the base model's weights from its ONNX file into model.py's Detector
   (onnx_weights.py), export it again and check that the copy matches the file:
   the same convolution weights, and the same outputs under onnxruntime on a
   synthetic frame (compare_onnx.mjs, the runtime linesight uses).
2. Letterbox the dataset's pictures to the model's input size.
3. Train for --steps optimisation steps on square crops, each batch mixing the
   line's pictures with synthetic frames from synth.py (--synth-share of every
   batch) so the model keeps what it knew. BatchNorms stay frozen (their
   statistics are folded into the ONNX weights), AdamW with warm-up and cosine
   decay, an EMA of the weights is what gets exported.
4. Score the base and the new model on the dataset's val split and on synthetic
   val frames, and export the new ONNX with a bumped version and metadata that
   names its parent model (name, version, sha256) and the dataset (folder name,
   sha256 of manifest.json).

Pictures listed in review.txt carry labels the model proposed that nobody
checked; --exclude-review trains without them.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synth  # noqa: E402
import train  # noqa: E402
from export import write_onnx  # noqa: E402
from model import anchors  # noqa: E402
from onnx_weights import check_roundtrip, freeze_batchnorm, load_onnx_detector, sha256_of  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
log = train.log


def read_names(data_yaml: str) -> list:
    """Class names of an exported data.yaml (`names:` as an index map, as linesight writes it)."""
    names, inside = {}, False
    with open(data_yaml) as fh:
        for line in fh:
            if line.startswith("names:"):
                inside = True
                continue
            if inside:
                if not line.startswith(" "):
                    break
                k, _, v = line.strip().partition(":")
                names[int(k.strip("'\""))] = v.strip().strip("'\"")
    if not names:
        raise SystemExit(f"{data_yaml}: expected a names: map of class ids to names, found none")
    return [names[i] for i in sorted(names)]


def read_split(root: str, split: str, s: int, skip: set) -> tuple:
    """Letterboxed pictures [n, s, s, 3] and labels (cls, cx, cy, w, h in model pixels) of one split."""
    folder = os.path.join(root, "images", split)
    imgs, labels, names = [], [], []
    for path in sorted(glob.glob(os.path.join(folder, "*"))):
        rel = f"images/{split}/{os.path.basename(path)}"
        if rel in skip:
            continue
        img = np.asarray(Image.open(path).convert("RGB"))
        h, w = img.shape[:2]
        boxes = []
        lab = os.path.join(root, "labels", split, os.path.splitext(os.path.basename(path))[0] + ".txt")
        if os.path.exists(lab):
            for line in open(lab).read().split("\n"):
                if line.strip():
                    c, cx, cy, bw, bh = line.split()
                    boxes.append({"class": int(c), "x": (float(cx) - float(bw) / 2) * w, "y": (float(cy) - float(bh) / 2) * h,
                                  "w": float(bw) * w, "h": float(bh) * h})
        lb, l = synth.letterbox(img, boxes, s)
        imgs.append(lb)
        labels.append(l)
        names.append(rel)
    return (np.stack(imgs) if imgs else np.zeros((0, s, s, 3), np.uint8)), labels, names


def synth_frames(count: int, s: int, cache_dir: str, workers: int) -> tuple:
    """Synthetic training frames: the training run's cache when it has enough, else a small cache of our own."""
    have = sorted(glob.glob(os.path.join(cache_dir, f"train_*_{s}.npy")), key=lambda p: int(os.path.basename(p).split("_")[1]))
    for path in reversed(have):
        n = int(os.path.basename(path).split("_")[1])
        if n >= count:
            imgs, labels = train.load_cache("train", n, s, cache_dir)
            return imgs[:count], labels[:count]
    train.build_cache("train", count, [s], cache_dir, workers)
    return train.load_cache("train", count, s, cache_dir)


def synth_val(count: int, s: int) -> tuple:
    imgs, labels = [], []
    for i in range(count):
        img, boxes = synth.make_scene(synth.SPLIT_BASE["val"] + i)
        lb, l = synth.letterbox(img, boxes, s)
        imgs.append(lb)
        labels.append(l)
    return np.stack(imgs), labels


def score(model, imgs, labels, nc) -> dict:
    if len(imgs) == 0:
        return {}
    r = train.evaluate(train.predict(model, imgs), labels, nc=nc)
    return {"map50": round(r["map50"], 4), "classes": {c["class"]: {"gt": c["gt"], "recall": round(c["recall"], 3), "ap50": round(c["ap50"], 3)} for c in r["classes"]}}


def check_copy(base: str, model, names, s: int, work: str) -> dict:
    """Export the loaded weights and compare them, and their outputs, with the base file."""
    copy = os.path.join(work, "copy.onnx")
    write_onnx(model, names, s, copy, "check", "weights read back from the base model", quiet=True)
    weights = check_roundtrip(base, copy)
    img, boxes = synth.make_scene(synth.SPLIT_BASE["test"])
    frame, _ = synth.letterbox(img, boxes, s)
    inp = os.path.join(work, "frame.f32")
    np.ascontiguousarray(frame.transpose(2, 0, 1)[None].astype(np.float32) / 255).tofile(inp)
    res = subprocess.run(["node", os.path.join(HERE, "compare_onnx.mjs"), base, copy, inp, str(s)], cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"compare_onnx.mjs failed (exit {res.returncode}): {res.stderr.strip()}")
    out = json.loads(res.stdout)
    if out["max_abs_diff"] > 1e-4:
        raise SystemExit(f"the weights read back from {base} give outputs that differ by {out['max_abs_diff']:g}: not the same model")
    log(f"base model read back: weights differ by {weights:g}, outputs (onnxruntime, one frame) by {out['max_abs_diff']:g}")
    return {"weights_max_abs_diff": weights, "outputs_max_abs_diff": out["max_abs_diff"]}


def bump(version: str) -> str:
    parts = version.split("-")[0].split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{parts[0]}.{int(parts[1]) + 1}.0"
    return f"{version}.1"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder written by linesight dataset export --format yolo")
    ap.add_argument("--base", default=os.path.join(ROOT, "models/linesight-defects-v1.onnx"), help="the model to start from (ONNX)")
    ap.add_argument("--out", help="the new model (default: data/model-train/<base>-ft.onnx)")
    ap.add_argument("--version", help="version of the new model (default: the base's, minor bumped)")
    ap.add_argument("--steps", type=int, default=300, help="optimisation steps")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=192, help="square crops of the letterboxed frames")
    ap.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (1e-3 learns a new look faster and forgets more of the rest)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--synth-share", type=float, default=0.5, help="share of every batch drawn from synthetic frames")
    ap.add_argument("--synth-count", type=int, default=200, help="synthetic frames to draw from")
    ap.add_argument("--synth-val", type=int, default=40, help="synthetic val frames scored before and after (0: none)")
    ap.add_argument("--cache-dir", default=os.path.join(ROOT, "data/model-train/cache"))
    ap.add_argument("--exclude-review", action="store_true", help="leave out the pictures listed in review.txt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="processes rendering synthetic frames")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    model, names, s, meta = load_onnx_detector(a.base)
    data_names = read_names(os.path.join(a.data, "data.yaml"))
    if data_names != names:
        raise SystemExit(f"{a.data}/data.yaml names {data_names}, but {a.base} has {names}: export the dataset with this model in the config")
    if names != synth.CLASSES and a.synth_share > 0:
        raise SystemExit(f"the synthetic frames know {synth.CLASSES}, the model {names}: use --synth-share 0 for a model of other classes")
    with tempfile.TemporaryDirectory() as work:
        check = check_copy(a.base, model, names, s, work)

    skip = set()
    review = os.path.join(a.data, "review.txt")
    if a.exclude_review and os.path.exists(review):
        skip = {line.strip() for line in open(review) if line.strip()}
    imgs, labels, _ = read_split(a.data, "train", s, skip)
    vimgs, vlabels, _ = read_split(a.data, "val", s, skip)
    if len(imgs) == 0:
        raise SystemExit(f"{a.data}/images/train holds no pictures to train on")
    n_line = max(1, round(a.batch * (1 - a.synth_share)))
    n_synth = a.batch - n_line
    simgs, slabels = synth_frames(a.synth_count, s, a.cache_dir, a.workers) if n_synth else (None, None)
    sv = synth_val(a.synth_val, s) if a.synth_val else (np.zeros((0, s, s, 3), np.uint8), [])
    log(f"dataset: {len(imgs)} train / {len(vimgs)} val pictures, {sum(len(l) for l in labels)} train labels; "
        f"batches of {n_line} line + {n_synth} synthetic crops, {a.steps} steps")

    before = {"line_val": score(model, vimgs, vlabels, len(names)), "synth_val": score(model, *sv, len(names))}
    band = train.content_rows(imgs)
    sband = train.content_rows(simgs) if n_synth else None
    params = [p for n_, p in model.named_parameters()]
    opt = torch.optim.AdamW([{"params": [p for p in params if p.ndim > 1], "weight_decay": 5e-4},
                             {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}], lr=a.lr)
    ema = train.EMA(model, decay=0.99, tau=50)
    grids = {}
    t0 = time.time()
    run = None
    for it in range(a.steps):
        frac = it / a.steps
        lr = a.lr * min(1.0, (it + 1) / a.warmup) * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, ls = train.crop_batch(imgs, labels, band, rng.integers(0, len(imgs), n_line), rng, a.crop)
        if n_synth:
            sx, sls = train.crop_batch(simgs, slabels, sband, rng.integers(0, len(simgs), n_synth), rng, a.crop)
            x, ls = np.concatenate([x, sx]), ls + sls
        xb, gc, gb, gm = train.to_targets(x, ls, rng, augment=True)
        model.train()
        freeze_batchnorm(model)
        feats = model(xb)
        if xb.shape[-2:] not in grids:
            grids[xb.shape[-2:]] = anchors(feats)
        anc, stride = grids[xb.shape[-2:]]
        loss, lb, lc = train.compute_loss(feats, anc, stride, gc, gb, gm)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        ema.update(model)
        run = loss.item() if run is None else 0.9 * run + 0.1 * loss.item()
        if (it + 1) % 50 == 0 or it + 1 == a.steps:
            log(f"step {it + 1}/{a.steps} lr {lr:.2e} loss {run:.3f} ({time.time() - t0:.0f} s)")
    train_s = time.time() - t0
    new = ema.ema.eval()
    after = {"line_val": score(new, vimgs, vlabels, len(names)), "synth_val": score(new, *sv, len(names))}

    base_name = os.path.splitext(os.path.basename(a.base))[0]
    out = a.out or os.path.join(ROOT, "data/model-train", f"{base_name}-ft.onnx")
    version = a.version or bump(meta.get("version", "0.0.0"))
    manifest = os.path.join(a.data, "manifest.json")
    dataset = {"name": os.path.basename(os.path.abspath(a.data)),
               "manifest_sha256": sha256_of(manifest) if os.path.exists(manifest) else None,
               "train": len(imgs), "val": len(vimgs), "exclude_review": a.exclude_review}
    parent = {"name": base_name, "version": meta.get("version"), "sha256": sha256_of(a.base)}
    recipe = {"steps": a.steps, "batch": a.batch, "crop": a.crop, "lr": a.lr, "synth_share": a.synth_share, "synth_count": a.synth_count, "seed": a.seed}
    description = (f"linesight surface-defect detector v{version}: {parent['name']} v{parent['version']} fine-tuned on the line's "
                   f"dataset {dataset['name']} ({len(imgs)} pictures, {a.steps} steps mixed with synthetic frames)")
    write_onnx(new, names, s, out, version, description, extra={
        "parent_model": json.dumps(parent), "dataset": json.dumps(dataset), "finetune": json.dumps(recipe)}, quiet=True)
    summary = {"out": out, "version": version, "parent": parent, "dataset": dataset, "check": check,
               "before": before, "after": after, "train_seconds": round(train_s, 1), "total_seconds": round(time.time() - t_start, 1)}
    log(f"wrote {out} (v{version}) after {train_s:.0f} s of training")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
