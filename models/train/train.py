#!/usr/bin/env /usr/bin/python3
"""Train the linesight defect detector on synthetic conveyor frames (CPU).

Steps: render the train and val splits once into a cache (letterboxed uint8
arrays, several input sizes from the same renders), then train for a fixed
budget (a number of steps, or wall-clock minutes) with a task-aligned
assigner (TAL), GIoU box loss and BCE class loss against IoU-aware targets,
AdamW, warm-up then cosine decay over the budget, and an EMA of the weights.
The EMA weights are evaluated on val (mAP50, mAP50-95) and saved.

    train.py --imgsz 320 --steps 6000
    train.py --imgsz 320 --minutes 20
    train.py --eval CHECKPOINT --split test --count 300     (Python evaluator)

A step budget makes a run repeatable: the schedule follows the fraction of
steps done, so a busy machine only makes it take longer. A wall-clock budget
keeps an experiment inside its time on a shared machine; the price is that two
runs get different numbers of steps.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth  # noqa: E402
from model import Detector, anchors, count_params, decode, flatten  # noqa: E402

RESAMPLE = [Image.BILINEAR, Image.BICUBIC, Image.LANCZOS, Image.BOX]


# ---------------------------------------------------------------- data cache

def render_train(args):
    """One training sample: rendered at a random scale, letterboxed at every size."""
    split, i, sizes = args
    seed = synth.SPLIT_BASE[split] + i
    rng = np.random.default_rng([seed, 1])
    if split == "train":
        img, boxes = synth.make_scene(seed, render_scale=float(rng.uniform(0.55, 1.0)))
        resample = RESAMPLE[int(rng.integers(0, len(RESAMPLE)))]
    else:
        img, boxes = synth.make_scene(seed)
        resample = Image.BILINEAR
    return [synth.letterbox(img, boxes, s, resample) for s in sizes]


def build_cache(split: str, count: int, sizes, cache_dir: str, workers: int):
    paths = {s: os.path.join(cache_dir, f"{split}_{count}_{s}") for s in sizes}
    if all(os.path.exists(p + ".npy") for p in paths.values()):
        return
    os.makedirs(cache_dir, exist_ok=True)
    t0 = time.time()
    imgs = {s: np.empty((count, s, s, 3), np.uint8) for s in sizes}
    labs = {s: [] for s in sizes}
    with mp.Pool(workers) as pool:
        for i, res in enumerate(pool.imap(render_train, [(split, i, sizes) for i in range(count)], chunksize=8)):
            for s, (im, lb) in zip(sizes, res):
                imgs[s][i] = im
                labs[s].append(np.concatenate([np.full((len(lb), 1), i, np.float32), lb], 1))
            if (i + 1) % 500 == 0:
                log(f"cache {split}: {i + 1}/{count} ({time.time() - t0:.0f} s)")
    for s in sizes:
        np.save(paths[s] + "_labels.npy", np.concatenate(labs[s]).astype(np.float32))
        np.save(paths[s] + ".npy", imgs[s])
    log(f"cache {split}: {count} frames in {time.time() - t0:.0f} s")


def load_cache(split, count, s, cache_dir):
    p = os.path.join(cache_dir, f"{split}_{count}_{s}")
    imgs = np.load(p + ".npy")
    lab = np.load(p + "_labels.npy")
    per = [lab[lab[:, 0] == i, 1:] for i in range(count)]
    return imgs, per


def content_rows(imgs):
    """First and last+1 row of each letterboxed image that is not padding."""
    s = imgs.shape[1]
    band = np.empty((len(imgs), 2), np.int64)
    for i in range(len(imgs)):
        rows = np.nonzero((imgs[i, :, ::4] != 114).any(axis=(1, 2)))[0]
        band[i] = (rows[0], rows[-1] + 1) if len(rows) else (0, s)
    return band


def batches(band, batch, rng):
    """One epoch of batches, each from frames of one aspect ratio (same padding)."""
    out = []
    for top in np.unique(band[:, 0]):
        idx = rng.permutation(np.nonzero(band[:, 0] == top)[0])
        out += [np.sort(idx[i:i + batch]) for i in range(0, len(idx) - batch + 1, batch)]
    return [out[i] for i in rng.permutation(len(out))]


def make_batch(imgs, labels, idx, rng, augment, band=None):
    """Float batch and padded targets. With `band`, rows that are padding in every
    frame are cropped (to multiples of 32): a 16:9 frame letterboxed to a square is
    44 % padding, and the network is fully convolutional."""
    s = imgs.shape[1]
    y0, y1 = 0, s
    if band is not None:
        y0 = int(band[idx, 0].min()) // 32 * 32
        y1 = min(s, -(-int(band[idx, 1].max()) // 32) * 32)
    x = torch.from_numpy(imgs[idx, y0:y1]).permute(0, 3, 1, 2).float().div_(255)
    ls = [labels[i].copy() for i in idx]
    for l in ls:
        l[:, 2] -= y0
    h = y1 - y0
    if augment:
        for k in range(len(idx)):
            if rng.random() < 0.5:
                x[k] = x[k].flip(-1)
                ls[k][:, 1] = s - ls[k][:, 1]
            if rng.random() < 0.5:
                x[k] = x[k].flip(-2)
                ls[k][:, 2] = h - ls[k][:, 2]
    m = max(1, max(len(l) for l in ls))
    cls = torch.zeros(len(idx), m, dtype=torch.long)
    box = torch.zeros(len(idx), m, 4)
    mask = torch.zeros(len(idx), m, dtype=torch.bool)
    for k, l in enumerate(ls):
        n = len(l)
        if n:
            t = torch.from_numpy(l)
            cls[k, :n] = t[:, 0].long()
            box[k, :n] = torch.stack([t[:, 1] - t[:, 3] / 2, t[:, 2] - t[:, 4] / 2,
                                      t[:, 1] + t[:, 3] / 2, t[:, 2] + t[:, 4] / 2], 1)
            mask[k, :n] = True
    return x, cls, box, mask


def crop_batch(imgs, labels, band, idx, rng, crop, focus=0.75):
    """Square crops, most of them around a labelled defect: every crop holds parts
    and defects, so an optimisation step costs ~40 % of a full letterboxed frame.
    The rest are random crops of the picture (belt, rails, clean parts)."""
    s = imgs.shape[1]
    xs, ls = [], []
    for i in idx:
        t, b = int(band[i, 0]), int(band[i, 1])
        lo_y, hi_y = (t, b - crop) if b - t >= crop else ((t + b - crop) // 2,) * 2
        lab = labels[i]
        if len(lab) and rng.random() < focus:
            c, cx, cy, w, h = lab[rng.integers(0, len(lab))]
            x0 = rng.uniform(cx + min(w / 2, crop / 2) - crop, cx - min(w / 2, crop / 2))
            y0 = rng.uniform(cy + min(h / 2, crop / 2) - crop, cy - min(h / 2, crop / 2))
        else:
            x0, y0 = rng.uniform(0, s - crop), rng.uniform(lo_y, hi_y + 1)
        x0 = int(np.clip(round(x0), 0, s - crop))
        y0 = int(np.clip(round(y0), 0, s - crop))
        xs.append(imgs[i, y0:y0 + crop, x0:x0 + crop])
        l = lab.copy()
        if len(l):
            bx = np.stack([l[:, 1] - l[:, 3] / 2 - x0, l[:, 2] - l[:, 4] / 2 - y0,
                           l[:, 1] + l[:, 3] / 2 - x0, l[:, 2] + l[:, 4] / 2 - y0], 1)
            area = (bx[:, 2] - bx[:, 0]) * (bx[:, 3] - bx[:, 1])
            bx = np.clip(bx, 0, crop)
            keep = (bx[:, 2] - bx[:, 0]) * (bx[:, 3] - bx[:, 1]) >= 0.6 * area
            bx = bx[keep]
            l = np.concatenate([l[keep, :1], (bx[:, :2] + bx[:, 2:]) / 2, bx[:, 2:] - bx[:, :2]], 1)
        ls.append(l.astype(np.float32))
    return np.stack(xs), ls


def to_targets(x, ls, rng, augment):
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255)
    hh, ww = x.shape[-2:]
    if augment:
        for k in range(len(ls)):
            if rng.random() < 0.5:
                x[k] = x[k].flip(-1)
                ls[k][:, 1] = ww - ls[k][:, 1]
            if rng.random() < 0.5:
                x[k] = x[k].flip(-2)
                ls[k][:, 2] = hh - ls[k][:, 2]
    m = max(1, max(len(l) for l in ls))
    cls = torch.zeros(len(ls), m, dtype=torch.long)
    box = torch.zeros(len(ls), m, 4)
    mask = torch.zeros(len(ls), m, dtype=torch.bool)
    for k, l in enumerate(ls):
        n = len(l)
        if n:
            t = torch.from_numpy(l)
            cls[k, :n] = t[:, 0].long()
            box[k, :n] = torch.stack([t[:, 1] - t[:, 3] / 2, t[:, 2] - t[:, 4] / 2,
                                      t[:, 1] + t[:, 3] / 2, t[:, 2] + t[:, 4] / 2], 1)
            mask[k, :n] = True
    return x, cls, box, mask


# ---------------------------------------------------------------- loss

def box_iou(a, b, giou=False, eps=1e-7):
    """IoU of xyxy boxes that broadcast against each other."""
    ix1 = torch.maximum(a[..., 0], b[..., 0])
    iy1 = torch.maximum(a[..., 1], b[..., 1])
    ix2 = torch.minimum(a[..., 2], b[..., 2])
    iy2 = torch.minimum(a[..., 3], b[..., 3])
    inter = (ix2 - ix1).clamp(0) * (iy2 - iy1).clamp(0)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter + eps
    iou = inter / union
    if not giou:
        return iou
    cw = torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0])
    ch = torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])
    c = cw * ch + eps
    return iou - (c - union) / c


@torch.no_grad()
def assign(scores, pboxes, anc, stride, gt_cls, gt_box, gt_mask, topk=10, alpha=0.5, beta=6.0):
    """Task-aligned assignment: each GT takes the top-k cells by score^a * IoU^b
    among cells inside it or near its centre (small defects cover few cells)."""
    B, A, C = scores.shape
    x, y = anc[:, 0], anc[:, 1]
    gx1, gy1, gx2, gy2 = gt_box.unbind(-1)
    inside = (x > gx1[..., None]) & (x < gx2[..., None]) & (y > gy1[..., None]) & (y < gy2[..., None])
    r = 1.5 * stride
    near = ((x - ((gx1 + gx2) / 2)[..., None]).abs() < r) & ((y - ((gy1 + gy2) / 2)[..., None]).abs() < r)
    cand = (inside | near) & gt_mask[..., None]
    iou = box_iou(gt_box[:, :, None, :], pboxes[:, None, :, :]).clamp(0)
    sc = scores.transpose(1, 2).gather(1, gt_cls[..., None].expand(-1, -1, A))
    align = sc.pow(alpha) * iou.pow(beta) * cand
    top = align.topk(min(topk, A), dim=-1).indices
    pos = torch.zeros_like(cand).scatter_(-1, top, True) & cand
    multi = pos.sum(1, keepdim=True) > 1
    best = F.one_hot((iou * pos).argmax(1), gt_box.shape[1]).permute(0, 2, 1).bool()
    pos = torch.where(multi, best & pos, pos)
    fg = pos.any(1)
    idx = pos.float().argmax(1)
    t_box = gt_box.gather(1, idx[..., None].expand(-1, -1, 4))
    t_cls = gt_cls.gather(1, idx)
    align = align * pos
    iou_p = iou * pos
    norm = (align * iou_p.amax(-1, keepdim=True) / (align.amax(-1, keepdim=True) + 1e-9)).amax(1)
    t_scores = F.one_hot(t_cls, C).float() * (norm * fg)[..., None]
    return t_box, t_scores, fg


def compute_loss(feats, anc, stride, gt_cls, gt_box, gt_mask):
    box_raw, cls = flatten(feats)
    pboxes = decode(box_raw, anc, stride)
    t_box, t_scores, fg = assign(cls.detach().sigmoid(), pboxes.detach(), anc, stride, gt_cls, gt_box, gt_mask)
    tss = t_scores.sum().clamp(min=1.0)
    l_cls = F.binary_cross_entropy_with_logits(cls, t_scores, reduction="sum") / tss
    if fg.any():
        w = t_scores.sum(-1)[fg]
        l_box = ((1 - box_iou(pboxes[fg], t_box[fg], giou=True)) * w).sum() / tss
    else:
        l_box = pboxes.sum() * 0
    return 7.5 * l_box + 0.5 * l_cls, l_box.detach(), l_cls.detach()


# ---------------------------------------------------------------- evaluation

def nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list:
    order = np.argsort(-scores, kind="stable")
    b = boxes[order]
    x1, y1, x2, y2 = b.T
    area = (x2 - x1) * (y2 - y1)
    keep = []
    alive = np.ones(len(order), bool)
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(order[i])
        iw = np.clip(np.minimum(x2[i], x2[i + 1:]) - np.maximum(x1[i], x1[i + 1:]), 0, None)
        ih = np.clip(np.minimum(y2[i], y2[i + 1:]) - np.maximum(y1[i], y1[i + 1:]), 0, None)
        inter = iw * ih
        alive[i + 1:] &= inter / (area[i] + area[i + 1:] - inter + 1e-9) <= thr
    return keep


def postprocess(box_xyxy, scores, conf=0.001, iou=0.6, max_det=300, pre_nms=1000):
    """Per image: every (cell, class) above conf, class-aware NMS."""
    out = []
    for b, s in zip(box_xyxy.numpy(), scores.numpy()):
        cell, cls = np.nonzero(s > conf)
        sc = s[cell, cls]
        if len(sc) > pre_nms:
            top = np.argsort(-sc)[:pre_nms]
            cell, cls, sc = cell[top], cls[top], sc[top]
        bx = b[cell]
        keep = nms(bx + cls[:, None] * 10000.0, sc, iou)[:max_det]
        out.append((bx[keep], sc[keep], cls[keep]))
    return out


def ap_all_point(tp: np.ndarray, conf: np.ndarray, n_gt: int) -> float:
    """VOC-style all-point interpolated AP."""
    if n_gt == 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    order = np.argsort(-conf, kind="stable")
    tpc = np.cumsum(tp[order])
    fpc = np.cumsum(1 - tp[order])
    rec = tpc / n_gt
    prec = tpc / (tpc + fpc)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[1.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def evaluate(dets, gts, nc=4, conf_thr=0.25):
    """dets: per image (xyxy, score, cls); gts: per image [n, 5] (cls, cx, cy, w, h)."""
    thrs = np.linspace(0.5, 0.95, 10)
    ap = np.full((nc, len(thrs)), np.nan)
    pr = []
    for c in range(nc):
        n_gt = 0
        tps = [[] for _ in thrs]
        confs = []
        for (b, s, k), g in zip(dets, gts):
            g = g[g[:, 0] == c]
            gb = np.stack([g[:, 1] - g[:, 3] / 2, g[:, 2] - g[:, 4] / 2, g[:, 1] + g[:, 3] / 2, g[:, 2] + g[:, 4] / 2], 1)
            n_gt += len(g)
            sel = k == c
            db, ds = b[sel], s[sel]
            order = np.argsort(-ds, kind="stable")
            db, ds = db[order], ds[order]
            confs.append(ds)
            ious = box_iou(torch.from_numpy(db[:, None, :]), torch.from_numpy(gb[None, :, :])).numpy() if len(gb) and len(db) else np.zeros((len(db), len(gb)))
            for ti, t in enumerate(thrs):
                used = np.zeros(len(gb), bool)
                tp = np.zeros(len(db))
                for d in range(len(db)):
                    cand = np.where(~used & (ious[d] >= t), ious[d], -1)
                    if len(cand) and cand.max() >= 0:
                        j = int(cand.argmax())
                        used[j] = True
                        tp[d] = 1
                tps[ti].append(tp)
        conf = np.concatenate(confs) if confs else np.zeros(0)
        for ti in range(len(thrs)):
            ap[c, ti] = ap_all_point(np.concatenate(tps[ti]), conf, n_gt)
        tp50 = np.concatenate(tps[0])
        m = conf >= conf_thr
        p = float(tp50[m].sum() / max(1, m.sum()))
        r = float(tp50[m].sum() / max(1, n_gt))
        pr.append({"class": synth.CLASSES[c], "gt": n_gt, "precision": p, "recall": r,
                   "ap50": float(ap[c, 0]), "ap50_95": float(np.nanmean(ap[c]))})
    return {"map50": float(np.nanmean(ap[:, 0])), "map50_95": float(np.nanmean(ap)), "classes": pr}


@torch.no_grad()
def predict(model, imgs, bs=16):
    model.eval()
    out = []
    anc = stride = None
    for i in range(0, len(imgs), bs):
        x = torch.from_numpy(imgs[i:i + bs]).permute(0, 3, 1, 2).float().div_(255)
        feats = model(x)
        if anc is None:
            anc, stride = anchors(feats)
        box_raw, cls = flatten(feats)
        out += postprocess(decode(box_raw, anc, stride), cls.sigmoid())
    return out


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- training

class EMA:
    def __init__(self, model, decay=0.999, tau=400):
        import copy
        self.ema = copy.deepcopy(model).eval()
        self.decay, self.tau, self.n = decay, tau, 0
        for p in self.ema.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        self.n += 1
        d = self.decay * (1 - math.exp(-self.n / self.tau))
        msd = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
            else:
                v.copy_(msd[k])


def train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    sizes = sorted(set(a.cache_sizes + [a.imgsz]))
    build_cache("train", a.train_count, sizes, a.cache_dir, a.workers)
    build_cache("val", a.val_count, sizes, a.cache_dir, a.workers)
    imgs, labels = load_cache("train", a.train_count, a.imgsz, a.cache_dir)
    vimgs, vlabels = load_cache("val", a.val_count, a.imgsz, a.cache_dir)
    model = Detector(nc=len(synth.CLASSES), imgsz=a.imgsz)
    if a.init:   # continue from earlier weights (a warm restart of the schedule)
        ck = torch.load(a.init, map_location="cpu")
        model.load_state_dict(ck["model"])
        log(f"initialised from {a.init} ({ck.get('train_seconds', '?')} s, {ck.get('iterations', '?')} iterations)")
    log(f"model: {count_params(model)} parameters, imgsz {a.imgsz}, {len(imgs)} train / {len(vimgs)} val frames")
    decay, no_decay = [], []
    for n_, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.999))
    ema = EMA(model)
    budget = a.minutes * 60

    def progress():   # fraction of the budget spent: steps if given, else seconds
        return it / a.steps if a.steps else t_train / budget
    grids = {}
    t_train = 0.0
    it = 0
    band = content_rows(imgs)
    epoch = batches(band, a.batch, rng)
    seen = 0
    evals = []
    next_eval = a.eval_every
    best = None
    log_t = time.time()
    run_l = np.zeros(3)
    while progress() < 1.0:
        t0 = time.time()
        frac = progress()
        warm = min(1.0, (it + 1) / a.warmup)
        lr = a.lr * warm * (a.lrf + (1 - a.lrf) * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        if not epoch:
            epoch = batches(band, a.batch, rng)
        idx = epoch.pop()
        seen += len(idx)
        if a.crop:
            x, gc, gb, gm = to_targets(*crop_batch(imgs, labels, band, idx, rng, a.crop), rng, augment=True)
        else:
            x, gc, gb, gm = make_batch(imgs, labels, idx, rng, augment=True, band=band)
        model.train()
        feats = model(x)
        if x.shape[-2:] not in grids:
            grids[x.shape[-2:]] = anchors(feats)
        anc, stride = grids[x.shape[-2:]]
        loss, lb, lc = compute_loss(feats, anc, stride, gc, gb, gm)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        ema.update(model)
        it += 1
        t_train += time.time() - t0
        run_l = 0.95 * run_l + 0.05 * np.array([loss.item(), lb.item(), lc.item()]) if it > 1 else np.array([loss.item(), lb.item(), lc.item()])
        if time.time() - log_t > 30:
            log_t = time.time()
            left = f"{it}/{a.steps} it" if a.steps else f"{t_train:.0f}/{budget:.0f}s"
            log(f"it {it} ({seen / len(imgs):.2f} ep) {left}, {t_train:.0f}s lr {lr:.2e} loss {run_l[0]:.3f} box {run_l[1]:.3f} cls {run_l[2]:.3f} ({t_train / seen * 1000:.0f} ms/img)")
        if progress() >= next_eval or progress() >= 1.0:
            next_eval += a.eval_every
            r = evaluate(predict(ema.ema, vimgs), vlabels)
            evals.append({"t": round(t_train), "it": it, "map50": r["map50"], "map50_95": r["map50_95"]})
            log(f"val @ {t_train:.0f}s it {it}: mAP50 {r['map50']:.4f} mAP50-95 {r['map50_95']:.4f} "
                + " ".join(f"{c['class']}:{c['ap50']:.3f}/P{c['precision']:.2f}/R{c['recall']:.2f}" for c in r["classes"]))
            if best is None or r["map50_95"] >= best[0]["map50_95"]:
                best = (r, {k: v.clone() for k, v in ema.ema.state_dict().items()}, it)
    r, sd, best_it = best
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save({"model": sd, "imgsz": a.imgsz, "nc": len(synth.CLASSES), "names": synth.CLASSES,
                "params": count_params(model), "iterations": it, "init": a.init, "best_iteration": best_it,
                "train_seconds": round(t_train), "val": r, "evals": evals, "args": vars(a)}, a.out)
    log(f"saved {a.out}: val mAP50 {r['map50']:.4f} mAP50-95 {r['map50_95']:.4f} after {t_train:.0f}s of training, {it} iterations")
    print(json.dumps(r, indent=1))


def eval_checkpoint(a):
    torch.set_num_threads(a.threads)
    ck = torch.load(a.eval, map_location="cpu")
    s = ck["imgsz"]
    model = Detector(nc=ck["nc"], imgsz=s)
    model.load_state_dict(ck["model"])
    with mp.Pool(a.workers) as pool:
        res = pool.map(render_train, [(a.split, i, [s]) for i in range(a.count)], chunksize=8)
    imgs = np.stack([r[0][0] for r in res])
    gts = [r[0][1] for r in res]
    t = time.time()
    r = evaluate(predict(model, imgs), gts)
    log(f"{a.split} ({a.count} frames, imgsz {s}): mAP50 {r['map50']:.4f} mAP50-95 {r['map50_95']:.4f} ({time.time() - t:.0f}s)")
    print(json.dumps(r, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--imgsz", type=int, default=320, help="square model input size")
    ap.add_argument("--minutes", type=float, default=25, help="wall-clock budget for the optimisation steps (when --steps is 0)")
    ap.add_argument("--steps", type=int, default=0, help="budget in optimisation steps; the schedule follows it, whatever the machine's load")
    ap.add_argument("--train-count", type=int, default=6000)
    ap.add_argument("--val-count", type=int, default=300)
    ap.add_argument("--cache-dir", default="data/model-train/cache")
    ap.add_argument("--cache-sizes", type=int, nargs="*", default=[], help="extra input sizes to cache from the same renders")
    ap.add_argument("--out", default="data/model-train/linesight-defects.pt")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=192, help="train on square crops of this size (0: whole frames)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--lrf", type=float, default=0.05, help="final lr as a fraction of --lr")
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=60, help="warm-up iterations")
    ap.add_argument("--eval-every", type=float, default=0.5, help="fraction of the budget between val evaluations")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="processes rendering the cache")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", metavar="CHECKPOINT", help="start from these weights instead of random ones")
    ap.add_argument("--eval", metavar="CHECKPOINT", help="evaluate a checkpoint instead of training")
    ap.add_argument("--split", default="test", choices=sorted(synth.SPLIT_BASE))
    ap.add_argument("--count", type=int, default=300)
    a = ap.parse_args()
    if a.eval:
        eval_checkpoint(a)
    else:
        train(a)


if __name__ == "__main__":
    main()
