"""Build the :class:`~hwsim.ir.OpGraph` of a reported design from a compact description.

Synthesis reports rarely ship their model file; the manifests describe the model instead:

* an architecture string ``"in-hidden-...-out"`` (wa-hls4ml): a chain of dense layers
  without activations (``dense_chain``);
* a layer list (``from_layers``), Keras-like, on a channels-first input shape, e.g. the hls4ml
  CI test models::

      input: [3, 28, 28]
      layers:
        - {conv2d: 32, kernel: 4, stride: 4, padding: same, bias: false}
      # or {dense: 64}, {activation: relu}, {activation: leaky_relu, alpha: 0.3},
      #    {batchnorm: {}}, {pool2d: max, pool: 2, padding: valid}, {pool1d: avg},
      #    {depthwise_conv2d: 1, kernel: 3}, {conv1d: 8, kernel: 3}, {flatten: {}},
      #    {reduce: mean, axes: [0]}, {global_pool: avg}

Shapes follow the IR: per inference, no batch axis, channels first; a dense layer acts on the
last axis (a Deep Sets φ on ``[8, 3]`` is applied to 8 particles). Keras ``same`` padding puts
the odd pixel at the end, as Keras/TensorFlow do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from hwsim.errors import ModelError
from hwsim.ir import Attrs, Op, OpGraph, OpPrecision, Precision, TensorSpec


def _prec(spec: Mapping[str, Any] | None) -> OpPrecision:
    if not spec:
        return OpPrecision()
    fields: dict[str, Precision] = {}
    for k, v in spec.items():
        if k not in OpPrecision.FIELDS:
            raise ModelError(f"unknown precision field {k!r} (expected {', '.join(OpPrecision.FIELDS)})")
        try:
            fields[k] = Precision.parse(str(v))
        except ValueError as exc:
            raise ModelError(str(exc)) from None
    return OpPrecision(**fields)


def dense_chain(
    arch: str, name: str | None = None, precision: Mapping[str, Any] | None = None, activation: str | None = None
) -> OpGraph:
    """``"16-64-32-5"`` -> Dense(16->64), Dense(64->32), Dense(32->5) (with biases), optionally
    with an activation after every layer but the last. Op names are ``dense_1``, ``dense_2``..."""
    try:
        widths = [int(x) for x in str(arch).replace("_", "-").split("-")]
    except ValueError:
        raise ModelError(f"architecture {arch!r}: expected widths like 16-64-5") from None
    if len(widths) < 2 or any(w < 1 for w in widths):
        raise ModelError(f"architecture {arch!r}: needs at least two positive widths")
    layers: list[dict[str, Any]] = []
    for i, w in enumerate(widths[1:]):
        layers.append({"dense": w, "precision": dict(precision or {})})
        if activation and i < len(widths) - 2:
            layers.append({"activation": activation})
    return from_layers([widths[0]], layers, name=name or f"dense-{arch}")


def _pair(v: Any, dims: int) -> tuple[int, ...]:
    if isinstance(v, (list, tuple)):
        if len(v) != dims:
            raise ModelError(f"expected {dims} values, got {v!r}")
        return tuple(int(x) for x in v)
    return (int(v),) * dims


def _pads(in_sz: Sequence[int], k: Sequence[int], s: Sequence[int], padding: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(output size, pads begin..., end...) for Keras 'same'/'valid'."""
    if padding == "valid":
        out = tuple((i - kk) // ss + 1 for i, kk, ss in zip(in_sz, k, s))
        return out, (0,) * (2 * len(in_sz))
    if padding == "same":
        out = tuple(math.ceil(i / ss) for i, ss in zip(in_sz, s))
        total = [max((o - 1) * ss + kk - i, 0) for o, ss, kk, i in zip(out, s, k, in_sz)]
        begin = tuple(t // 2 for t in total)
        end = tuple(t - t // 2 for t in total)
        return out, begin + end
    raise ModelError(f"padding {padding!r}: expected 'same' or 'valid'")


def from_layers(input_shape: Sequence[int], layers: Sequence[Mapping[str, Any]], name: str = "model") -> OpGraph:
    """Build a sequential :class:`OpGraph` from a layer list (see the module docstring)."""
    shape = tuple(int(x) for x in input_shape)
    if not shape or any(x < 1 for x in shape):
        raise ModelError(f"{name}: bad input shape {list(input_shape)!r}")
    inp = TensorSpec("input", shape)
    cur = inp
    ops: list[Op] = []
    counts: dict[str, int] = {}

    def new_name(base: str, explicit: Any) -> str:
        if explicit:
            return str(explicit)
        counts[base] = counts.get(base, 0) + 1
        return f"{base}_{counts[base]}"

    for idx, spec in enumerate(layers):
        if not isinstance(spec, Mapping):
            raise ModelError(f"{name}: layer {idx} must be a mapping, got {spec!r}")
        kinds = [k for k in spec if k in _LAYER_KINDS]
        if len(kinds) != 1:
            raise ModelError(f"{name}: layer {idx} {dict(spec)!r} must name exactly one of {', '.join(_LAYER_KINDS)}")
        kind = kinds[0]
        arg = spec[kind]
        prec = _prec(spec.get("precision"))
        sparsity = float(spec.get("sparsity", 0.0))
        s = cur.shape
        if kind == "dense":
            n_out = int(arg)
            op_name = new_name("dense", spec.get("name"))
            out = TensorSpec(f"{op_name}_out", s[:-1] + (n_out,))
            op = Op(
                op_name,
                "dense",
                (cur,),
                (out,),
                Attrs({"n_in": s[-1], "n_out": n_out, "bias": bool(spec.get("bias", True))}),
                prec,
                sparsity,
                (op_name,),
            )
        elif kind in ("conv1d", "conv2d", "depthwise_conv1d", "depthwise_conv2d"):
            dims = 1 if kind.endswith("1d") else 2
            if len(s) != dims + 1:
                raise ModelError(f"{name}: layer {idx} ({kind}) needs a (C, {'L' if dims == 1 else 'H, W'}) input, got {list(s)}")
            c_in = s[0]
            k = _pair(spec.get("kernel", 3), dims)
            st = _pair(spec.get("stride", 1), dims)
            out_sz, pads = _pads(s[1:], k, st, str(spec.get("padding", "valid")))
            if kind.startswith("depthwise"):
                groups, c_out = c_in, c_in * int(arg)
            else:
                groups, c_out = int(spec.get("groups", 1)), int(arg)
            op_name = new_name(kind, spec.get("name"))
            out = TensorSpec(f"{op_name}_out", (c_out,) + out_sz)
            attrs = {
                "dims": dims,
                "in_channels": c_in,
                "out_channels": c_out,
                "kernel": k,
                "stride": st,
                "pads": pads,
                "dilation": (1,) * dims,
                "groups": groups,
                "bias": bool(spec.get("bias", True)),
            }
            op = Op(op_name, "conv", (cur,), (out,), Attrs(attrs), prec, sparsity, (op_name,))
        elif kind in ("pool1d", "pool2d"):
            dims = 1 if kind == "pool1d" else 2
            func = {"max": "max", "avg": "avg", "average": "avg"}.get(str(arg).lower())
            if func is None:
                raise ModelError(f"{name}: layer {idx}: pooling function {arg!r} (max|avg)")
            k = _pair(spec.get("pool", 2), dims)
            st = _pair(spec.get("stride", spec.get("pool", 2)), dims)
            out_sz, pads = _pads(s[1:], k, st, str(spec.get("padding", "valid")))
            op_name = new_name(f"{func}_pool{dims}d", spec.get("name"))
            out = TensorSpec(f"{op_name}_out", (s[0],) + out_sz)
            op = Op(
                op_name,
                "pool",
                (cur,),
                (out,),
                Attrs({"function": func, "dims": dims, "kernel": k, "stride": st, "pads": pads}),
                prec,
                0.0,
                (op_name,),
            )
        elif kind == "global_pool":
            func = {"max": "max", "avg": "avg", "average": "avg"}.get(str(arg).lower(), "avg")
            op_name = new_name(f"global_{func}_pool", spec.get("name"))
            out = TensorSpec(f"{op_name}_out", (s[0],) + (1,) * (len(s) - 1))
            op = Op(op_name, "global_pool", (cur,), (out,), Attrs({"function": func, "dims": len(s) - 1}), prec, 0.0, (op_name,))
        elif kind == "activation":
            func = str(arg)
            op_name = new_name(func, spec.get("name"))
            aattrs: dict[str, Any] = {"function": func}
            if "alpha" in spec:
                aattrs["alpha"] = float(spec["alpha"])
            elif func == "leaky_relu":
                aattrs["alpha"] = 0.3  # Keras default
            elif func == "elu":
                aattrs["alpha"] = 1.0
            if func == "prelu":
                aattrs["slope_shape"] = (s[-1],)
            if func in ("softmax", "log_softmax"):
                aattrs["axis"] = -1
            out = TensorSpec(f"{op_name}_out", s)
            op = Op(op_name, "activation", (cur,), (out,), Attrs(aattrs), prec, 0.0, (op_name,))
        elif kind == "batchnorm":
            op_name = new_name("batchnorm", spec.get("name"))
            # feature maps (C, H, W): channel axis 0; vectors and per-particle features: last axis
            axis = int(spec.get("axis", 0 if len(s) == 3 else len(s) - 1)) % len(s)
            out = TensorSpec(f"{op_name}_out", s)
            op = Op(
                op_name,
                "batchnorm",
                (cur,),
                (out,),
                Attrs({"channels": s[axis], "axis": axis, "epsilon": 1e-3}),
                prec,
                0.0,
                (op_name,),
            )
        elif kind == "flatten":
            op_name = new_name("flatten", spec.get("name"))
            out = TensorSpec(f"{op_name}_out", (int(math.prod(s)),))
            op = Op(op_name, "reshape", (cur,), (out,), Attrs({"function": "flatten"}), prec, 0.0, (op_name,))
        elif kind == "reduce":
            axes = tuple(int(a) for a in spec.get("axes", (0,)))
            keep = bool(spec.get("keepdims", False))
            new_shape = (
                tuple((1 if i in axes else d) for i, d in enumerate(s))
                if keep
                else tuple(d for i, d in enumerate(s) if i not in axes)
            )
            op_name = new_name(f"reduce_{arg}", spec.get("name"))
            out = TensorSpec(f"{op_name}_out", new_shape or (1,))
            op = Op(
                op_name,
                "reduce",
                (cur,),
                (out,),
                Attrs({"function": str(arg), "axes": axes, "keepdims": keep}),
                prec,
                0.0,
                (op_name,),
            )
        else:  # pragma: no cover - guarded by _LAYER_KINDS
            raise ModelError(kind)
        ops.append(op)
        cur = op.outputs[0]
    if not ops:
        raise ModelError(f"{name}: no layers")
    return OpGraph(ops, [inp], [cur.name], name=name)


_LAYER_KINDS = (
    "dense",
    "conv1d",
    "conv2d",
    "depthwise_conv1d",
    "depthwise_conv2d",
    "pool1d",
    "pool2d",
    "global_pool",
    "activation",
    "batchnorm",
    "flatten",
    "reduce",
)


def build_model(spec: Any, base_dir: str | None = None, name: str | None = None) -> OpGraph:
    """A manifest ``model`` value -> OpGraph.

    * a string with dashes and digits only (``"80-24-120"``): :func:`dense_chain`;
    * ``{"arch": "80-24-120", "precision": {...}, "activation": "relu"}``: the same;
    * ``{"input": [...], "layers": [...]}``: :func:`from_layers`;
    * ``{"builder": "hwsim.module:function", "args": {...}}``: a graph builder of hwsim itself
      (e.g. :func:`hwsim.backends.fpga.graphs.hls4ml_ci_model`), so that a manifest and a
      validation script share one model definition; it returns an OpGraph or (OpGraph, ...);
    * any other string: an ``.onnx`` path (relative to the manifest) or a zoo name, lowered
      by :func:`hwsim.api.lower`.
    """
    import re
    from pathlib import Path

    if isinstance(spec, str):
        if re.fullmatch(r"\d+(-\d+)+", spec.strip()):
            return dense_chain(spec.strip(), name=name)
        from hwsim.api import lower

        target = spec
        if base_dir and spec.endswith(".onnx") and not Path(spec).is_absolute():
            target = str(Path(base_dir) / spec)
        return lower(target)
    if isinstance(spec, Mapping):
        if "arch" in spec:
            return dense_chain(
                str(spec["arch"]),
                name=name or str(spec.get("name") or "") or None,
                precision=spec.get("precision"),
                activation=spec.get("activation"),
            )
        if "layers" in spec:
            return from_layers(spec.get("input", ()), spec["layers"], name=str(spec.get("name") or name or "model"))
        if "zoo" in spec or "onnx" in spec:
            return build_model(str(spec.get("zoo") or spec.get("onnx")), base_dir, name)
        if "builder" in spec:
            out = call_builder(spec, "model")
            graph = out[0] if isinstance(out, tuple) else out
            if not isinstance(graph, OpGraph):
                raise ModelError(f"model {spec!r}: the builder returned {type(graph).__name__}, not an OpGraph")
            return graph
    raise ModelError(
        f"model {spec!r}: expected an architecture string, {{arch: ...}}, {{input, layers}}, {{builder: ...}}, an .onnx path or a zoo name"
    )


def call_builder(spec: Mapping[str, Any], what: str) -> Any:
    """Call the builder named by ``spec["builder"]`` (``"hwsim.<module>:<function>"``, only
    functions inside the hwsim package: a manifest is data, not code) with ``spec["args"]``
    as keyword arguments. Raises ModelError naming the builder on any failure."""
    import importlib

    target = str(spec.get("builder", ""))
    args = spec.get("args") or {}
    module_name, _, attr = target.partition(":")
    if not (module_name == "hwsim" or module_name.startswith("hwsim.")) or not attr:
        raise ModelError(f"{what} builder {target!r}: expected 'hwsim.<module>:<function>'")
    if not isinstance(args, Mapping):
        raise ModelError(f"{what} builder {target!r}: 'args' must be a mapping")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"{what} builder {target!r}: not found ({exc})") from None
    try:
        out = fn(**{str(k): v for k, v in args.items()})
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{what} builder {target!r}: {exc}") from None
    if out is None:
        raise ModelError(f"{what} builder {target!r} with {dict(args)!r}: no design")
    return out
