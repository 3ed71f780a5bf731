#!/usr/bin/env /usr/bin/python3
"""Post-training static quantization of the exported detector to a QDQ INT8 model.

QDQ format (QuantizeLinear / DequantizeLinear, opset >= 13): the graph stays the
FP32 graph with every convolution's input, weight, bias and output wrapped in
quantize/dequantize pairs. onnxruntime fuses DQ -> Conv -> Q into an integer
convolution on the CPU; TensorRT reads the same pairs as explicit INT8
quantization, so no calibration cache is needed on the box.

    weights      int8, symmetric, one scale per output channel (axis 0)
    biases       int32, scale = input scale x weight scale, zero point 0
    activations  one scale per tensor, from calibration on synthetic frames:
                 uint8 asymmetric (the default: onnxruntime's fast U8S8 path on
                 x86, and SiLU outputs use all 256 levels) or int8 symmetric
                 (--activations int8: zero point 0, what TensorRT accepts)
    int8 region  every activation from the image up to the head's last layers:
                 convolutions, SiLU (sigmoid and product), residual adds,
                 concats, and the max-pools, resizes and slices in between
    float        the head's last 1x1 convolutions (box distances, class logits)
                 and everything after them: decode, sigmoid, concat

Calibration renders --frames training-split frames with synth.py (the model has
seen their distribution, the test split stays unseen), letterboxes them to the
model input, and measures every quantized tensor's range with onnxruntime-node
(calibrate.mjs). A tensor's range is the mean over batches of the batch minimum
and maximum, which ignores the rare extreme activation that a global min/max
would spend the 256 levels on.

The output keeps the input and output names, shapes and every metadata entry
of the FP32 model and adds `precision` = `int8-qdq`.

    quantize.py [--model models/linesight-defects-v1.onnx] [--out models/linesight-defects-v1-int8.onnx]
                [--frames 256] [--activations uint8|int8] [--range mean|minmax] [--scope all|conv] [--quantize-head]
                [--calib-data DIR]

A model fine-tuned on the line's pictures (finetune.py) is quantized the same
way, with --calib-data naming the dataset it was fine-tuned on, so that the
ranges cover the line's look too.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synth  # noqa: E402

PRECISION = "int8-qdq"
CACHE = "data/model-quant"


def model_size(m: onnx.ModelProto) -> int:
    dims = m.graph.input[0].type.tensor_type.shape.dim
    return int(dims[3].dim_value)


def render_frames(count: int, size: int, path: str) -> None:
    """Training-split scenes letterboxed to the model input, as raw RGB24 frames."""
    if os.path.exists(path) and os.path.getsize(path) == count * size * size * 3:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".part", "wb") as f:
        for i in range(count):
            img, boxes = synth.make_scene(synth.SPLIT_BASE["train"] + i)
            frame, _ = synth.letterbox(img, boxes, size)
            f.write(np.ascontiguousarray(frame, np.uint8).tobytes())
            if (i + 1) % 32 == 0:
                print(f"quantize: rendered {i + 1}/{count} calibration frames", file=sys.stderr)
    os.replace(path + ".part", path)


def add_line_frames(folder: str, size: int, synthetic_path: str, path: str) -> int:
    """The synthetic calibration frames followed by the line's own pictures (an
    exported dataset's images/*/, or a folder of pictures), letterboxed the same
    way, in one raw RGB24 file. Returns how many pictures came from the line."""
    from PIL import Image  # only this option reads pictures

    files = sorted(glob.glob(os.path.join(folder, "images", "*", "*"))) or sorted(glob.glob(os.path.join(folder, "*")))
    files = [f for f in files if f.lower().endswith((".jpg", ".jpeg", ".png"))]
    if not files:
        raise SystemExit(f"--calib-data {folder}: expected an exported dataset (images/train, images/val) or a folder of .jpg/.png pictures, found none")
    with open(path + ".part", "wb") as f:
        with open(synthetic_path, "rb") as s:
            f.write(s.read())
        for name in files:
            img = np.asarray(Image.open(name).convert("RGB"))
            frame, _ = synth.letterbox(img, [], size)
            f.write(np.ascontiguousarray(frame, np.uint8).tobytes())
    os.replace(path + ".part", path)
    return len(files)


def head_output_convs(m: onnx.ModelProto) -> set[str]:
    """The head's last convolutions: those without a SiLU after them (box distances, class logits)."""
    activated = {n.input[0] for n in m.graph.node if n.op_type == "Sigmoid"}
    return {n.name for n in m.graph.node if n.op_type == "Conv" and n.output[0] not in activated}


# Ops whose output gets its own calibrated range, and ops that only move or pick values,
# whose output keeps its input's scale (onnxruntime then drops their Q/DQ pairs and runs
# them on the int8 tensor).
OWN_RANGE = {"Conv", "Sigmoid", "Mul", "Add", "Concat"}
PASSTHROUGH = {"MaxPool", "Resize", "Slice", "Split", "Reshape"}


