"""A compact anchor-free detector in the YOLOv8 mould, written for CPU training.

Backbone: strided 3x3 convs and CSP blocks (split, a few bottlenecks on one
half, concatenate, fuse) down to stride 32, then SPPF. Neck: a light PAN (top
down then bottom up). Head: decoupled per level (box branch, class branch), one
prediction per grid cell: distances to the four box sides and one logit per
class. No objectness, no anchors, no DFL: distances are softplus(x) * stride.

In training mode `forward` returns raw per-level maps; `decode` turns them into
boxes. `ExportWrapper` produces the YOLOv8 export layout [B, 4 + nc, N] with
cx, cy, w, h in input pixels and sigmoid class scores.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

STRIDES = (8, 16, 32)


class Conv(nn.Module):
    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool = True):
        super().__init__()
        self.cv1 = Conv(c, c, 3)
        self.cv2 = Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class CSP(nn.Module):
    """C2f-style block: every bottleneck output joins the final 1x1 fusion."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True):
        super().__init__()
        self.h = c2 // 2
        self.cv1 = Conv(c1, 2 * self.h, 1)
        self.m = nn.ModuleList(Bottleneck(self.h, shortcut) for _ in range(n))
        self.cv2 = Conv((2 + n) * self.h, c2, 1)

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.cv1 = Conv(c, c // 2, 1)
        self.cv2 = Conv(c // 2 * 4, c, 1)
        self.pool = nn.MaxPool2d(5, 1, 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(torch.cat([x, y1, y2, self.pool(y2)], 1))


class Head(nn.Module):
    def __init__(self, c: int, nc: int, ch: int, stride: int, imgsz: int):
        super().__init__()
        self.box = nn.Sequential(Conv(c, ch, 3), Conv(ch, ch, 3), nn.Conv2d(ch, 4, 1))
        self.cls = nn.Sequential(Conv(c, ch, 3), Conv(ch, ch, 3), nn.Conv2d(ch, nc, 1))
        # start from a prior of ~5 objects per image spread over this level's cells
        nn.init.constant_(self.cls[-1].bias, math.log(5 / nc / (imgsz / stride) ** 2))
        nn.init.constant_(self.box[-1].bias, 1.0)

    def forward(self, x):
        return self.box(x), self.cls(x)


class Detector(nn.Module):
    def __init__(self, nc: int = 4, width=(16, 32, 64, 128, 192), imgsz: int = 320, head_ch: int = 40):
        super().__init__()
        c0, c1, c2, c3, c4 = width
        self.nc = nc
        self.stem = nn.Sequential(Conv(3, c0, 3, 2), Conv(c0, c1, 3, 2), CSP(c1, c1, 1))
        self.d3 = nn.Sequential(Conv(c1, c2, 3, 2), CSP(c2, c2, 2))
        self.d4 = nn.Sequential(Conv(c2, c3, 3, 2), CSP(c3, c3, 2))
        self.d5 = nn.Sequential(Conv(c3, c4, 3, 2), CSP(c4, c4, 1), SPPF(c4))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.td4 = CSP(c4 + c3, c3, 1, shortcut=False)
        self.td3 = CSP(c3 + c2, c2, 1, shortcut=False)
        self.dn3 = Conv(c2, c2, 3, 2)
        self.bu4 = CSP(c2 + c3, c3, 1, shortcut=False)
        self.dn4 = Conv(c3, c3, 3, 2)
        self.bu5 = CSP(c3 + c4, c4, 1, shortcut=False)
        self.heads = nn.ModuleList(Head(c, nc, head_ch, s, imgsz) for c, s in zip((c2, c3, c4), STRIDES))

    def forward(self, x):
        p3 = self.d3(self.stem(x))
        p4 = self.d4(p3)
        p5 = self.d5(p4)
        t4 = self.td4(torch.cat([self.up(p5), p4], 1))
        n3 = self.td3(torch.cat([self.up(t4), p3], 1))
        n4 = self.bu4(torch.cat([self.dn3(n3), t4], 1))
        n5 = self.bu5(torch.cat([self.dn4(n4), p5], 1))
        return [h(f) for h, f in zip(self.heads, (n3, n4, n5))]


def anchors(feats, strides=STRIDES):
    """Cell centres [A, 2] in input pixels and their stride [A]."""
    pts, st = [], []
    for (box, _), s in zip(feats, strides):
        h, w = box.shape[-2:]
        sy, sx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
        pts.append(torch.stack([sx, sy], -1).reshape(-1, 2) * s + s / 2)
        st.append(torch.full((h * w,), float(s)))
    return torch.cat(pts), torch.cat(st)


def flatten(feats):
    """Per-level maps -> distances [B, A, 4] (raw) and class logits [B, A, nc]."""
    box = torch.cat([b.flatten(2) for b, _ in feats], 2).transpose(1, 2)
    cls = torch.cat([c.flatten(2) for _, c in feats], 2).transpose(1, 2)
    return box, cls


def decode(box_raw, anc, stride):
    """Raw distances -> xyxy boxes in input pixels."""
    d = F.softplus(box_raw) * stride[None, :, None]
    return torch.cat([anc - d[..., :2], anc + d[..., 2:]], -1)


class ExportWrapper(nn.Module):
    """YOLOv8 export layout: [B, 4 + nc, N], rows cx, cy, w, h, then class scores."""

    def __init__(self, model: Detector, imgsz: int):
        super().__init__()
        self.model = model
        with torch.no_grad():
            feats = model(torch.zeros(1, 3, imgsz, imgsz))
        anc, st = anchors(feats)
        self.register_buffer("anc", anc)
        self.register_buffer("st", st[:, None])

    def forward(self, images):
        box_raw, cls = flatten(self.model(images))
        d = F.softplus(box_raw) * self.st
        lt, rb = d[..., :2], d[..., 2:]
        cxcy = self.anc + (rb - lt) / 2
        wh = lt + rb
        return torch.cat([cxcy, wh, cls.sigmoid()], -1).transpose(1, 2)


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


if __name__ == "__main__":
    import time

    torch.set_num_threads(2)
    for s in (320, 416, 640):
        m = Detector(imgsz=s)
        x = torch.rand(8, 3, s, s)
        opt = torch.optim.SGD(m.parameters(), lr=1e-3)
        for i in range(3):
            t = time.time()
            out = m(x)
            loss = sum(b.mean() + c.mean() for b, c in out)
            loss.backward()
            opt.step()
            opt.zero_grad()
            dt = time.time() - t
        m.eval()
        with torch.no_grad():
            t = time.time()
            m(x[:1])
            m(x[:1])
            inf = (time.time() - t) / 2
        print(f"imgsz {s}: params {count_params(m)/1e6:.2f} M, train {dt / 8 * 1000:.0f} ms/img, torch infer {inf*1000:.0f} ms/img")
