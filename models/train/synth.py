#!/usr/bin/env python3
"""Synthetic conveyor images with labelled surface defects.

A frame is a conveyor belt (or roller bed) seen from above, with one to three
parts lying on it. Each part has a surface kind (brushed metal, painted panel,
woven textile, rough casting) and may carry defects of four classes:

    0 scratch   thin straight or slightly curved line, bright or dark
    1 dent      spot or pit: a shaded crater, a paint chip, a stain
    2 crack     dark jagged thin line, sometimes branched
    3 hole      missing material: the belt shows through an irregular opening

Hard negatives are drawn and left unlabelled: dust specks, fibres, texture
grain, glare, printed markings and labels, designed bores and mounting holes,
belt seams and rollers, part edges and shadows. Lighting gradients, colour
casts, sensor noise, defocus and motion blur, and JPEG artefacts come last.

Everything is deterministic by seed: frame i of a split uses seed
SPLIT_BASE[split] + i, and the split bases are far apart, so train, val, test
and the demo clip never share a scene.

Usage:
    synth.py --split test --out DIR [--count 300]   PNG frames + DIR/labels.json
    synth.py --split val --out DIR --count 8        a few frames to look at
    synth.py --split test --out DIR --size 640x360 --restyle crack:neon --jpg
                                                    a line whose cracks look new (STYLES)
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

CLASSES = ["scratch", "dent", "crack", "hole"]
SPLIT_BASE = {"train": 1_000_000, "val": 2_000_000, "test": 3_000_000}
CLIP_SEED = 9_000_001
CAMERA_SIZES = [(1280, 720), (960, 540), (1024, 768)]
KINDS = ["metal", "paint", "textile", "cast"]


# ---------------------------------------------------------------- primitives

def resize_f(a: np.ndarray, w: int, h: int, resample=Image.BICUBIC) -> np.ndarray:
    """Resize a float32 2-D array with PIL (mode F)."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), "F").resize((w, h), resample))


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Value noise with unit-ish std and feature size `cell` pixels."""
    gh = max(2, int(h / max(cell, 1e-3)) + 2)
    gw = max(2, int(w / max(cell, 1e-3)) + 2)
    g = rng.standard_normal((gh, gw)).astype(np.float32)
    return resize_f(g, w, h)


def box_blur(a: np.ndarray, r: int, axis: int) -> np.ndarray:
    if r <= 0:
        return a
    n = a.shape[axis]
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r + 1, r)
    c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float32)
    hi = np.take(c, np.arange(2 * r + 1, 2 * r + 1 + n), axis=axis)
    lo = np.take(c, np.arange(0, n), axis=axis)
    return (hi - lo) / (2 * r + 1)


def blur(a: np.ndarray, sigma: float, axes=(0, 1)) -> np.ndarray:
    """Approximate Gaussian blur: three box passes per axis."""
    if sigma < 0.3:
        return a
    r = max(1, int(round(math.sqrt(12 * sigma * sigma / 3 + 1) - 1) // 2))
    out = a.astype(np.float32, copy=False)
    for ax in axes:
        for _ in range(3):
            out = box_blur(out, r, ax)
    return out


def seg_dist(xx: np.ndarray, yy: np.ndarray, pts: np.ndarray, half_widths: np.ndarray) -> np.ndarray:
    """Distance from each pixel to a polyline, minus the segment's half width."""
    d = np.full(xx.shape, 1e9, np.float32)
    for i in range(len(pts) - 1):
        ax, ay = pts[i]
        bx, by = pts[i + 1]
        dx, dy = bx - ax, by - ay
        ll = dx * dx + dy * dy + 1e-9
        t = np.clip(((xx - ax) * dx + (yy - ay) * dy) / ll, 0.0, 1.0)
        px = ax + t * dx - xx
        py = ay + t * dy - yy
        d = np.minimum(d, np.sqrt(px * px + py * py) - half_widths[i])
    return d


