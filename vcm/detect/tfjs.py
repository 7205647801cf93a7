"""A small TensorFlow.js graph-model runner: parse `model.json` + weight shards, execute the graph.

No TensorFlow. Two engines over one parsed graph:
- `NumpyExecutor`: every supported op in plain numpy (the reference; also folds the constant sub-graphs and
  records every tensor's shape for the translator). Correct but slow for convolutions.
- `to_onnx()` + onnxruntime: the graph's input-dependent part translated once to ONNX (NHWC convolutions wrapped
  in transposes, constant sub-graphs folded by the numpy executor), cached in vcm's state folder with its
  sha256 (a damaged translation is rebuilt from the checked model.json, never loaded). This is the engine the detectors use (measured in docs/DETECTORS.md).
Only the ops in `SUPPORTED_OPS` exist; any other op in a graph is a VcmError naming it.
"""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vcm.errors import VcmError

TRANSLATOR_VERSION = 1  # bump when to_onnx() output changes, so cached .onnx files are rebuilt

_TF_DTYPES = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_INT64": np.int64, "DT_BOOL": np.bool_,
              "DT_HALF": np.float16, "DT_UINT8": np.uint8}
_MANIFEST_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "int64": np.int64}
_QUANT_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


@dataclass(frozen=True)
class Node:
    name: str
    op: str
    inputs: tuple[str, ...]  # "node" or "node:k" (output k); control inputs ("^x") are dropped
    attr: dict[str, Any]


@dataclass
class TfjsGraph:
    """A parsed graph model: nodes in file order, constant tensors by node name, input/output tensor names."""
    path: Path
    nodes: list[Node]
    consts: dict[str, np.ndarray]
    inputs: dict[str, tuple[int, ...]]  # placeholder node name -> shape
    outputs: list[str]  # output tensor names ("Identity:0" style, from the signature) in signature order
    ops: set[str] = field(default_factory=set)


def _attr_value(a: dict) -> Any:
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "i" in a:
        return int(a["i"])
    if "f" in a:
        return float(a["f"])
    if "b" in a:
        return bool(a["b"])
    if "type" in a:
        return a["type"]
    if "list" in a:
        lst = a["list"]
        if "i" in lst:
            return [int(v) for v in lst["i"]]
        if "s" in lst:
            return [base64.b64decode(v).decode() for v in lst["s"]]
        if "f" in lst:
            return [float(v) for v in lst["f"]]
        return []
    if "shape" in a:
        return tuple(int(d.get("size", -1)) for d in a["shape"].get("dim", []))
    return a


