#!/usr/bin/python3
"""The peer linesight is measured against: the loop most integrators write.

    cv2.VideoCapture(clip) -> cv2.dnn.blobFromImage(frame, 1/255, (S, S), swapRB=True) -> net.forward()

one frame at a time, on the same clip and model as `linesight bench`. Note that
blobFromImage does a plain resize to S x S (the aspect ratio is not kept), not
the letterbox linesight and Ultralytics use: it is cheaper, and its boxes are
distorted. Outputs are not decoded (no NMS): the peer does strictly less work
per frame than linesight, which also letterboxes, decodes, tracks and publishes.

Run with Debian's Python and python3-opencv (4.6) and python3-onnx:

    /usr/bin/python3 src/bench/peer_opencv.py --clip CLIP --model MODEL [--seconds 20]

Prints one JSON line: {frames, seconds, fps, cpu_pct, size, opencv, rewrites}, or
{error} and exit status 3 when OpenCV cannot import or run the model.

OpenCV 4.6's ONNX importer rejects a few things current exporters emit; the
model is rewritten into a temporary copy (the original is never touched):
  * a dynamic batch dimension is fixed to 1 (the importer wants static shapes);
  * `Identity` nodes are removed, their consumers wired to their input;
  * Reduce* nodes with `axes` as a second input (opset 13 ReduceSum, opset 18
    others) get it back as an attribute when it is a constant.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time


def fail(message):
    print(json.dumps({"error": message}), flush=True)
    sys.exit(3)


try:
    import cv2
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper
except ImportError as exc:  # the bench reports this instead of a figure
    fail(f"missing Python module ({exc}); install python3-opencv and python3-onnx")


def constant_values(graph):
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def strip_identities(graph, rewrites):
    outputs = {o.name for o in graph.output}
    identities = [n for n in graph.node if n.op_type == "Identity"]
    for node in identities:
        src, dst = node.input[0], node.output[0]
        if dst in outputs:
            # Keep the graph output's name: the producer of `src` writes `dst` directly.
            for other in graph.node:
                for i, name in enumerate(other.output):
                    if name == src:
                        other.output[i] = dst
            old, new = src, dst
        else:
            old, new = dst, src
        for other in graph.node:
            for i, name in enumerate(other.input):
                if name == old:
                    other.input[i] = new
        graph.node.remove(node)
    if identities:
        rewrites.append(f"removed {len(identities)} Identity node(s)")


def axes_to_attribute(graph, rewrites):
    values = constant_values(graph)
    changed = 0
    for node in graph.node:
        if node.op_type.startswith("Reduce") and len(node.input) == 2 and node.input[1] in values:
            axes = [int(a) for a in np.atleast_1d(values[node.input[1]])]
            del node.input[1]
            node.attribute.append(helper.make_attribute("axes", axes))
            changed += 1
    if changed:
        rewrites.append(f"moved axes of {changed} Reduce node(s) to an attribute")


def _slice(data, starts, ends, axes=None, steps=None):
    index = [slice(None)] * data.ndim
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[int(a)] = slice(int(s), int(e), int(st))
    return data[tuple(index)]


def _div(a, b):
    return (a // b).astype(a.dtype) if np.issubdtype(a.dtype, np.integer) else a / b


# numpy versions of the ops that only ever see shapes in exported detectors.
FOLDABLE = {
    "Gather": lambda n, x, i: np.take(x, i, axis=_attr(n, "axis", 0)),
    "Add": lambda n, a, b: a + b,
    "Sub": lambda n, a, b: a - b,
    "Mul": lambda n, a, b: a * b,
    "Div": lambda n, a, b: _div(a, b),
    "Concat": lambda n, *xs: np.concatenate([np.atleast_1d(x) for x in xs], axis=_attr(n, "axis", 0)),
    "Unsqueeze": lambda n, x, axes=None: np.expand_dims(x, tuple(int(a) for a in (axes if axes is not None else _attr(n, "axes", [])))),
    "Squeeze": lambda n, x, axes=None: np.squeeze(x, tuple(int(a) for a in axes) if axes is not None else None),
    "Cast": lambda n, x: x.astype(helper.tensor_dtype_to_np_dtype(_attr(n, "to", 1))),
    "Slice": lambda n, x, *rest: _slice(x, *rest),
    "Reshape": lambda n, x, shape: x.reshape([int(s) for s in shape]),
}


def _attr(node, name, default):
    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def fold_once(model):
    """One pass: Shapes of fully known tensors become constants, then the arithmetic on constants. Returns nodes folded."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        tensor = vi.type.tensor_type
        if tensor.HasField("shape") and len(tensor.shape.dim) > 0 and all(d.dim_value > 0 for d in tensor.shape.dim):
            shapes[vi.name] = [d.dim_value for d in tensor.shape.dim]
    graph = model.graph
    known = constant_values(graph)
    folded = []
    for node in graph.node:
        if node.op_type == "Shape" and node.input[0] in shapes:
            full = np.array(shapes[node.input[0]], dtype=np.int64)
            known[node.output[0]] = full[_attr(node, "start", 0):_attr(node, "end", len(full))]
            folded.append(node)
        elif node.op_type in FOLDABLE and all(i in known for i in node.input if i):
            try:
                known[node.output[0]] = np.asarray(FOLDABLE[node.op_type](node, *[known[i] for i in node.input if i]))
            except Exception:  # leave it to OpenCV
                continue
            folded.append(node)
    for node in folded:
        graph.node.remove(node)
    needed = {i for n in graph.node for i in n.input}
    existing = {i.name for i in graph.initializer}
    for node in folded:
        name = node.output[0]
        if name in needed and name not in existing:
            graph.initializer.append(numpy_helper.from_array(np.asarray(known[name]), name))
    return len(folded)