def plan(m: onnx.ModelProto, quantize_head: bool, scope: str):
    """What to quantize, walking the graph from the image forwards.

    A node joins the int8 region when every activation it reads is already in it: all of
    the backbone and neck and the head's inner layers (SiLU included), but not the head's
    last convolutions unless asked, nor the decode after them. With scope "conv" only the
    convolutions' inputs and outputs are quantized and everything between them stays float.
    Returns the convolutions, the tensors to calibrate, {passthrough output: its input},
    and the convolutions left in float.
    """
    keep_float = set() if quantize_head else head_output_convs(m)
    consts = {i.name for i in m.graph.initializer} | {o for n in m.graph.node if n.op_type == "Constant" for o in n.output}
    quantized = {i.name for i in m.graph.input}
    convs, own, passthrough = [], [], {}
    for n in m.graph.node:
        # a passthrough op's other inputs are shapes and indices (the exporter computes chunk bounds at run time)
        acts = [n.input[0]] if n.op_type in PASSTHROUGH else [t for t in n.input if t and t not in consts]
        if not acts or not all(t in quantized for t in acts):
            continue
        if n.op_type == "Conv":
            if n.name in keep_float:
                continue
            convs.append(n)
        elif n.op_type not in OWN_RANGE | PASSTHROUGH:
            continue
        quantized.update(n.output)
        if scope == "conv":
            continue
        if n.op_type in OWN_RANGE:
            own.append(n.output[0])
        else:
            for out in n.output:
                passthrough[out] = n.input[0]
    if scope == "conv":
        graph_inputs = {i.name for i in m.graph.input}
        own = list(dict.fromkeys([t for n in convs for t in (n.input[0], n.output[0]) if t not in graph_inputs]))
    return convs, own, passthrough, sorted(keep_float)


def calibrate(m: onnx.ModelProto, tensors: list[str], frames_path: str, size: int, out_json: str) -> dict:
    graph_inputs = {i.name for i in m.graph.input}
    probe = onnx.ModelProto()
    probe.CopyFrom(m)
    for t in tensors:
        if t not in graph_inputs:
            probe.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
    probe_path = os.path.join(CACHE, "calibration-probe.onnx")
    onnx.save(probe, probe_path)
    subprocess.run(["node", os.path.join(HERE, "calibrate.mjs"), probe_path, frames_path, str(size), out_json], check=True)
    with open(out_json) as f:
        return json.load(f)["ranges"]


def activation_qparams(lo: float, hi: float, activations: str):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if activations == "int8":
        scale = max(abs(lo), abs(hi)) / 127.0
        return np.float32(scale if scale > 0 else 1.0), np.int8(0)
    scale = (hi - lo) / 255.0
    scale = scale if scale > 0 else 1.0
    return np.float32(scale), np.uint8(np.clip(round(-lo / scale), 0, 255))


class Builder:
    """Collects the nodes and initializers that quantization adds."""

    def __init__(self):
        self.inits: list[onnx.TensorProto] = []
        self.after: dict[str, list[onnx.NodeProto]] = {}   # producer output -> Q/DQ nodes to place after it

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def qdq(self, tensor: str, scale, zero_point) -> str:
        """QuantizeLinear -> DequantizeLinear on an activation; returns the dequantized name."""
        s = self.const(f"{tensor}_scale", np.array(scale, np.float32))
        z = self.const(f"{tensor}_zero_point", np.array(zero_point))
        q, dq = f"{tensor}_quantized", f"{tensor}_dequantized"
        self.after.setdefault(tensor, []).extend([
            helper.make_node("QuantizeLinear", [tensor, s, z], [q], name=f"{tensor}_QuantizeLinear"),
            helper.make_node("DequantizeLinear", [q, s, z], [dq], name=f"{tensor}_DequantizeLinear"),
        ])
        return dq

    def dq_const(self, name: str, q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, anchor: str) -> str:
        """A quantized initializer and its per-channel DequantizeLinear; returns the dequantized name."""
        qn = self.const(f"{name}_quantized", q)
        s = self.const(f"{name}_scale", scale.astype(np.float32))
        z = self.const(f"{name}_zero_point", zero_point)
        out = f"{name}_dequantized"
        self.after.setdefault(anchor, []).append(
            helper.make_node("DequantizeLinear", [qn, s, z], [out], name=f"{name}_DequantizeLinear", axis=0))
        return out