def _read_weights(model_dir: Path, manifest: list[dict]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join((model_dir / p).read_bytes() for p in group["paths"])
        pos = 0
        for w in group["weights"]:
            shape = tuple(int(s) for s in w["shape"])
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q:
                qdt = _QUANT_DTYPES.get(q["dtype"])
                if qdt is None:
                    raise VcmError(f"weight {w['name']}: unsupported quantization {q['dtype']!r}",
                                   path=model_dir, fix="use a float32/float16/uint8/uint16 graph model")
                raw = np.frombuffer(data, qdt, count, pos)
                pos += count * np.dtype(qdt).itemsize
                if qdt == np.float16:
                    arr = raw.astype(np.float32)
                else:
                    arr = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
                arr = arr.astype(_MANIFEST_DTYPES.get(w["dtype"], np.float32))
            else:
                dt = _MANIFEST_DTYPES.get(w["dtype"])
                if dt is None:
                    raise VcmError(f"weight {w['name']}: unsupported dtype {w['dtype']!r}", path=model_dir,
                                   fix="use a float32/int32/bool graph model")
                arr = np.frombuffer(data, dt, count, pos).copy()
                pos += count * np.dtype(dt).itemsize
            out[w["name"]] = arr.reshape(shape)
        if pos != len(data):
            raise VcmError(f"weight shards hold {len(data)} bytes, the manifest describes {pos}",
                           path=model_dir, fix="re-fetch the weights (`vcm weights fetch`)")
    return out


def load_graph(json_path: str | Path) -> TfjsGraph:
    """Parse a TF.js graph model (`model.json` and its weight shards beside it)."""
    json_path = Path(json_path)
    try:
        j = json.loads(json_path.read_text())
        topo = j["modelTopology"]
        raw_nodes = topo["node"]
    except (OSError, ValueError, KeyError) as e:
        raise VcmError(f"not a TF.js graph model ({e})", path=json_path,
                       fix="give a model.json written by tensorflowjs_converter (format graph-model)") from e
    consts = _read_weights(json_path.parent, j.get("weightsManifest", []))
    nodes, inputs = [], {}
    for n in raw_nodes:
        attr = {k: _attr_value(v) for k, v in n.get("attr", {}).items()}
        node = Node(n["name"], n["op"], tuple(i for i in n.get("input", []) if not i.startswith("^")), attr)
        nodes.append(node)
        if node.op == "Placeholder":
            inputs[node.name] = tuple(attr.get("shape", ()))
        elif node.op == "Const" and node.name not in consts:
            raise VcmError(f"constant {node.name} has no weights in the manifest", path=json_path,
                           fix="re-fetch the weights (`vcm weights fetch`)")
    sig = j.get("signature") or topo.get("signature") or {}
    outputs = list((sig.get("outputs") or {}).keys())
    if not outputs:
        used = {i.split(":")[0] for n in nodes for i in n.inputs}
        outputs = [n.name + ":0" for n in nodes if n.name not in used and n.op not in ("Const", "Placeholder")]
    g = TfjsGraph(json_path, nodes, consts, inputs, outputs, {n.op for n in nodes})
    unknown = sorted(g.ops - set(SUPPORTED_OPS))
    if unknown:
        raise VcmError(f"TF.js op {unknown[0]!r} is not supported by vcm's runner"
                       + (f" (also: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""), path=json_path,
                       fix=f"use a graph with only these ops: {', '.join(sorted(SUPPORTED_OPS))}")
    return g


def _out_name(ref: str) -> str:
    """"Identity:0" -> "Identity"; "x:1" stays: the name both engines give an output."""
    node, _, k = ref.partition(":")
    return node if k in ("", "0") else ref


def _ref(name: str) -> tuple[str, int]:
    node, _, k = name.partition(":")
    return node, int(k) if k else 0


# ---------------------------------------------------------------- numpy ops (NHWC, TF semantics)

def _same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    eff = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _pad_nhwc(x, kh, kw, attr, value=0.0):
    strides, dil = attr.get("strides", [1, 1, 1, 1]), attr.get("dilations", [1, 1, 1, 1])
    pad = attr.get("padding", "VALID")
    if pad == "SAME":
        ph = _same_pads(x.shape[1], kh, strides[1], dil[1])
        pw = _same_pads(x.shape[2], kw, strides[2], dil[2])
        x = np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=value)
    elif pad == "EXPLICIT":
        p = attr.get("explicit_paddings", [])
        x = np.pad(x, ((0, 0), (p[2], p[3]), (p[4], p[5]), (0, 0)), constant_values=value)
    return x


def _windows(x, kh, kw, attr):
    """(N, Ho, Wo, C, kh, kw) view of the padded NHWC input."""
    strides, dil = attr.get("strides", [1, 1, 1, 1]), attr.get("dilations", [1, 1, 1, 1])
    if attr.get("data_format", "NHWC") != "NHWC":
        raise VcmError(f"data_format {attr.get('data_format')} is not supported", fix="use an NHWC graph")
    eh, ew = (kh - 1) * dil[1] + 1, (kw - 1) * dil[2] + 1
    v = np.lib.stride_tricks.sliding_window_view(x, (eh, ew), axis=(1, 2))
    return v[:, ::strides[1], ::strides[2], :, ::dil[1], ::dil[2]]


def _conv2d(x, w, attr):
    kh, kw, cin_g, cout = w.shape
    v = _windows(_pad_nhwc(x, kh, kw, attr), kh, kw, attr)
    g = x.shape[3] // cin_g
    n, ho, wo = v.shape[:3]
    v = v.reshape(n, ho, wo, g, cin_g, kh, kw)
    wg = w.reshape(kh, kw, cin_g, g, cout // g)
    return np.einsum("nhwgcij,ijcgo->nhwgo", v, wg, optimize=True).reshape(n, ho, wo, cout).astype(np.float32)


def _depthwise(x, w, attr):
    kh, kw, c, m = w.shape
    v = _windows(_pad_nhwc(x, kh, kw, attr), kh, kw, attr)
    y = np.einsum("nhwcij,ijcm->nhwcm", v, w, optimize=True)
    return y.reshape(*y.shape[:3], c * m).astype(np.float32)


def _activation(y, fused: list[str], attr):
    for f in fused[1:]:
        if f == "Relu":
            y = np.maximum(y, 0)
        elif f == "Relu6":
            y = np.clip(y, 0, 6)
        elif f == "LeakyRelu":
            a = attr.get("leakyrelu_alpha", 0.2)
            y = np.where(y >= 0, y, y * np.float32(a))
        else:
            raise VcmError(f"fused op {f!r} is not supported", fix="use a graph without it")
    return y


def _fused(conv):
    def run(args, attr):
        fused = attr.get("fused_ops", [])
        if not fused or fused[0] != "BiasAdd":
            raise VcmError(f"fused ops {fused} are not supported", fix="use a graph without them")
        return _activation(conv(args[0], args[1], attr) + args[2], fused, attr)
    return run


def _maxpool(args, attr):
    x = args[0]
    _, kh, kw, _ = attr["ksize"]
    v = _windows(_pad_nhwc(x, kh, kw, attr, -np.inf), kh, kw, attr)
    return v.max(axis=(4, 5))


def _resize_axis(x, axis, out, align, half):
    n_in = x.shape[axis]
    i = np.arange(out, dtype=np.float64)
    if align and out > 1:
        src = i * ((n_in - 1) / (out - 1))
    elif half:
        src = (i + 0.5) * (n_in / out) - 0.5
    else:
        src = i * (n_in / out)
    f = np.floor(src)
    lo = np.clip(f, 0, n_in - 1).astype(int)
    hi = np.clip(np.ceil(src), 0, n_in - 1).astype(int)
    t = (src - f).astype(np.float32)
    shp = [1] * x.ndim
    shp[axis] = out
    t = t.reshape(shp)
    return np.take(x, lo, axis) * (1 - t) + np.take(x, hi, axis) * t


def _resize_bilinear(args, attr):
    x, size = args[0], [int(s) for s in args[1]]
    al, hp = attr.get("align_corners", False), attr.get("half_pixel_centers", False)
    return _resize_axis(_resize_axis(x, 1, size[0], al, hp), 2, size[1], al, hp).astype(np.float32)


def _sparse_to_dense(args, attr):
    idx, shape, values, default = args
    out = np.full(tuple(int(s) for s in shape), default, dtype=np.asarray(values).dtype)
    idx = np.asarray(idx, np.int64)
    idx = idx.reshape(1, 1) if idx.ndim == 0 else idx.reshape(-1, 1) if idx.ndim == 1 else idx
    vals = np.broadcast_to(values, (idx.shape[0],))
    for i, v in zip(idx, vals):
        out[tuple(i)] = v
    return out


def _strided_slice(args, attr):
    x, begin, end, strides = (np.asarray(a) for a in args)
    if attr.get("ellipsis_mask", 0) or attr.get("new_axis_mask", 0):
        raise VcmError("StridedSlice with ellipsis/new-axis masks is not supported", fix="use a simpler graph")
    bm, em, sm = attr.get("begin_mask", 0), attr.get("end_mask", 0), attr.get("shrink_axis_mask", 0)
    sl: list[Any] = []
    for i in range(len(begin)):
        if sm >> i & 1:
            sl.append(int(begin[i]))
            continue
        b = None if bm >> i & 1 else int(begin[i])
        e = None if em >> i & 1 else int(end[i])
        sl.append(slice(b, e, int(strides[i])))
    return x[tuple(sl)]


def _split_v(args, attr):
    x, sizes, axis = args[0], [int(s) for s in args[1]], int(args[2])
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def _topk(args, attr):
    x, k = args[0], int(args[1])
    idx = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, idx, -1), idx.astype(np.int32)


def _gather(args, attr):
    if attr.get("batch_dims", 0):
        raise VcmError("GatherV2 with batch_dims is not supported", fix="use a simpler graph")
    return np.take(args[0], np.asarray(args[1]).astype(np.int64), axis=int(args[2]))


def _cast(args, attr):
    return np.asarray(args[0]).astype(_TF_DTYPES[attr["DstT"]])


def _bin(f):
    return lambda args, attr: f(args[0], args[1])


_NUMPY_OPS: dict[str, Callable[[list, dict], Any]] = {
    "Identity": lambda a, _: a[0],
    "Conv2D": lambda a, attr: _conv2d(a[0], a[1], attr),
    "_FusedConv2D": _fused(_conv2d),
    "DepthwiseConv2dNative": lambda a, attr: _depthwise(a[0], a[1], attr),
    "FusedDepthwiseConv2dNative": _fused(_depthwise),
    "Add": _bin(np.add), "AddV2": _bin(np.add), "Sub": _bin(np.subtract), "Mul": _bin(np.multiply),
    "FloorDiv": _bin(np.floor_divide), "FloorMod": _bin(np.mod), "Equal": _bin(np.equal),
    "LeakyRelu": lambda a, attr: np.where(a[0] >= 0, a[0], a[0] * np.float32(attr.get("alpha", 0.2))),
    "Relu": lambda a, _: np.maximum(a[0], 0), "Relu6": lambda a, _: np.clip(a[0], 0, 6),
    "Sigmoid": lambda a, _: (1 / (1 + np.exp(-a[0]))).astype(np.float32),
    "Pad": lambda a, _: np.pad(a[0], np.asarray(a[1], int)),
    "PadV2": lambda a, _: np.pad(a[0], np.asarray(a[1], int), constant_values=a[2]),
    "MaxPool": _maxpool,
    "ConcatV2": lambda a, _: np.concatenate(a[:-1], axis=int(a[-1])),
    "Transpose": lambda a, _: np.transpose(a[0], [int(p) for p in a[1]]),
    "Reshape": lambda a, _: np.reshape(a[0], [int(s) for s in np.ravel(a[1])]),
    "SplitV": _split_v, "SparseToDense": _sparse_to_dense, "ResizeBilinear": _resize_bilinear,
    "Mean": lambda a, attr: np.mean(a[0], axis=tuple(int(i) for i in np.ravel(a[1])),
                                    keepdims=attr.get("keep_dims", False)).astype(a[0].dtype),
    "TopKV2": _topk, "GatherV2": _gather, "StridedSlice": _strided_slice, "Cast": _cast,
    "ExpandDims": lambda a, _: np.expand_dims(a[0], int(a[1])),
}
SUPPORTED_OPS = frozenset(_NUMPY_OPS) | {"Const", "Placeholder"}


class NumpyExecutor:
    """Run a graph in numpy. `run(feeds)` -> {tensor name: array} for the graph outputs (or all tensors)."""

    def __init__(self, graph: TfjsGraph):
        self.graph = graph

    def run(self, feeds: dict[str, np.ndarray], keep_all: bool = False) -> dict[str, Any]:
        vals: dict[str, Any] = {}
        for node in self.graph.nodes:
            if node.op == "Const":
                vals[node.name] = self.graph.consts[node.name]
            elif node.op == "Placeholder":
                key = node.name if node.name in feeds else node.name + ":0"
                if key not in feeds:
                    raise VcmError(f"no value for graph input {node.name}", fix="feed every input")
                vals[node.name] = np.asarray(feeds[key], np.float32)
            else:
                args = [self._get(vals, i) for i in node.inputs]
                vals[node.name] = _NUMPY_OPS[node.op](args, node.attr)
        out = {_out_name(name): self._get(vals, name) for name in self.graph.outputs}
        if keep_all:
            out["__all__"] = vals
        return out

    @staticmethod
    def _get(vals, name):
        node, k = _ref(name)
        v = vals[node]
        return v[k] if isinstance(v, tuple) else (v if k == 0 else v[k])


# ---------------------------------------------------------------- ONNX translation

def to_onnx(graph: TfjsGraph, opset: int = 17) -> bytes:
    """Translate the graph to an ONNX model (bytes). Constant sub-graphs are folded with numpy; shapes come from
    one numpy run on a zero input, so the model has the graph's fixed input shape."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    feeds = {name: np.zeros(shape, np.float32) for name, shape in graph.inputs.items()}
    vals = NumpyExecutor(graph).run(feeds, keep_all=True)["__all__"]
    dynamic: set[str] = set(graph.inputs)
    for n in graph.nodes:
        if n.op not in ("Const", "Placeholder") and any(_ref(i)[0] in dynamic for i in n.inputs):
            dynamic.add(n.name)

    nodes: list = []
    inits: dict[str, Any] = {}
    counter = [0]

    def tensor_name(ref: str) -> str:
        node, k = _ref(ref)
        return node if k == 0 else f"{node}:{k}"

    def value(ref: str):
        node, k = _ref(ref)
        v = vals[node]
        return v[k] if isinstance(v, tuple) else v

    def inp(ref: str) -> str:
        """ONNX name of a graph tensor; a constant becomes an initializer."""
        name = tensor_name(ref)
        if _ref(ref)[0] not in dynamic and name not in inits:
            v = np.asarray(value(ref))
            if v.dtype == np.float64:
                v = v.astype(np.float32)
            inits[name] = numpy_helper.from_array(v, name)
        return name

    def const(arr: np.ndarray) -> str:
        counter[0] += 1
        name = f"__c{counter[0]}"
        inits[name] = numpy_helper.from_array(np.asarray(arr), name)
        return name

    def tmp() -> str:
        counter[0] += 1
        return f"__t{counter[0]}"

    def emit(op, ins, outs, **kw):
        nodes.append(helper.make_node(op, ins, outs, **kw))
        return outs[0]

    def to_nchw(x):
        return emit("Transpose", [x], [tmp()], perm=[0, 3, 1, 2])

    def from_nchw(x, out):
        return emit("Transpose", [x], [out], perm=[0, 2, 3, 1])

    def conv_like(n, depthwise: bool, out: str):
        x_shape = np.shape(value(n.inputs[0]))
        w = np.asarray(value(n.inputs[1]), np.float32)
        attr = n.attr
        kh, kw = w.shape[:2]
        if depthwise:
            c, m = w.shape[2], w.shape[3]
            w_onnx = w.reshape(kh, kw, 1, c * m).transpose(3, 2, 0, 1)
            group = c
        else:
            w_onnx = w.transpose(3, 2, 0, 1)
            group = x_shape[3] // w.shape[2]
        strides, dil = attr.get("strides", [1, 1, 1, 1]), attr.get("dilations", [1, 1, 1, 1])
        kw_args: dict[str, Any] = dict(kernel_shape=[kh, kw], strides=strides[1:3], dilations=dil[1:3], group=group)
        pad = attr.get("padding", "VALID")
        if pad == "SAME":
            ph = _same_pads(x_shape[1], kh, strides[1], dil[1])
            pw = _same_pads(x_shape[2], kw, strides[2], dil[2])
            kw_args["pads"] = [ph[0], pw[0], ph[1], pw[1]]
        elif pad == "EXPLICIT":
            p = attr["explicit_paddings"]
            kw_args["pads"] = [p[2], p[4], p[3], p[5]]
        ins = [to_nchw(inp(n.inputs[0])), const(w_onnx)]
        fused = attr.get("fused_ops", [])
        if fused:
            ins.append(const(np.asarray(value(n.inputs[2]), np.float32).reshape(-1)))
        y = emit("Conv", ins, [tmp()], **kw_args)
        for f in fused[1:]:
            if f == "Relu":
                y = emit("Relu", [y], [tmp()])
            elif f == "Relu6":
                y = emit("Clip", [y, const(np.float32(0)), const(np.float32(6))], [tmp()])
            elif f == "LeakyRelu":
                y = emit("LeakyRelu", [y], [tmp()], alpha=float(attr.get("leakyrelu_alpha", 0.2)))
            else:
                raise VcmError(f"fused op {f!r} is not supported", fix="use a graph without it")
        from_nchw(y, out)

    binary = {"Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul", "Equal": "Equal"}
    for n in graph.nodes:
        if n.name not in dynamic or n.op == "Placeholder":
            continue
        out = n.name
        a = n.attr
        op = n.op
        if op in ("Conv2D", "_FusedConv2D"):
            conv_like(n, False, out)
        elif op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
            conv_like(n, True, out)
        elif op in binary:
            emit(binary[op], [inp(n.inputs[0]), inp(n.inputs[1])], [out])
        elif op == "FloorDiv":
            if np.issubdtype(np.asarray(value(n.inputs[0])).dtype, np.floating):
                d = emit("Div", [inp(n.inputs[0]), inp(n.inputs[1])], [tmp()])
                emit("Floor", [d], [out])
            else:  # non-negative integer indices here: truncating Div equals floor division
                emit("Div", [inp(n.inputs[0]), inp(n.inputs[1])], [out])
        elif op == "FloorMod":
            emit("Mod", [inp(n.inputs[0]), inp(n.inputs[1])], [out], fmod=0)
        elif op == "Identity":
            emit("Identity", [inp(n.inputs[0])], [out])
        elif op == "LeakyRelu":
            emit("LeakyRelu", [inp(n.inputs[0])], [out], alpha=float(a.get("alpha", 0.2)))
        elif op in ("Relu", "Sigmoid"):
            emit(op, [inp(n.inputs[0])], [out])
        elif op == "Relu6":
            emit("Clip", [inp(n.inputs[0]), const(np.float32(0)), const(np.float32(6))], [out])
        elif op in ("Pad", "PadV2"):
            p = np.asarray(value(n.inputs[1]), np.int64)
            ins = [inp(n.inputs[0]), const(np.concatenate([p[:, 0], p[:, 1]]))]
            if op == "PadV2":
                ins.append(const(np.asarray(value(n.inputs[2]), np.float32)))
            emit("Pad", ins, [out], mode="constant")
        elif op == "MaxPool":
            x_shape = np.shape(value(n.inputs[0]))
            _, kh, kw, _ = a["ksize"]
            s = a.get("strides", [1, 1, 1, 1])
            kwa: dict[str, Any] = dict(kernel_shape=[kh, kw], strides=s[1:3])
            if a.get("padding") == "SAME":
                ph, pw = _same_pads(x_shape[1], kh, s[1], 1), _same_pads(x_shape[2], kw, s[2], 1)
                kwa["pads"] = [ph[0], pw[0], ph[1], pw[1]]
            y = emit("MaxPool", [to_nchw(inp(n.inputs[0]))], [tmp()], **kwa)
            from_nchw(y, out)
        elif op == "ConcatV2":
            axis = int(value(n.inputs[-1]))
            rank = np.ndim(value(n.inputs[0]))
            emit("Concat", [inp(i) for i in n.inputs[:-1]], [out], axis=axis % rank)
        elif op == "Transpose":
            emit("Transpose", [inp(n.inputs[0])], [out], perm=[int(p) for p in value(n.inputs[1])])
        elif op in ("Reshape", "ExpandDims"):
            emit("Reshape", [inp(n.inputs[0]), const(np.asarray(np.shape(vals[n.name]), np.int64))], [out])
        elif op == "SplitV":
            x = value(n.inputs[0])
            axis = int(value(n.inputs[2])) % np.ndim(x)
            parts = vals[n.name]
            sizes = np.asarray([p.shape[axis] for p in parts], np.int64)
            outs = [out] + [f"{out}:{k}" for k in range(1, len(parts))]
            emit("Split", [inp(n.inputs[0]), const(sizes)], outs, axis=axis)
        elif op == "ResizeBilinear":
            size = np.asarray(value(n.inputs[1]), np.int64)
            x_shape = np.shape(value(n.inputs[0]))
            mode = ("align_corners" if a.get("align_corners") else
                    "half_pixel" if a.get("half_pixel_centers") else "asymmetric")
            sizes = const(np.asarray([x_shape[0], x_shape[3], size[0], size[1]], np.int64))
            y = emit("Resize", [to_nchw(inp(n.inputs[0])), "", "", sizes], [tmp()], mode="linear",
                     coordinate_transformation_mode=mode)
            from_nchw(y, out)
        elif op == "Mean":
            axes = [int(i) for i in np.ravel(value(n.inputs[1]))]
            emit("ReduceMean", [inp(n.inputs[0])], [out], axes=axes, keepdims=int(a.get("keep_dims", False)))
        elif op == "TopKV2":
            k = const(np.asarray([int(value(n.inputs[1]))], np.int64))
            idx = tmp()
            emit("TopK", [inp(n.inputs[0]), k], [out, idx], axis=-1, largest=1, sorted=1)
            emit("Cast", [idx], [f"{out}:1"], to=TensorProto.INT32)
        elif op == "GatherV2":
            axis = int(value(n.inputs[2]))
            emit("Gather", [inp(n.inputs[0]), inp(n.inputs[1])], [out], axis=axis)
        elif op == "Cast":
            to = {np.float32: TensorProto.FLOAT, np.int32: TensorProto.INT32, np.int64: TensorProto.INT64,
                  np.bool_: TensorProto.BOOL}[_TF_DTYPES[a["DstT"]]]
            emit("Cast", [inp(n.inputs[0])], [out], to=to)
        elif op == "StridedSlice":
            begin, end, step = (np.asarray(value(i)) for i in n.inputs[1:])
            if a.get("shrink_axis_mask", 0) or a.get("ellipsis_mask", 0) or a.get("new_axis_mask", 0):
                raise VcmError("StridedSlice with shrink/ellipsis/new-axis masks cannot be translated",
                               path=graph.path, fix="use the numpy engine")
            starts, ends = [], []
            for i in range(len(begin)):
                starts.append(0 if a.get("begin_mask", 0) >> i & 1 else int(begin[i]))
                ends.append(np.iinfo(np.int64).max if a.get("end_mask", 0) >> i & 1 else int(end[i]))
            emit("Slice", [inp(n.inputs[0]), const(np.asarray(starts, np.int64)), const(np.asarray(ends, np.int64)),
                           const(np.arange(len(begin), dtype=np.int64)), const(step.astype(np.int64))], [out])
        else:
            raise VcmError(f"TF.js op {op!r} on the input path cannot be translated to ONNX", path=graph.path,
                           fix="use the numpy engine")

    def vinfo(name, arr):
        arr = np.asarray(arr)
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype), arr.shape)

    g_inputs = [vinfo(name, feeds[name]) for name in graph.inputs]
    g_outputs = []
    for o in graph.outputs:
        name = tensor_name(o)
        if _ref(o)[0] not in dynamic:
            raise VcmError(f"output {o} does not depend on the input", path=graph.path, fix="check the graph")
        g_outputs.append(vinfo(name, value(o)))
    model = helper.make_model(helper.make_graph(nodes, graph.path.stem, g_inputs, g_outputs, list(inits.values())),
                              opset_imports=[helper.make_opsetid("", opset)], producer_name="vcm.detect.tfjs")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def translation_path(json_path: Path) -> Path:
    """Where the ONNX translation of a TF.js model is cached: in vcm's state folder ($VCM_CACHE_DIR when set,
    never the weights folder), named by the sha256 of model.json and its weight files and the translator
    version, so changed weights or a new translator never meet an old translation."""
    import hashlib

    from vcm.fsutil import sha256_file, state_dir

    h = hashlib.sha256(json_path.read_bytes())
    try:
        manifest = json.loads(json_path.read_text()).get("weightsManifest", [])
        for group in manifest:
            for rel in group.get("paths", []):
                h.update(sha256_file(json_path.parent / rel).encode())
    except (OSError, ValueError, AttributeError):
        pass  # load_graph reports a broken model itself
    return state_dir() / "translations" / f"{json_path.stem}.{h.hexdigest()[:20]}.vcm{TRANSLATOR_VERSION}.onnx"


def read_translation(path: Path) -> bytes | None:
    """The cached translation if its bytes still hash to the sha256 recorded beside it; None (rebuild) for a
    missing, damaged or unrecorded one."""
    import hashlib

    try:
        data = path.read_bytes()
        want = path.with_name(path.name + ".sha256").read_text().strip()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == want else None


def write_translation(path: Path, data: bytes) -> None:
    """Cache a translation with its sha256 (the hash last, so a half-written pair is never trusted)."""
    import hashlib

    from vcm.fsutil import write_bytes_atomic, write_text_atomic

    try:
        write_bytes_atomic(path, data)
        write_text_atomic(path.with_name(path.name + ".sha256"), hashlib.sha256(data).hexdigest() + "\n")
    except OSError:
        pass  # a read-only cache: translate again next time (about a second)


class OnnxGraphRunner:
    """A TF.js graph run by onnxruntime through its ONNX translation (cached in vcm's state folder, checked)."""

    def __init__(self, json_path: str | Path, threads: int | None = None, cache: bool = True):
        json_path = Path(json_path)
        # onnxruntime (1.2x and later) writes a telemetry device id under ~/.cache/Microsoft unless told not to; vcm
        # runs offline and writes only where it says (a user who wants it sets ORT_DISABLE_TELEMETRY=0).
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise VcmError("onnxruntime is not installed", fix="pip install onnxruntime") from e
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = int(threads)
            so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        cache_path = translation_path(json_path) if cache else None
        data = read_translation(cache_path) if cache_path else None
        session = None
        if data is not None:
            try:
                session = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
            except Exception:  # noqa: BLE001 - a translation that does not load is rebuilt, never trusted
                session = None
        if session is None:
            data = to_onnx(load_graph(json_path))
            if cache_path:
                write_translation(cache_path, data)
            session = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        self.session = session
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = tuple(self.session.get_inputs()[0].shape)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """{output name: array}; names are node names ("Identity", "tower_0/detections"), ":k" for k > 0."""
        outs = self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.float32)})
        return dict(zip(self.output_names, outs))