def coverage(d: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage from a signed distance in pixels."""
    return np.clip(0.5 - d, 0.0, 1.0)


def crop_grid(cx: float, cy: float, rad: float, h: int, w: int):
    x0 = max(0, int(cx - rad) - 2)
    y0 = max(0, int(cy - rad) - 2)
    x1 = min(w, int(cx + rad) + 3)
    y1 = min(h, int(cy + rad) + 3)
    if x1 <= x0 or y1 <= y0:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    return (slice(y0, y1), slice(x0, x1)), xx, yy


def hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i], np.float32)


# ---------------------------------------------------------------- parts

@dataclass
class Part:
    rgb: np.ndarray          # (h, w, 3) float32 0..255
    alpha: np.ndarray        # (h, w) float32 0..1
    masks: list = field(default_factory=list)   # [(class_id, (h, w) float32 mask)]
    kind: str = "metal"


def part_shape(rng, h, w, kind):
    """Alpha of the part outline and the designed openings (bores, mounting holes)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    shape = rng.choice(["rect", "rect", "rect", "disc", "ring", "bracket"], p=None)
    if kind == "textile":
        shape = "rect" if rng.random() < 0.85 else "disc"
    if shape in ("rect", "bracket"):
        r = rng.uniform(0.0, 0.25) * min(h, w)
        qx = np.maximum(np.abs(xx - cx) - (w / 2 - r - 1), 0)
        qy = np.maximum(np.abs(yy - cy) - (h / 2 - r - 1), 0)
        d = np.sqrt(qx * qx + qy * qy) - r
        if shape == "bracket":   # L shape: cut one quadrant
            fx, fy = rng.uniform(0.35, 0.6), rng.uniform(0.35, 0.6)
            sx, sy = rng.choice([-1, 1]), rng.choice([-1, 1])
            nx = sx * (xx - cx) - (w / 2) * (1 - 2 * fx)
            ny = sy * (yy - cy) - (h / 2) * (1 - 2 * fy)
            d = np.maximum(d, -np.minimum(nx, ny))
    else:
        d = (np.sqrt(((xx - cx) / (w / 2 - 1)) ** 2 + ((yy - cy) / (h / 2 - 1)) ** 2) - 1) * min(h, w) / 2
    alpha = coverage(d)
    designed = []
    if shape == "ring":
        rr = rng.uniform(0.15, 0.35) * min(h, w)
        designed.append((cx, cy, rr))
    elif shape == "rect" and rng.random() < 0.3:
        rr = rng.uniform(0.03, 0.07) * min(h, w)
        mx, my = rng.uniform(0.12, 0.2) * w, rng.uniform(0.12, 0.2) * h
        for sx in (-1, 1):
            for sy in (-1, 1):
                designed.append((cx + sx * (w / 2 - mx), cy + sy * (h / 2 - my), rr))
    for (hx, hy, rr) in designed:
        dd = np.sqrt((xx - hx) ** 2 + (yy - hy) ** 2) - rr
        alpha = np.minimum(alpha, np.clip(dd + 0.5, 0, 1))
    return alpha, designed


def surface(rng, h, w, kind, scale):
    """Base texture (h, w, 3) float32 and the grain direction (local axis)."""
    if kind == "metal":
        g = rng.uniform(110, 200)
        base = np.array([g, g * rng.uniform(0.98, 1.03), g * rng.uniform(0.98, 1.08)], np.float32)
        along_x = rng.random() < 0.5
        n1 = rng.standard_normal((h, max(2, w // 60))) if along_x else rng.standard_normal((max(2, h // 60), w))
        n1 = resize_f(n1.astype(np.float32), w, h, Image.BILINEAR)
        n2 = smooth_noise(rng, h, w, scale * 0.02)
        band_pos = rng.uniform(0, 1)
        coord = (np.arange(h if along_x else w, dtype=np.float32) / (h if along_x else w))
        band = np.exp(-((coord - band_pos) / rng.uniform(0.08, 0.3)) ** 2) * rng.uniform(0, 45)
        band = band[:, None] if along_x else band[None, :]
        lum = n1 * rng.uniform(3, 12) + n2 * rng.uniform(1, 4) + band
        img = base[None, None, :] + lum[..., None]
    elif kind == "paint":
        hue = rng.random()
        base = hsv_to_rgb(hue, rng.uniform(0.35, 0.9), rng.uniform(0.35, 0.9)) * 255
        peel = smooth_noise(rng, h, w, max(1.5, scale * 0.006)) * rng.uniform(1.5, 5)
        grad = smooth_noise(rng, h, w, scale * 0.5) * rng.uniform(3, 12)
        img = base[None, None, :] * (1 + (peel + grad)[..., None] / 255 * 2)
    elif kind == "textile":
        hue = rng.random()
        base = hsv_to_rgb(hue, rng.uniform(0.1, 0.6), rng.uniform(0.3, 0.8)) * 255
        p = max(2.2, scale * rng.uniform(0.015, 0.035))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        wx = np.sin(2 * np.pi * xx / p)
        wy = np.sin(2 * np.pi * yy / p)
        twill = np.sin(2 * np.pi * (xx + yy) / (2 * p)) if rng.random() < 0.5 else np.sign(wx * wy)
        weave = 0.5 * wx * wy + 0.5 * twill
        fibre = smooth_noise(rng, h, w, 1.2) * 0.5 + smooth_noise(rng, h, w, scale * 0.05)
        lum = weave * rng.uniform(6, 20) + fibre * rng.uniform(3, 9)
        img = base[None, None, :] + lum[..., None]
        along_x = True
    else:  # cast
        g = rng.uniform(80, 160)
        base = np.array([g * rng.uniform(1.0, 1.12), g, g * rng.uniform(0.85, 1.0)], np.float32)
        n = (smooth_noise(rng, h, w, scale * 0.08) * 10 + smooth_noise(rng, h, w, scale * 0.02) * 7
             + smooth_noise(rng, h, w, 1.5) * rng.uniform(4, 10))
        img = base[None, None, :] + n[..., None] * rng.uniform(0.8, 1.6)
        along_x = True
    if kind == "paint" or kind == "cast":
        along_x = rng.random() < 0.5
    return img.astype(np.float32), along_x


def bevel(alpha, light, amount, width):
    """Rim shading from the outline: the side facing the light is brighter."""
    b = blur(alpha, width)
    gy, gx = np.gradient(b)
    return (gx * light[0] + gy * light[1]) * amount * width * 4


def interior_points(rng, alpha, margin, n):
    """Random points well inside the part (alpha = 1 after an erosion of `margin`)."""
    h, w = alpha.shape
    inside = blur(alpha, max(1.0, margin / 2)) > 0.995
    ys, xs = np.nonzero(inside)
    if len(xs) == 0:
        return []
    idx = rng.integers(0, len(xs), n)
    return [(float(xs[i]), float(ys[i])) for i in idx]


# ---------------------------------------------------------------- defects

def draw_scratch(rng, part, cx, cy, size, kind, unit):
    h, w = part.alpha.shape
    L = min(size * rng.uniform(1.6, 4.0), 0.7 * min(part.alpha.shape))
    ang = rng.uniform(0, np.pi)
    bend = rng.uniform(-0.15, 0.15) * L
    t = np.linspace(-0.5, 0.5, 12)
    dx, dy = math.cos(ang), math.sin(ang)
    px = cx + t * L * dx - (1 - 4 * t * t) * bend * dy
    py = cy + t * L * dy + (1 - 4 * t * t) * bend * dx
    pts = np.stack([px, py], 1)
    # at least ~0.5 px wide once a 1280-px frame is letterboxed to 320: thinner is not resolvable
    hw = rng.uniform(0.9, 1.9) * unit * math.sqrt(size / (36 * unit))
    g = crop_grid(cx, cy, L / 2 + abs(bend) + hw + 3, h, w)
    if g is None:
        return None
    sl, xx, yy = g
    d = seg_dist(xx, yy, pts, np.full(len(pts) - 1, hw))
    cov = coverage(d)
    # intermittent scratches: a few gaps along the line
    if rng.random() < 0.3:
        along = ((xx - cx) * dx + (yy - cy) * dy) / L
        gaps = np.sin(along * rng.uniform(15, 35) + rng.uniform(0, 6)) > rng.uniform(0.5, 0.9)
        cov = cov * np.where(gaps, 0.3, 1.0)
    halo = coverage(d - hw * 1.5) - cov
    region = part.rgb[sl]
    lum = float(region.mean())
    # a scratch catches the light, unless the surface has no headroom left
    bright = rng.random() < (0.7 if kind in ("metal", "paint") else 0.45)
    bright = (bright or lum < 70) and lum < 190
    c = rng.uniform(45, 100)
    if kind == "paint" and rng.random() < 0.5:   # exposes primer
        primer = np.array([rng.uniform(170, 230)] * 3, np.float32)
        region[:] = region * (1 - cov[..., None]) + primer * cov[..., None]
    else:
        region += ((c if bright else -c) * cov - (0.3 * c if bright else -0.1 * c) * halo)[..., None]
    mask = np.zeros((h, w), np.float32)
    mask[sl] = np.maximum(cov, (d < hw + 1).astype(np.float32))
    return mask


def draw_dent(rng, part, cx, cy, size, kind, light):
    h, w = part.alpha.shape
    r = size * rng.uniform(0.35, 0.7)
    ar = rng.uniform(0.6, 1.0)
    ang = rng.uniform(0, np.pi)
    g = crop_grid(cx, cy, r * 1.4 + 2, h, w)
    if g is None:
        return None
    sl, xx, yy = g
    ca, sa = math.cos(ang), math.sin(ang)
    u = ((xx - cx) * ca + (yy - cy) * sa) / r
    v = (-(xx - cx) * sa + (yy - cy) * ca) / (r * ar)
    rho2 = u * u + v * v
    region = part.rgb[sl]
    style = rng.choice(["crater", "chip", "stain"], p=[0.5, 0.25, 0.25])
    if kind == "textile":
        style = "stain"
    if kind == "cast" and rng.random() < 0.5:
        style = "crater"
    if style == "crater":
        depth = rng.uniform(0.6, 1.6)
        hmap = -depth * np.exp(-rho2 * 2.2) * r
        gy, gx = np.gradient(hmap)
        shade = (gx * light[0] + gy * light[1]) * rng.uniform(35, 70)
        dark = np.exp(-rho2 * 3) * rng.uniform(20, 50)
        region += (shade - dark)[..., None]
        m = rho2 < 1.0
    elif style == "chip":
        edge = 1 + 0.15 * np.sin(np.arctan2(v, u) * rng.integers(3, 7) + rng.uniform(0, 6))
        cov = np.clip((edge - np.sqrt(rho2)) * r + 0.5, 0, 1)
        col = np.array([rng.uniform(60, 200)] * 3, np.float32) * rng.uniform(0.9, 1.1, 3)
        rim = np.clip(1 - np.abs(np.sqrt(rho2) - edge) * r / 1.5, 0, 1) * 25
        region[:] = region * (1 - cov[..., None]) + col * cov[..., None] - rim[..., None]
        m = cov > 0.3
    else:
        soft = np.exp(-rho2 ** rng.uniform(1.5, 3) * 1.2)
        # a stain must differ from its surface: dark on light parts, bleached on dark ones
        tint = rng.uniform(0.3, 0.6) if float(region.mean()) > 95 else rng.uniform(1.6, 2.2)
        col = np.array([tint, tint * rng.uniform(0.9, 1.05), tint * rng.uniform(0.8, 1.0)], np.float32)
        region[:] = region * (1 + (col - 1) * soft[..., None])
        m = soft > 0.35
    mask = np.zeros((h, w), np.float32)
    mask[sl] = m.astype(np.float32)
    return mask


def draw_crack(rng, part, cx, cy, size, kind, unit):
    h, w = part.alpha.shape
    L = min(size * rng.uniform(1.5, 3.8), 0.6 * min(part.alpha.shape))
    n = int(rng.integers(8, 16))
    ang = rng.uniform(0, 2 * np.pi)
    step = L / n
    pts = [(cx - 0.5 * L * math.cos(ang), cy - 0.5 * L * math.sin(ang))]
    a = ang
    for _ in range(n):
        a = ang + rng.normal(0, 0.55)
        x, y = pts[-1]
        pts.append((x + step * math.cos(a), y + step * math.sin(a)))
    pts = np.array(pts, np.float32)
    wmax = rng.uniform(1.0, 2.2) * unit * math.sqrt(size / (36 * unit))
    taper = np.sin(np.linspace(0.15, np.pi - 0.15, n)) * wmax
    strokes = [(pts, taper)]
    for _ in range(int(rng.integers(0, 3))):
        k = int(rng.integers(2, n - 1))
        bl = int(rng.integers(2, 5))
        b = [tuple(pts[k])]
        ba = ang + rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)
        for _ in range(bl):
            ba += rng.normal(0, 0.5)
            x, y = b[-1]
            b.append((x + step * 0.8 * math.cos(ba), y + step * 0.8 * math.sin(ba)))
        strokes.append((np.array(b, np.float32), np.linspace(taper[k] * 0.7, 0.3, bl)))
    allp = np.concatenate([s[0] for s in strokes])
    ccx, ccy = allp.mean(0)
    rad = np.max(np.abs(allp - [ccx, ccy])) + wmax + 3
    g = crop_grid(ccx, ccy, rad, h, w)
    if g is None:
        return None
    sl, xx, yy = g
    d = np.full(xx.shape, 1e9, np.float32)
    for p, hwid in strokes:
        d = np.minimum(d, seg_dist(xx, yy, p, hwid))
    cov = coverage(d)
    dark = rng.uniform(0.1, 0.45)
    edge_hi = (coverage(d - 1.2) - cov) * rng.uniform(0, 20)
    region = part.rgb[sl]
    region[:] = region * (1 - cov[..., None] * (1 - dark)) + edge_hi[..., None]
    mask = np.zeros((h, w), np.float32)
    mask[sl] = np.maximum(cov, (d < 1.0).astype(np.float32))
    return mask


def draw_hole(rng, part, cx, cy, size, kind):
    h, w = part.alpha.shape
    r = size * rng.uniform(0.3, 0.65)
    g = crop_grid(cx, cy, r * 1.6 + 4, h, w)
    if g is None:
        return None
    sl, xx, yy = g
    th = np.arctan2(yy - cy, xx - cx)
    rr = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    edge = np.ones_like(th)
    for k in range(2, 7):
        edge += rng.uniform(0, 0.22 / k * 2) * np.sin(k * th + rng.uniform(0, 2 * np.pi))
    edge *= r * rng.uniform(0.85, 1.0)
    d = rr - edge
    open_ = coverage(d)
    rim_w = rng.uniform(1.0, 3.0) * max(1.0, size / 40)
    rim = np.clip(1 - np.abs(d - rim_w / 2) / rim_w, 0, 1) * (1 - open_)
    region = part.rgb[sl]
    burr = rng.uniform(-70, -20) if rng.random() < 0.75 else rng.uniform(20, 50)
    region += (rim * burr)[..., None]
    part.alpha[sl] = np.minimum(part.alpha[sl], 1 - open_)
    mask = np.zeros((h, w), np.float32)
    mask[sl] = ((open_ > 0.3) | (rim > 0.3)).astype(np.float32)
    return mask


# ---------------------------------------------------------------- hard negatives

def draw_distractors(rng, part, kind, scale, along_x, designed, light):
    h, w = part.alpha.shape
    rgb = part.rgb
    # dust specks: tiny, high contrast, unlabelled
    for _ in range(int(rng.integers(0, 14))):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.5, 1.6)
        g = crop_grid(x, y, r + 1, h, w)
        if g is None:
            continue
        sl, xx, yy = g
        c = coverage(np.sqrt((xx - x) ** 2 + (yy - y) ** 2) - r)
        rgb[sl] += (c * rng.choice([-1, 1]) * rng.uniform(30, 90))[..., None]
    # fibres / hairs: short soft curves, faint
    for _ in range(int(rng.integers(0, 3))):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        L = scale * rng.uniform(0.02, 0.06)
        a0 = rng.uniform(0, 2 * np.pi)
        t = np.linspace(0, 1, 8)
        a = a0 + np.cumsum(rng.normal(0, 0.4, 8))
        px = x + np.cumsum(np.cos(a)) * L / 8
        py = y + np.cumsum(np.sin(a)) * L / 8
        g = crop_grid(x, y, L + 2, h, w)
        if g is None:
            continue
        sl, xx, yy = g
        c = coverage(seg_dist(xx, yy, np.stack([px, py], 1), np.full(7, 0.35)))
        rgb[sl] += (c * rng.choice([-1, 1]) * rng.uniform(10, 30))[..., None]
    # texture lines along the grain (tooling marks): long, parallel to the grain
    if kind in ("metal", "cast") and rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 4))):
            if along_x:
                y = rng.uniform(0, h)
                pts = np.array([[0, y], [w, y + rng.normal(0, 2)]], np.float32)
            else:
                x = rng.uniform(0, w)
                pts = np.array([[x, 0], [x + rng.normal(0, 2), h]], np.float32)
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            c = coverage(seg_dist(xx, yy, pts, np.array([rng.uniform(0.3, 1.0)])))
            rgb += (c * rng.choice([-1, 1]) * rng.uniform(8, 22))[..., None]
    # printed marking / label: dark blocks, a barcode, a white sticker
    if rng.random() < 0.35:
        lw, lh = w * rng.uniform(0.15, 0.35), h * rng.uniform(0.08, 0.18)
        x0, y0 = rng.uniform(0.1, 0.9 - lw / w) * w, rng.uniform(0.1, 0.9 - lh / h) * h
        xs = slice(int(x0), int(x0 + lw))
        ys = slice(int(y0), int(y0 + lh))
        if rng.random() < 0.5:   # sticker with barcode
            rgb[ys, xs] = rgb[ys, xs] * 0.1 + rng.uniform(200, 245)
            bars = rng.random(max(2, int(lw / 2))) < 0.5
            col = np.repeat(bars, 2)[: rgb[ys, xs].shape[1]]
            inner = rgb[ys, xs][int(lh * 0.2): int(lh * 0.8)]
            inner[:, : len(col)][:, col] *= 0.15
        else:                   # ink-jet text: rows of small dark blocks
            ink = rng.uniform(0.15, 0.5)
            nch = int(rng.integers(4, 12))
            cw = lw / nch
            for k in range(nch):
                if rng.random() < 0.15:
                    continue
                cx0 = int(x0 + k * cw + cw * 0.15)
                rgb[int(y0): int(y0 + lh), cx0: int(cx0 + cw * 0.6)] *= ink
    # designed openings get a bright chamfer ring
    for (hx, hy, rr) in designed:
        g = crop_grid(hx, hy, rr + 4, h, w)
        if g is None:
            continue
        sl, xx, yy = g
        d = np.sqrt((xx - hx) ** 2 + (yy - hy) ** 2) - rr
        ring = np.clip(1 - np.abs(d - 1.5) / 1.5, 0, 1)
        rgb[sl] += (ring * rng.uniform(20, 60))[..., None]
    # glare: a soft bright blob
    if rng.random() < 0.4:
        gx, gy = rng.uniform(0, w), rng.uniform(0, h)
        s = scale * rng.uniform(0.03, 0.12)
        g = crop_grid(gx, gy, 3 * s, h, w)
        if g is not None:
            sl, xx, yy = g
            a = np.exp(-(((xx - gx) / s) ** 2 + ((yy - gy) / (s * rng.uniform(0.3, 1))) ** 2))
            rgb[sl] += (a * rng.uniform(40, 110))[..., None]


