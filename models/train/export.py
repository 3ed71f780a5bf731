#!/usr/bin/env /usr/bin/python3
"""Export a trained checkpoint to ONNX in the YOLOv8 export layout.

    input   images   float32 [batch, 3, S, S], RGB, 0..1, letterboxed (pad 114)
    output  output0  float32 [batch, 4 + nc, N], rows cx, cy, w, h (input pixels),
                     then one sigmoid score per class; no objectness

metadata_props follow Ultralytics (names as a Python dict string, imgsz,
stride, task), so any YOLOv8 consumer, linesight's own decoder included,
reads the model without special cases.

    export.py [--ckpt data/model-train/linesight-defects.pt] [--out models/linesight-defects-v1.onnx]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys

import onnx
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Detector, ExportWrapper, STRIDES, count_params  # noqa: E402

VERSION = "1.1.0"


def write_onnx(model: Detector, names, s: int, out: str, version: str, description: str, extra=None, opset: int = 17, quiet=False):
    """Trace `model` into the YOLOv8 export layout at `out` with Ultralytics metadata
    plus `extra` metadata_props; returns the torch output of the check input."""
    model.eval()
    wrapper = ExportWrapper(model, s).eval()
    x = torch.rand(2, 3, s, s)
    with torch.no_grad():
        ref = wrapper(x)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.onnx.export(wrapper, x, out, opset_version=opset, input_names=["images"], output_names=["output0"],
                      dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}}, do_constant_folding=True)

    m = onnx.load(out)
    # the tracer leaves the class and anchor axes symbolic; a YOLOv8 export states them
    dims = m.graph.output[0].type.tensor_type.shape.dim
    for d, v in zip(dims[1:], ref.shape[1:]):
        d.Clear()
        d.dim_value = int(v)
    meta = {
        "description": description,
        "author": "linesight",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "version": version,
        "task": "detect",
        "stride": str(max(STRIDES)),
        "batch": "1",
        "imgsz": f"[{s}, {s}]",
        "names": "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(names)) + "}",
        **(extra or {}),
    }
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.producer_name = "linesight"
    m.producer_version = version
    m.doc_string = meta["description"]
    onnx.checker.check_model(m)
    onnx.save(m, out)

    if quiet:
        return meta
    shape = [d.dim_param or d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
    print(f"wrote {out}: {os.path.getsize(out) / 1e6:.2f} MB, opset {opset}, output0 {shape}, torch ref {tuple(ref.shape)}")
    for k, v in meta.items():
        print(f"  {k}: {v}")
    return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="data/model-train/linesight-defects.pt")
    ap.add_argument("--out", default="models/linesight-defects-v1.onnx")
    ap.add_argument("--opset", type=int, default=17)
    a = ap.parse_args()

    ck = torch.load(a.ckpt, map_location="cpu")
    s, names = ck["imgsz"], ck["names"]
    model = Detector(nc=ck["nc"], imgsz=s)
    model.load_state_dict(ck["model"])
    val = ck.get("val", {})
    description = (f"linesight surface-defect detector v{VERSION}: anchor-free YOLO-style CNN "
                   f"({count_params(model) / 1e6:.2f} M parameters) trained on synthetic conveyor frames; "
                   f"val mAP50 {val.get('map50', float('nan')):.3f}. Fine-tune on real line images before production.")
    write_onnx(model, names, s, a.out, VERSION, description, opset=a.opset)


if __name__ == "__main__":
    main()