def quantize(m: onnx.ModelProto, convs, passthrough: dict, ranges: dict, activations: str, range_mode: str) -> onnx.ModelProto:
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    graph_inputs = {i.name for i in g.input}
    b = Builder()
    act: dict[str, tuple] = {}
    for t, r in ranges.items():
        lo, hi = (np.mean(r["min"]), np.mean(r["max"])) if range_mode == "mean" else (min(r["min"]), max(r["max"]))
        act[t] = activation_qparams(float(lo), float(hi), activations)
    for name in graph_inputs:
        # the image is 0..1 in steps of 1/255: uint8 holds it exactly, int8 symmetric in steps of 1/127
        act[name] = activation_qparams(0.0, 1.0, activations)
    for out, src in passthrough.items():   # in graph order, so a chain resolves to its first input
        act[out] = act[src]

    renamed: dict[str, str] = {}
    for t in sorted(set(act) | {n.input[0] for n in convs}):
        renamed[t] = b.qdq(t, *act[t])
    dropped = set()
    for n in convs:
        w = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
        w_scale = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) / 127.0
        w_scale[w_scale == 0] = 1.0
        w_q = np.clip(np.round(w / w_scale.reshape(-1, *([1] * (w.ndim - 1)))), -127, 127).astype(np.int8)
        anchor = n.input[0]
        new_w = b.dq_const(n.input[1], w_q, w_scale, np.zeros(w.shape[0], np.int8), anchor)
        dropped.add(n.input[1])
        new_b = None
        if len(n.input) > 2 and n.input[2]:
            bias = numpy_helper.to_array(inits[n.input[2]]).astype(np.float64)
            b_scale = (np.float64(act[n.input[0]][0]) * w_scale.astype(np.float64))
            b_q = np.clip(np.round(bias / b_scale), -2**31, 2**31 - 1).astype(np.int32)
            new_b = b.dq_const(n.input[2], b_q, b_scale, np.zeros(w.shape[0], np.int32), anchor)
            dropped.add(n.input[2])
        n.input[1] = new_w
        if new_b is not None:
            n.input[2] = new_b

    # Rewire every consumer of a quantized activation to its dequantized copy (the Q nodes
    # are not in the graph yet, so they keep reading the float tensor), then place each
    # Q/DQ group right after the node that produces its anchor, so that the node list
    # stays in topological order.
    for n in g.node:
        for i, t in enumerate(n.input):
            if t in renamed:
                n.input[i] = renamed[t]
    nodes = []
    for t in graph_inputs:
        nodes.extend(b.after.get(t, []))
    for n in g.node:
        nodes.append(n)
        for out in n.output:
            nodes.extend(b.after.get(out, []))
    del g.node[:]
    g.node.extend(nodes)
    kept = [i for i in g.initializer if i.name not in dropped or any(i.name in n.input for n in g.node)]
    del g.initializer[:]
    g.initializer.extend(kept + b.inits)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/linesight-defects-v1.onnx")
    ap.add_argument("--out", default="models/linesight-defects-v1-int8.onnx")
    ap.add_argument("--frames", type=int, default=256, help="calibration frames from the training split")
    ap.add_argument("--activations", choices=["uint8", "int8"], default="uint8",
                    help="uint8: asymmetric, onnxruntime's fast path on x86; int8: symmetric, what TensorRT accepts")
    ap.add_argument("--range", dest="range_mode", choices=["mean", "minmax"], default="mean")
    ap.add_argument("--scope", choices=["all", "conv"], default="all",
                    help="all: every activation up to the head's last layers; conv: only the convolutions' inputs and outputs")
    ap.add_argument("--quantize-head", action="store_true", help="quantize the head's last convolutions too")
    ap.add_argument("--calib-data", metavar="DIR",
                    help="also calibrate on the line's own pictures: a folder written by linesight dataset export, or a folder of pictures "
                         "(a model fine-tuned on a look the synthetic frames lack sees activations they never produce)")
    a = ap.parse_args()

    m = onnx.load(a.model)
    size = model_size(m)
    convs, tensors, passthrough, kept_float = plan(m, a.quantize_head, a.scope)
    frames_path = os.path.join(CACHE, f"calibration-{a.frames}x{size}.u8")
    render_frames(a.frames, size, frames_path)
    line = 0
    if a.calib_data:
        mixed = os.path.join(CACHE, f"calibration-{a.frames}x{size}-line.u8")
        line = add_line_frames(a.calib_data, size, frames_path, mixed)
        frames_path = mixed
    ranges = calibrate(m, tensors, frames_path, size, os.path.join(CACHE, "calibration-ranges.json"))
    q = quantize(m, convs, passthrough, ranges, a.activations, a.range_mode)

    meta = {p.key: p.value for p in q.metadata_props}
    meta["precision"] = PRECISION
    if line:
        meta["calibration"] = json.dumps({"synthetic_frames": a.frames, "line_pictures": line, "from": os.path.basename(os.path.abspath(a.calib_data))})
    del q.metadata_props[:]
    for k, v in meta.items():
        p = q.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(q)
    onnx.save(q, a.out)
    print(f"wrote {a.out}: {os.path.getsize(a.out) / 1e6:.2f} MB, {len(convs)} convolutions in int8 "
          f"({a.activations} activations, {a.range_mode} ranges over {a.frames} frames{f' and {line} line pictures' if line else ''}), "
          f"{len(kept_float)} in float: {', '.join(kept_float)}")


if __name__ == "__main__":
    main()