# A class drawn in a look the training data never has (a line whose defects differ from the
# synthetic ones): the defect's pixels tinted to one saturated colour, shading kept.
STYLES = {"neon": (60, 255, 60), "cobalt": (40, 80, 255)}


def parse_restyle(text):
    """"crack:neon" -> {2: "neon"}; None or "" -> None."""
    if not text:
        return None
    out = {}
    for item in text.split(","):
        cls, _, style = item.partition(":")
        if cls not in CLASSES or style not in STYLES:
            raise SystemExit(f"--restyle: expected CLASS:STYLE with a class of {CLASSES} and a style of {sorted(STYLES)}, received {item!r}")
        out[CLASSES.index(cls)] = style
    return out


def tint(part, mask, colour):
    m = np.clip(mask, 0, 1)[..., None] * (part.alpha[..., None] > 0)
    col = np.array(colour, np.float32) * (0.6 + 0.4 * part.rgb.mean(-1, keepdims=True) / 255)
    part.rgb[:] = part.rgb * (1 - m) + col * m


def render_part(rng, pw, ph, kind, n_defects, scale, min_size, restyle=None):
    """One part sprite with its defects. scale is the frame width in pixels;
    restyle ({class: style}) draws those classes in a look of STYLES."""
    alpha, designed = part_shape(rng, ph, pw, kind)
    rgb, along_x = surface(rng, ph, pw, kind, scale)
    la = rng.uniform(0, 2 * np.pi)
    light = (math.cos(la), math.sin(la))
    rgb += bevel(alpha, light, rng.uniform(10, 35), rng.uniform(1.0, 3.0))[..., None]
    part = Part(rgb=rgb, alpha=alpha, kind=kind)
    draw_distractors(rng, part, kind, scale, along_x, designed, light)
    placed = []
    tries = 0
    while len(part.masks) < n_defects and tries < n_defects * 6:
        tries += 1
        cls = int(rng.choice(4, p=[0.27, 0.25, 0.25, 0.23]))
        size = min(min_size * math.exp(rng.uniform(0, math.log(3.0))), 0.3 * min(part.alpha.shape))
        pts = interior_points(rng, part.alpha, size * 0.9, 1)
        if not pts:
            break
        cx, cy = pts[0]
        if any(math.hypot(cx - px, cy - py) < (size + ps) * 1.3 for (px, py, ps) in placed):
            continue
        if cls == 0:
            m = draw_scratch(rng, part, cx, cy, size, kind, scale / 1280)
        elif cls == 1:
            m = draw_dent(rng, part, cx, cy, size, kind, light)
        elif cls == 2:
            m = draw_crack(rng, part, cx, cy, size, kind, scale / 1280)
        else:
            m = draw_hole(rng, part, cx, cy, size, kind)
        if m is None:
            continue
        m *= part.alpha > 0 if cls != 3 else 1
        if restyle and cls in restyle:   # no draw from rng: the rest of the scene stays the same
            tint(part, m, STYLES[restyle[cls]])
        part.masks.append((cls, m))
        placed.append((cx, cy, size * (2.0 if cls in (0, 2) else 0.7)))
    return part


