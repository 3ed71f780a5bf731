#!/usr/bin/env /usr/bin/python3
"""Render the demo clip: parts riding a conveyor past a fixed camera.

Parts (made by the same generator as the training data, from a seed that no
split uses) enter on the left, cross the frame at constant belt speed and leave
on the right; one to three are in view at any time. Most carry defects. Raw RGB
frames go to the ffmpeg CLI on stdin (H.264, yuv420p, a keyframe every second,
no B-frames, so RTSP re-streaming and seeking stay cheap).

Ground truth goes next to the clip: for every defect, the part it sits on, its
class, the first and last time it is visible (visible = at least half of its
box inside the frame, as in the test split) and its box in every frame of that
span, in source pixels (x, y top-left).

    make_clip.py [--out models/demo/conveyor.mp4] [--seconds 40] [--fps 15]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth  # noqa: E402

W, H = 1280, 720


def plan_parts(rng, seconds, speed, spacing):
    """Centre x at t = 0 for each part, spaced along the belt so 1-3 are in view."""
    xs = []
    x = W * 0.55   # the clip opens with parts already in view
    while True:
        xs.append(x)
        x -= spacing * rng.uniform(0.95, 1.1)
        if x + speed * seconds < -W * 0.3:
            break
    return xs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models/demo/conveyor.mp4")
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--speed", type=float, default=330, help="belt speed, pixels per second")
    ap.add_argument("--spacing", type=float, default=620, help="mean distance between part centres, pixels")
    ap.add_argument("--crf", type=int, default=27)
    ap.add_argument("--seed", type=int, default=synth.CLIP_SEED)
    ap.add_argument("--restyle", help="draw classes in a look the training data lacks, e.g. crack:neon")
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    n_frames = int(round(a.seconds * a.fps))
    step = a.speed / a.fps
    belt_len = int(W + a.speed * a.seconds + 64)
    belt = synth.belt(rng, belt_len, H)
    # static lighting: one gradient, vignette and colour cast for the whole clip
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    ga = rng.uniform(0, 2 * np.pi)
    gain = (1 + 0.25 * ((xx / W - 0.5) * math.cos(ga) + (yy / H - 0.5) * math.sin(ga)) * 2) \
        * (1 - 0.25 * ((xx / W - 0.5) ** 2 + (yy / H - 0.5) ** 2) * 2)
    gain = (gain[..., None] * rng.uniform(0.92, 1.08, 3)).astype(np.float32)
    glare = np.exp(-(((xx - W * 0.62) / 160) ** 2 + ((yy - H * 0.3) / 80) ** 2))[..., None] * 45

    parts = []
    for i, x0 in enumerate(plan_parts(rng, a.seconds, a.speed, a.spacing)):
        kind = synth.KINDS[int(rng.integers(0, 4))]
        pw = int(W * rng.uniform(0.17, 0.25))
        ph = int(pw * rng.uniform(0.55, 1.0))
        if rng.random() < 0.5:
            pw, ph = ph, pw
        # time fully in view; a part seen for too short a time (clip edges) stays clean
        t_in = (W - pw / 2 - x0) / a.speed - (W - pw) / a.speed
        t_out = (W - pw / 2 - x0) / a.speed
        span = min(t_out, a.seconds) - max(t_in, 0)
        n_def = 0 if (rng.random() < 0.15 or span < 2.5) else int(rng.choice([1, 2, 2]))
        for _ in range(6):   # placement can fail on a small or narrow part: draw again
            part = synth.render_part(rng, pw, ph, kind, n_def, W, min_size=W * 0.03, restyle=synth.parse_restyle(a.restyle))
            if len(part.masks) == n_def:
                break
        sprite = synth.rotate_part(part, rng.uniform(0, 360))
        cols = np.nonzero(sprite.alpha.max(0) > 0.05)[0]
        parts.append({"id": i + 1, "kind": kind, "x0": x0, "y": H * rng.uniform(0.42, 0.58),
                      "sprite": sprite, "tracks": [[] for _ in sprite.masks],
                      "extent": (cols[0] - sprite.alpha.shape[1] / 2, cols[-1] + 1 - sprite.alpha.shape[1] / 2)})

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{W}x{H}", "-r", str(a.fps), "-i", "-", "-c:v", "libx264", "-preset", "medium", "-crf", str(a.crf),
           "-maxrate", "1600k", "-bufsize", "3200k", "-g", str(a.fps), "-bf", "0", "-pix_fmt", "yuv420p",
           "-movflags", "+faststart", a.out]
    ff = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    t0 = time.time()
    visible_max = 0
    for f in range(n_frames):
        shift = int(round(f * step))
        # the belt moves with the parts: the frame shows belt coordinates [L - shift, L - shift + W)
        off = belt_len - W - shift
        frame = belt[:, off:off + W].copy()
        labels_by_part = []
        in_view = 0
        for p in parts:
            x = p["x0"] + shift
            sp = p["sprite"]
            if x + sp.alpha.shape[1] / 2 < 0 or x - sp.alpha.shape[1] / 2 > W:
                continue
            in_view += int(x + p["extent"][1] > 0 and x + p["extent"][0] < W)
            labels = []
            synth.composite(frame, sp, x, p["y"], 0.4, W, labels)
            labels_by_part.append((p, labels))
        visible_max = max(visible_max, in_view)
        img = synth.box_blur(frame * gain + glare, 1, 1)   # ~3 px of motion in the exposure
        img = img + rng.standard_normal(img.shape).astype(np.float32) * 2.0
        ff.stdin.write(np.clip(img + 0.5, 0, 255).astype(np.uint8).tobytes())
        for p, labels in labels_by_part:
            for lb in labels:
                if lb["vis"] < 0.5:
                    continue
                x0, y0, x1, y1 = lb["box"]
                x0, x1 = max(0, x0 - 1), min(W, x1 + 1)   # the motion blur
                p["tracks"][lb["mask"]].append({"t": round(f / a.fps, 4), "x": round(x0, 1), "y": round(y0, 1),
                                                "w": round(x1 - x0, 1), "h": round(y1 - y0, 1)})
    ff.stdin.close()
    if ff.wait() != 0:
        raise SystemExit(f"ffmpeg failed with exit code {ff.returncode}")

    defects, summary = [], []
    for p in parts:
        for mi, (cls, _) in enumerate(p["sprite"].masks):
            tr = p["tracks"][mi]
            if not tr:
                continue
            defects.append({"part": p["id"], "class": cls, "className": synth.CLASSES[cls],
                            "from_s": tr[0]["t"], "to_s": tr[-1]["t"], "track": tr})
        summary.append({"part": p["id"], "kind": p["kind"], "defects": len(p["sprite"].masks)})
    short = [d for d in defects if d["to_s"] - d["from_s"] < 1.5]
    truth = {
        "video": os.path.basename(a.out), "width": W, "height": H, "fps": a.fps, "frames": n_frames,
        "duration_s": n_frames / a.fps, "seed": a.seed, "belt_speed_px_s": a.speed, "classes": synth.CLASSES,
        "parts": summary, "defects": defects,
    }
    truth_path = os.path.splitext(a.out)[0] + ".truth.json"
    with open(truth_path, "w") as fh:
        json.dump(truth, fh, separators=(",", ":"))
    size = os.path.getsize(a.out)
    per_class = {c: sum(d["className"] == c for d in defects) for c in synth.CLASSES}
    print(f"wrote {a.out}: {n_frames} frames, {n_frames / a.fps:.1f} s, {size / 1e6:.2f} MB, rendered in {time.time() - t0:.0f} s")
    print(f"wrote {truth_path}: {len(parts)} parts ({sum(1 for s in summary if s['defects'] == 0)} clean), "
          f"{len(defects)} defects {per_class}, at most {visible_max} parts in view, "
          f"shortest defect track {min((d['to_s'] - d['from_s'] for d in defects), default=0):.2f} s")
    if short:
        raise SystemExit(f"{len(short)} defect(s) visible for less than 1.5 s")


if __name__ == "__main__":
    main()