def fold_shapes(model, rewrites):
    """With the batch fixed every Shape is a constant: fold it and the arithmetic on it (what onnx-simplifier does).
    Repeated, because shape inference only gets past a Slice once its bounds are constants."""
    total = 0
    for _ in range(50):
        n = fold_once(model)
        if n == 0:
            break
        total += n
    if total:
        rewrites.append(f"folded {total} shape computation node(s) to constants")


def prepare(path):
    """Returns (path of a copy OpenCV can import, input size S, rewrites made)."""
    model = onnx.load(path)
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    image = next(i for i in graph.input if i.name not in initializers)
    dims = image.type.tensor_type.shape.dim
    rewrites = []
    if dims[0].dim_param or dims[0].dim_value <= 0:
        dims[0].Clear()
        dims[0].dim_value = 1
        rewrites.append("fixed the batch dimension to 1")
    height, width = dims[2].dim_value, dims[3].dim_value
    if not (height > 0 and width > 0):
        meta = {p.key: p.value for p in model.metadata_props}
        height, width = json.loads(meta.get("imgsz", "[640, 640]"))
        dims[2].dim_value, dims[3].dim_value = height, width
    strip_identities(graph, rewrites)
    axes_to_attribute(graph, rewrites)
    fold_shapes(model, rewrites)
    fd, copy = tempfile.mkstemp(suffix=".onnx", prefix="peer-opencv-")
    os.close(fd)
    onnx.save(model, copy)
    return copy, (width, height), rewrites


def cv_reason(exc):
    """The innermost OpenCV message (its errors nest the importer's own under '>' lines)."""
    lines = [l.lstrip("> ").strip() for l in str(exc).splitlines()]
    lines = [l for l in lines if l]
    return lines[-1] if lines else repr(exc)


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser(description="OpenCV-DNN peer: VideoCapture -> blobFromImage -> forward, one frame at a time.")
    ap.add_argument("--clip", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--seconds", type=float, default=20, help="measure for this long (the clip loops)")
    ap.add_argument("--warmup", type=int, default=5, help="frames run before the clock starts")
    a = ap.parse_args()

    copy, size, rewrites = prepare(a.model)
    try:
        try:
            net = cv2.dnn.readNetFromONNX(copy)
        except cv2.error as exc:
            fail(f"OpenCV {cv2.__version__} could not import the model: {cv_reason(exc)}")
    finally:
        os.unlink(copy)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    cap = cv2.VideoCapture(a.clip)
    if not cap.isOpened():
        fail(f"cv2.VideoCapture could not open {a.clip}")

    def step():
        nonlocal cap
        ok, frame = cap.read()
        if not ok:  # end of the clip: start over, as linesight's looping file camera does
            cap.release()
            cap = cv2.VideoCapture(a.clip)
            ok, frame = cap.read()
            if not ok:
                fail(f"no frame could be read from {a.clip}")
        blob = cv2.dnn.blobFromImage(frame, 1 / 255.0, size, swapRB=True)
        net.setInput(blob)
        net.forward()

    try:
        for _ in range(a.warmup):
            step()
    except cv2.error as exc:
        fail(f"OpenCV {cv2.__version__} could not run the model: {cv_reason(exc)}")

    frames = 0
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < a.seconds:
        step()
        frames += 1
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    print(json.dumps({
        "frames": frames,
        "seconds": round(seconds, 3),
        "fps": round(frames / seconds, 2),
        "cpu_pct": round(cpu / seconds * 100, 1),
        "size": list(size),
        "opencv": cv2.__version__,
        "rewrites": rewrites,
    }), flush=True)


if __name__ == "__main__":
    main()