# ---------------------------------------------------------------- scene

def belt(rng, w, h):
    """Conveyor background: rubber belt with seams, or a roller bed."""
    kind = rng.choice(["belt", "belt", "rollers"])
    g = rng.uniform(25, 95)
    tint = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    n = smooth_noise(rng, h, w, 1.3) * rng.uniform(2, 6) + smooth_noise(rng, h, w, w * 0.05) * rng.uniform(2, 8)
    img[:] = (g + n)[..., None] * tint
    xs = np.arange(w, dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)
    if kind == "rollers":
        period = w * rng.uniform(0.04, 0.09)
        ph = (xs / period + rng.uniform(0, 1)) % 1.0
        prof = np.cos((ph - 0.5) * np.pi) ** 2 * rng.uniform(30, 80) - (ph > 0.94) * 30
        img += prof[None, :, None]
    else:
        seam_every = w * rng.uniform(0.3, 0.8)
        off = rng.uniform(0, seam_every)
        for sx in np.arange(off, w, seam_every):
            c = coverage(np.abs(xs - sx) - rng.uniform(1, 3))
            img += (c * rng.uniform(-35, 35))[None, :, None]
        streak = resize_f(rng.standard_normal((h, 4)).astype(np.float32), w, h, Image.BILINEAR)
        img += (streak * rng.uniform(1, 5))[..., None]
    # guide rails along the top and bottom
    if rng.random() < 0.7:
        rh = h * rng.uniform(0.06, 0.12)
        rail = np.minimum(ys, h - 1 - ys) < rh
        metal = rng.uniform(120, 190) + 25 * np.cos(np.minimum(ys, h - 1 - ys) / rh * np.pi)
        img[rail] = metal[rail][:, None, None] + img[rail] * 0.15
    return img


