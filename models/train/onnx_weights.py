"""Load the weights of a linesight ONNX export back into the torch Detector.

The repository ships only the ONNX file. export.py traces the model in eval
mode with constant folding, so every Conv + BatchNorm pair became one Conv with
a bias: the batch-norm statistics are folded in and cannot be recovered. The
loader therefore puts the folded weight in the conv and makes each BatchNorm an
identity (scale 1, shift = folded bias, mean 0, variance 1 - eps). Fine-tuning
must keep those BatchNorms in eval mode (frozen statistics): batch statistics
would replace the identity and wreck the folded weights.

Convolutions are paired by execution order: forward hooks record the order in
which the torch model runs its nn.Conv2d modules, and the ONNX graph (a trace of
that same forward) lists its Conv nodes in that order. Every pair must agree in
shape, and `check_roundtrip` compares the result against the file.
"""

from __future__ import annotations

import ast
import hashlib
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Detector  # noqa: E402


def read_meta(path: str) -> dict:
    m = onnx.load(path, load_external_data=False)
    return {p.key: p.value for p in m.metadata_props}


def class_names(meta: dict) -> list:
    names = ast.literal_eval(meta["names"])
    return [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)


def imgsz_of(meta: dict) -> int:
    s = ast.literal_eval(meta.get("imgsz", "[320, 320]"))
    if isinstance(s, int):
        return s
    if s[0] != s[1]:
        raise SystemExit(f"expected a square model input, found imgsz {s}")
    return int(s[0])


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def conv_order(model: nn.Module, imgsz: int) -> list:
    """(name, module) of every nn.Conv2d in the order the forward pass runs them."""
    seen, hooks = [], []
    names = {m: n for n, m in model.named_modules()}
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(lambda mod, _i, _o: seen.append(mod)))
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, imgsz, imgsz))
    model.train(was)
    for h in hooks:
        h.remove()
    return [(names[m], m) for m in seen]


def onnx_convs(graph) -> list:
    """(weight, bias) arrays of the graph's Conv nodes in graph order."""
    init = {t.name: np.array(numpy_helper.to_array(t)) for t in graph.initializer}
    out = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        w = init.get(node.input[1])
        b = init.get(node.input[2]) if len(node.input) > 2 else None
        if w is None:
            raise SystemExit(f"Conv node {node.name} has a weight that is not an initializer: not a linesight export")
        out.append((w, b))
    return out


def load_onnx_detector(path: str) -> tuple:
    """The Detector with the file's weights, its class names and input size."""
    meta = read_meta(path)
    names, s = class_names(meta), imgsz_of(meta)
    model = Detector(nc=len(names), imgsz=s)
    graph = onnx.load(path).graph
    convs = conv_order(model, s)
    weights = onnx_convs(graph)
    if len(convs) != len(weights):
        raise SystemExit(f"expected {len(convs)} convolutions in {path} (the Detector of model.py), found {len(weights)}")
    parents = {}
    for n, m in model.named_modules():
        for cn, c in m.named_children():
            parents[c] = m
    with torch.no_grad():
        for (name, conv), (w, b) in zip(convs, weights):
            if tuple(conv.weight.shape) != w.shape:
                raise SystemExit(f"{name}: expected a weight of shape {tuple(conv.weight.shape)}, found {w.shape} in {path}")
            conv.weight.copy_(torch.from_numpy(w))
            parent = parents.get(conv)
            bn = getattr(parent, "bn", None) if parent is not None and getattr(parent, "conv", None) is conv else None
            if bn is not None:
                bn.weight.fill_(1.0)
                bn.bias.copy_(torch.from_numpy(b) if b is not None else torch.zeros_like(bn.bias))
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            elif conv.bias is not None:
                if b is None:
                    raise SystemExit(f"{name}: expected a bias in {path}")
                conv.bias.copy_(torch.from_numpy(b))
            elif b is not None and np.abs(b).max() > 0:
                raise SystemExit(f"{name}: {path} has a bias where the Detector has neither a bias nor a BatchNorm")
    model.eval()
    return model, names, s, meta


def freeze_batchnorm(model: nn.Module) -> None:
    """Keep every BatchNorm on its loaded statistics (call after model.train())."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def check_roundtrip(original: str, exported: str, tol: float = 1e-4) -> float:
    """Largest difference between the Conv weights and biases of two exports of the same Detector."""
    a, b = onnx_convs(onnx.load(original).graph), onnx_convs(onnx.load(exported).graph)
    if len(a) != len(b):
        raise SystemExit(f"{exported}: {len(b)} convolutions, {original}: {len(a)}")
    worst = 0.0
    for (wa, ba), (wb, bb) in zip(a, b):
        worst = max(worst, float(np.abs(wa - wb).max()))
        if ba is not None and bb is not None:
            worst = max(worst, float(np.abs(ba - bb).max()))
    if worst > tol:
        raise SystemExit(f"re-exported weights differ from {original} by {worst:g} (tolerance {tol:g})")
    return worst