@dataclass
class Sprite:
    """A part rotated into frame orientation: RGB, alpha and per-defect masks."""
    rgb: np.ndarray
    alpha: np.ndarray
    masks: list   # [(class_id, bool mask)]


def rotate_part(part: Part, angle: float) -> Sprite:
    rot = lambda a: np.asarray(Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), "F").rotate(angle, Image.BILINEAR, expand=True))
    rgb = np.dstack([rot(np.clip(part.rgb[..., c], 0, 255)) for c in range(3)])
    alpha = rot(part.alpha * 255.0) / 255.0
    return Sprite(rgb=rgb, alpha=alpha, masks=[(cls, rot(m * 255.0) > 127) for cls, m in part.masks])


def composite(frame, sp: Sprite, x, y, shadow, frame_w, labels=None):
    """Composite a sprite centred at (x, y); append its visible defect boxes to labels."""
    a = sp.alpha
    H, W = frame.shape[:2]
    rh, rw = a.shape
    x0, y0 = int(round(x - rw / 2)), int(round(y - rh / 2))
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(W, x0 + rw), min(H, y0 + rh)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    sx, sy = slice(fx0 - x0, fx1 - x0), slice(fy0 - y0, fy1 - y0)
    fs = (slice(fy0, fy1), slice(fx0, fx1))
    # soft shadow, offset down-right
    if shadow > 0:
        sh = blur(a, frame_w * 0.006)
        off = max(1, int(frame_w * 0.006))
        shp = np.zeros_like(sh)
        shp[off:, off:] = sh[:-off, :-off]
        frame[fs] *= (1 - shadow * shp[sy, sx])[..., None]
    frame[fs] = frame[fs] * (1 - a[sy, sx, None]) + sp.rgb[sy, sx] * a[sy, sx, None]
    if labels is None:
        return
    for mi, (cls, full) in enumerate(sp.masks):
        fys, fxs = np.nonzero(full)
        if len(fxs) == 0:
            continue
        full_area = (fxs.max() - fxs.min() + 1) * (fys.max() - fys.min() + 1)
        ys, xs = np.nonzero(full[sy, sx])
        if len(xs) == 0:
            continue
        bx0, by0 = xs.min() + fx0, ys.min() + fy0
        bx1, by1 = xs.max() + fx0 + 1, ys.max() + fy0 + 1
        vis = (bx1 - bx0) * (by1 - by0) / max(1, full_area)
        labels.append({"class": cls, "box": [float(bx0), float(by0), float(bx1), float(by1)], "vis": float(vis), "mask": mi})


def place(rng, frame, part, x, y, angle, labels, shadow, frame_w):
    """Rotate a part sprite and composite it onto the frame; append defect boxes."""
    composite(frame, rotate_part(part, angle), x, y, shadow, frame_w, labels)


def finish(rng, img, labels, w):
    """Lighting, optics and sensor: the same chain for every frame."""
    h = img.shape[0]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ga = rng.uniform(0, 2 * np.pi)
    grad = 1 + rng.uniform(0, 0.35) * ((xx / w - 0.5) * math.cos(ga) + (yy / h - 0.5) * math.sin(ga)) * 2
    vig = 1 - rng.uniform(0, 0.35) * (((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 2)
    cast = rng.uniform(0.88, 1.12, 3).astype(np.float32)
    img = img * (grad * vig)[..., None] * cast * rng.uniform(0.7, 1.25)
    # a broad glare patch that can sit on parts or belt
    if rng.random() < 0.35:
        gx, gy, s = rng.uniform(0, w), rng.uniform(0, h), w * rng.uniform(0.05, 0.15)
        img += (np.exp(-(((xx - gx) / s) ** 2 + ((yy - gy) / (s * 0.5)) ** 2)) * rng.uniform(30, 90))[..., None]
    mb = 0
    if rng.random() < 0.35:
        mb = int(rng.integers(1, 5))
        img = np.stack([box_blur(img[..., c], mb, 1) for c in range(3)], -1)
    if rng.random() < 0.4:
        s = rng.uniform(0.4, 1.3) * w / 1280
        img = np.stack([blur(img[..., c], s) for c in range(3)], -1)
    sigma = rng.uniform(1, 7)
    img = img + rng.standard_normal(img.shape).astype(np.float32) * sigma * np.sqrt(np.clip(img, 1, 255) / 128)
    gamma = rng.uniform(0.85, 1.15)
    img = 255 * (np.clip(img, 0, 255) / 255) ** gamma
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, "JPEG", quality=int(rng.integers(55, 95)))
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    for lb in labels:
        lb["box"][0] -= mb
        lb["box"][2] += mb
    return out


def make_scene(seed: int, size=None, render_scale: float = 1.0, restyle=None):
    """Render one frame. Returns (uint8 HxWx3 array, [{class, x, y, w, h}])."""
    rng = np.random.default_rng(seed)
    cw, ch = size if size is not None else CAMERA_SIZES[int(rng.integers(0, len(CAMERA_SIZES)))]
    w, h = max(64, int(round(cw * render_scale))), max(36, int(round(ch * render_scale)))
    img = belt(rng, w, h)
    labels = []
    n_parts = int(rng.choice([1, 2, 2, 3]))
    xs = np.sort(rng.uniform(0.05, 0.95, n_parts)) * w
    if n_parts > 1:   # keep parts apart along the belt
        xs = (np.arange(n_parts) + 0.5 + rng.uniform(-0.2, 0.2, n_parts)) / n_parts * w
    for i in range(n_parts):
        kind = KINDS[int(rng.integers(0, 4))]
        pw = int(w * rng.uniform(0.2, 0.4) * (0.8 if n_parts == 3 else 1.0))
        ph = int(pw * rng.uniform(0.5, 1.0))
        if rng.random() < 0.5:
            pw, ph = ph, pw
        ph = min(ph, int(h * 0.8))
        n_def = 0 if rng.random() < 0.3 else int(rng.choice([1, 1, 2, 2, 3]))
        part = render_part(rng, pw, ph, kind, n_def, w, min_size=w * 0.028, restyle=restyle)
        y = h * rng.uniform(0.35, 0.65)
        place(rng, img, part, xs[i], y, rng.uniform(0, 360), labels, rng.uniform(0.2, 0.6), w)
    out = finish(rng, img, labels, w)
    boxes = []
    for lb in labels:
        x0, y0, x1, y1 = lb["box"]
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if lb["vis"] < 0.5 or x1 - x0 < 2 or y1 - y0 < 2:
            continue
        boxes.append({"class": lb["class"], "x": x0 / render_scale, "y": y0 / render_scale,
                      "w": (x1 - x0) / render_scale, "h": (y1 - y0) / render_scale})
    if render_scale != 1.0:
        out = np.asarray(Image.fromarray(out).resize((cw, ch), Image.BILINEAR))
    return out, boxes


# ---------------------------------------------------------------- letterbox

def letterbox(img: np.ndarray, boxes, s: int, resample=Image.BILINEAR):
    """Ultralytics letterbox: keep aspect, centre, pad 114. Boxes -> cx,cy,w,h in model pixels."""
    h, w = img.shape[:2]
    r = min(s / w, s / h)
    nw, nh = int(round(w * r)), int(round(h * r))
    px, py = (s - nw) // 2, (s - nh) // 2
    out = np.full((s, s, 3), 114, np.uint8)
    out[py:py + nh, px:px + nw] = np.asarray(Image.fromarray(img).resize((nw, nh), resample))
    lab = np.array([[b["class"], b["x"] * r + px + b["w"] * r / 2, b["y"] * r + py + b["h"] * r / 2,
                     b["w"] * r, b["h"] * r] for b in boxes], np.float32).reshape(-1, 5)
    return out, lab


# ---------------------------------------------------------------- CLI

def write_split(split: str, out: str, count: int, start: int, size=None, restyle=None, ext: str = "png") -> None:
    os.makedirs(out, exist_ok=True)
    images = []
    for i in range(start, start + count):
        img, boxes = make_scene(SPLIT_BASE[split] + i, size=size, restyle=restyle)
        name = f"{i + 1:06d}.{ext}"
        Image.fromarray(img).save(os.path.join(out, name), **({"quality": 92} if ext == "jpg" else {}))
        images.append({"file": name, "width": img.shape[1], "height": img.shape[0],
                       "boxes": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in b.items()} for b in boxes]})
        if (i - start + 1) % 50 == 0:
            print(f"{split}: {i - start + 1}/{count}", file=sys.stderr)
    with open(os.path.join(out, "labels.json"), "w") as f:
        json.dump({"classes": CLASSES, "split": split, "seed_base": SPLIT_BASE[split], "images": images}, f, indent=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=sorted(SPLIT_BASE), required=True)
    ap.add_argument("--out", required=True, help="directory for PNG frames and labels.json")
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--start", type=int, default=0, help="index of the first frame in the split")
    ap.add_argument("--size", help="frame size WxH for every frame (default: one of CAMERA_SIZES per frame)")
    ap.add_argument("--restyle", help=f"draw classes in a new look, e.g. crack:neon (styles: {', '.join(sorted(STYLES))})")
    ap.add_argument("--jpg", action="store_true", help="JPEG frames (quality 92) instead of PNG")
    a = ap.parse_args()
    size = tuple(int(v) for v in a.size.split("x")) if a.size else None
    write_split(a.split, a.out, a.count, a.start, size, parse_restyle(a.restyle), "jpg" if a.jpg else "png")


if __name__ == "__main__":
    main()
