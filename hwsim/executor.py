"""Execute an :class:`~hwsim.ir.OpGraph` with its weights in PyTorch.

``to_torch(graph)`` returns a ``torch.nn.Module`` whose ``forward(*inputs)`` takes one tensor
per graph input, each of shape ``(batch, *per_inference_shape)``, and returns the graph
output (a tuple when the graph has several). Dense and conv ops are real ``nn.Linear`` /
``nn.Conv1d`` / ``nn.Conv2d`` submodules, so aihwkit's ``convert_to_analog`` maps them onto
analog tiles (:mod:`hwsim.backends.aimc.noise`); everything else is functional.

This is the "ONNX -> IR -> PyTorch" path: ``to_torch(load_onnx(f))`` reproduces onnxruntime on
``f`` (tests/test_executor.py). Weight layouts are those of :mod:`hwsim.ops`. An element-wise
op with a constant operand needs its value in ``OpGraph.weights[op.name]["const"]`` (the
per-inference constant, broadcastable against the activation) and, when the constant is the
*first* operand of a non-commutative op (``c - x``, ``c / x``, ``c ** x``),
``op.attrs["const_index"] = 0``; a missing value raises :class:`ModelError` naming the op.

``torch`` is imported only here (and this module is imported only by what needs it).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hwsim.errors import ModelError
from hwsim.ir import (
    ACTIVATION,
    BATCHNORM,
    CONCAT,
    CONV,
    DENSE,
    ELEMENTWISE,
    GLOBAL_POOL,
    LAYERNORM,
    MATMUL,
    OPAQUE,
    POOL,
    REDUCE,
    RESHAPE,
    Op,
    OpGraph,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch


def _key(name: str) -> str:
    """A ModuleDict-safe key for an op name."""
    return "op_" + re.sub(r"\W", "_", name)


def _weights(graph: OpGraph, op: Op, *keys: str, optional: bool = False) -> list[np.ndarray | None]:
    w = graph.weights.get(op.name, {})
    out: list[np.ndarray | None] = []
    for k in keys:
        v = w.get(k)
        if v is None and not optional:
            raise ModelError(
                f"op {op.name!r} ({op.kind}): the graph carries no {k!r} weights (OpGraph.weights[{op.name!r}][{k!r}])"
            )
        out.append(None if v is None else np.array(v, dtype=np.float32))
    return out


def _apply_activation(torch: Any, F: Any, x: Any, fn: str, attrs: Any, slope: Any = None) -> Any:
    """One activation function (names of hwsim.ops.ACTIVATION_FUNCTIONS); ``axis`` attrs are
    per-inference axes (+1 for the batch)."""
    alpha = attrs.get("alpha")
    if fn == "relu":
        return F.relu(x)
    if fn == "leaky_relu":
        return F.leaky_relu(x, 0.01 if alpha is None else float(alpha))
    if fn == "elu":
        return F.elu(x, 1.0 if alpha is None else float(alpha))
    if fn == "selu":
        a = 1.6732632423543772 if alpha is None else float(alpha)
        g = float(attrs.get("gamma", 1.0507009873554805))
        return g * torch.where(x > 0, x, a * (torch.exp(x) - 1.0))
    if fn == "prelu":
        return torch.where(x >= 0, x, x * slope)
    if fn == "sigmoid":
        return torch.sigmoid(x)
    if fn == "hard_sigmoid":
        a = 0.2 if alpha is None else float(alpha)
        return torch.clamp(a * x + float(attrs.get("beta", 0.5)), 0.0, 1.0)
    if fn == "tanh":
        return torch.tanh(x)
    if fn in ("softmax", "log_softmax"):
        axis = int(attrs.get("axis", -1))
        dim = axis + 1 if axis >= 0 else axis
        return F.softmax(x, dim=dim) if fn == "softmax" else F.log_softmax(x, dim=dim)
    simple = {
        "exp": torch.exp,
        "log": torch.log,
        "cosh": torch.cosh,
        "sinh": torch.sinh,
        "abs": torch.abs,
        "sqrt": torch.sqrt,
        "reciprocal": torch.reciprocal,
        "erf": torch.erf,
        "softplus": F.softplus,
    }
    if fn in simple:
        return simple[fn](x)
    if fn == "square":
        return x * x
    if fn == "gelu":
        return F.gelu(x, approximate="tanh" if str(attrs.get("approximate", "none")) == "tanh" else "none")
    if fn == "clip":
        lo, hi = attrs.get("min"), attrs.get("max")
        return torch.clamp(x, None if lo is None else float(lo), None if hi is None else float(hi))
    if fn in ("identity", "linear", "dropout"):
        return x
    raise ModelError(f"activation {fn!r} is not executable")


def to_torch(graph: OpGraph) -> torch.nn.Module:
    """A ``torch.nn.Module`` computing ``graph`` with its weights (eval mode, float32).

    Raises :class:`ModelError` naming the op when weights are missing or an op (``opaque``)
    cannot be executed.
    """
    for op in graph.ops():
        if op.kind == OPAQUE:
            raise ModelError(
                f"op {op.name!r} ({op.attrs.get('op_type', '?')}) cannot be executed: the frontend could not read it"
            )
    module: torch.nn.Module = _graph_module_class()(graph)
    module.eval()
    return module


@functools.lru_cache(maxsize=1)
def _graph_module_class() -> type:
    """The module class, created once (torch is imported lazily). All graph state lives on
    the instance: aihwkit's ``convert_to_analog`` caches wrapper classes by class, so the
    class must not close over a particular graph."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class GraphModule(nn.Module):
        """Executes an OpGraph (see :func:`hwsim.executor.to_torch`)."""

        def __init__(self, graph: OpGraph) -> None:
            super().__init__()
            self.graph = graph
            self.layers = nn.ModuleDict()
            self._const: dict[str, str] = {}
            for op in self.graph.ops():
                self._build(op)

        def _buffer(self, op: Op, key: str, value: np.ndarray) -> None:
            name = f"{_key(op.name)}__{key}"
            self.register_buffer(name, torch.from_numpy(np.array(value, dtype=np.float32, copy=True)))
            self._const[f"{op.name}/{key}"] = name

        def _get(self, op: Op, key: str) -> Any:
            return getattr(self, self._const[f"{op.name}/{key}"])

        def _build(self, op: Op) -> None:
            a = op.attrs
            if op.kind == DENSE:
                (w,) = _weights(self.graph, op, "weight")
                assert w is not None
                has_bias = bool(a.get("bias", False)) or "bias" in self.graph.weights.get(op.name, {})
                lin = nn.Linear(int(a["n_in"]), int(a["n_out"]), bias=has_bias)
                with torch.no_grad():
                    lin.weight.copy_(torch.from_numpy(w.reshape(int(a["n_out"]), int(a["n_in"]))))
                    if has_bias:
                        (b,) = _weights(self.graph, op, "bias", optional=True)
                        lin.bias.copy_(torch.from_numpy(b.reshape(-1)) if b is not None else torch.zeros(int(a["n_out"])))
                self.layers[_key(op.name)] = lin
            elif op.kind == CONV:
                (w,) = _weights(self.graph, op, "weight")
                assert w is not None
                dims = int(a["dims"])
                pads = tuple(int(p) for p in a["pads"])
                sym = pads[:dims] == pads[dims:]
                cls: Any = nn.Conv1d if dims == 1 else nn.Conv2d if dims == 2 else None
                if cls is None:
                    raise ModelError(f"op {op.name!r}: {dims}-D convolution is not executable")
                has_bias = bool(a.get("bias", False)) or "bias" in self.graph.weights.get(op.name, {})
                conv = cls(
                    int(a["in_channels"]),
                    int(a["out_channels"]),
                    tuple(int(k) for k in a["kernel"]),
                    stride=tuple(int(s) for s in a["stride"]),
                    padding=tuple(pads[:dims]) if sym else 0,
                    dilation=tuple(int(d) for d in a["dilation"]),
                    groups=int(a["groups"]),
                    bias=has_bias,
                )
                with torch.no_grad():
                    conv.weight.copy_(torch.from_numpy(w.reshape(conv.weight.shape)))
                    if has_bias:
                        (b,) = _weights(self.graph, op, "bias", optional=True)
                        conv.bias.copy_(torch.from_numpy(b.reshape(-1)) if b is not None else torch.zeros(int(a["out_channels"])))
                self.layers[_key(op.name)] = conv
            elif op.kind == BATCHNORM:
                for k, v in zip(("scale", "bias", "mean", "var"), _weights(self.graph, op, "scale", "bias", "mean", "var")):
                    assert v is not None
                    self._buffer(op, k, v.reshape(-1))
            elif op.kind == LAYERNORM and a.get("affine", True):
                for k, v in zip(("scale", "bias"), _weights(self.graph, op, "scale", "bias")):
                    assert v is not None
                    self._buffer(op, k, v.reshape(-1))
            elif op.kind == ACTIVATION and op.function == "prelu":
                (s,) = _weights(self.graph, op, "slope")
                assert s is not None
                self._buffer(op, "slope", s.reshape(tuple(int(x) for x in a.get("slope_shape", s.shape))))
            elif op.kind == ELEMENTWISE and int(a.get("n_const", 0)):
                cw = self.graph.weights.get(op.name, {})
                if "const" not in cw and op.function == "pow" and "exponent" in a:
                    cw = {"const": np.asarray(float(a["exponent"]), dtype=np.float32)}
                if "const" not in cw:
                    raise ModelError(
                        f"op {op.name!r} (elementwise {op.function}, from {','.join(op.origin) or op.name}): its constant operand has no value in the graph "
                        f"(OpGraph.weights[{op.name!r}]['const']); the frontend must store it"
                    )
                self._buffer(op, "const", np.asarray(cw["const"], dtype=np.float32))

        # -- forward ------------------------------------------------------------------------
        def forward(self, *xs: Any) -> Any:
            if len(xs) != len(self.graph.inputs):
                raise ModelError(f"{self.graph.name}: forward takes {len(self.graph.inputs)} input(s), got {len(xs)}")
            env: dict[str, Any] = {}
            batch = int(xs[0].shape[0]) if xs and xs[0].dim() else 1
            for spec, x in zip(self.graph.inputs, xs):
                x = torch.as_tensor(x, dtype=torch.float32)
                if tuple(x.shape[1:]) != tuple(spec.shape):
                    raise ModelError(
                        f"{self.graph.name}: input {spec.name!r} has shape {tuple(x.shape)}, expected (batch, {', '.join(map(str, spec.shape))})"
                    )
                env[spec.name] = x
            for op in self.graph.ops():
                args = [env[t.name] for t in op.inputs]
                y = self._run(op, args, batch)
                want = (batch, *op.outputs[0].shape)
                if tuple(y.shape) != want:
                    if y.numel() == math.prod(want):
                        y = y.reshape(want)
                    else:
                        raise ModelError(f"op {op.name!r} ({op.kind}): computed shape {tuple(y.shape)}, the graph says {want}")
                env[op.outputs[0].name] = y
            outs = tuple(env[n] for n in self.graph.outputs)
            return outs[0] if len(outs) == 1 else outs

        def _run(self, op: Op, args: Sequence[Any], batch: int) -> Any:
            a = op.attrs
            x: Any = args[0] if args else None
            if op.kind == DENSE:
                lin = self.layers[_key(op.name)]
                lead = x.shape[:-1]
                y = lin(x.reshape(-1, x.shape[-1])).reshape(*lead, -1)
                act = a.get("activation")
                return _apply_activation(torch, F, y, str(act), {"alpha": a.get("activation_alpha")}) if act else y
            if op.kind == CONV:
                conv = self.layers[_key(op.name)]
                dims = int(a["dims"])
                pads = tuple(int(p) for p in a["pads"])
                if pads[:dims] != pads[dims:]:
                    # F.pad wants (last-dim begin, last-dim end, ...)
                    spec: list[int] = []
                    for i in reversed(range(dims)):
                        spec += [pads[i], pads[dims + i]]
                    x = F.pad(x, spec)
                y = conv(x)
                act = a.get("activation")
                return _apply_activation(torch, F, y, str(act), {"alpha": a.get("activation_alpha")}) if act else y
            if op.kind == BATCHNORM:
                axis = int(a.get("axis", 0)) % max(x.dim() - 1, 1) + 1
                shape = [1] * x.dim()
                shape[axis] = -1
                s, b, m, v = (self._get(op, k).reshape(shape) for k in ("scale", "bias", "mean", "var"))
                return (x - m) / torch.sqrt(v + float(a.get("epsilon", 1e-5))) * s + b
            if op.kind == LAYERNORM:
                axis = int(a["axis"]) % max(x.dim() - 1, 1) + 1
                norm_shape = tuple(x.shape[axis:])
                w = self._get(op, "scale").reshape(norm_shape) if a.get("affine", True) else None
                b = self._get(op, "bias").reshape(norm_shape) if a.get("affine", True) else None
                return F.layer_norm(x, norm_shape, w, b, float(a.get("epsilon", 1e-5)))
            if op.kind == ACTIVATION:
                slope = self._get(op, "slope") if op.function == "prelu" else None
                return _apply_activation(torch, F, x, op.function, a, slope)
            if op.kind == POOL:
                return self._pool(op, x)
            if op.kind == GLOBAL_POOL:
                spatial = tuple(range(2, x.dim()))
                return x.mean(dim=spatial, keepdim=True) if op.function == "avg" else x.amax(dim=spatial, keepdim=True)
            if op.kind == REDUCE:
                axes = tuple(int(ax) % max(x.dim() - 1, 1) + 1 for ax in a["axes"])
                keep = bool(a.get("keepdims", True))
                fn = op.function
                if fn == "mean":
                    return x.mean(dim=axes, keepdim=keep)
                if fn == "sum":
                    return x.sum(dim=axes, keepdim=keep)
                if fn == "max":
                    return x.amax(dim=axes, keepdim=keep)
                if fn == "min":
                    return x.amin(dim=axes, keepdim=keep)
                if fn == "sum_square":
                    return (x * x).sum(dim=axes, keepdim=keep)
                if fn == "l2":
                    return torch.sqrt((x * x).sum(dim=axes, keepdim=keep))
                if fn == "prod":
                    y = x
                    for ax in sorted(axes, reverse=True):
                        y = y.prod(dim=ax, keepdim=keep)
                    return y
                raise ModelError(f"op {op.name!r}: reduction {fn!r} is not executable")
            if op.kind == ELEMENTWISE:
                if int(a.get("n_const", 0)):
                    c = self._get(op, "const")
                    lhs, rhs = (c, x) if int(a.get("const_index", 1)) == 0 else (x, c)
                else:
                    lhs, rhs = args[0], args[1]
                fn = op.function
                ops: dict[str, Any] = {
                    "add": torch.add,
                    "sub": torch.sub,
                    "mul": torch.mul,
                    "div": torch.div,
                    "pow": torch.pow,
                    "max": torch.maximum,
                    "min": torch.minimum,
                }
                if fn not in ops:
                    raise ModelError(f"op {op.name!r}: element-wise {fn!r} is not executable")
                return ops[fn](lhs, rhs)
            if op.kind == RESHAPE:
                if op.function == "transpose":
                    perm = [int(p) + 1 for p in a["perm"]]
                    return x.permute(0, *perm)
                return x.reshape(batch, *op.outputs[0].shape)
            if op.kind == CONCAT:
                axis = int(a["axis"])
                return torch.cat(list(args), dim=axis + 1 if axis >= 0 else axis)
            if op.kind == MATMUL:
                return torch.matmul(args[0], args[1])
            raise ModelError(f"op {op.name!r}: kind {op.kind!r} is not executable")

        def _pool(self, op: Op, x: Any) -> Any:
            a = op.attrs
            dims = int(a["dims"])
            k = tuple(int(v) for v in a["kernel"])
            s = tuple(int(v) for v in a["stride"])
            pads = tuple(int(p) for p in a["pads"])
            out_sp = tuple(op.outputs[0].shape[1:])
            spec: list[int] = []
            for i in reversed(range(dims)):
                spec += [pads[i], pads[dims + i]]
            fn_max = F.max_pool1d if dims == 1 else F.max_pool2d
            fn_avg = F.avg_pool1d if dims == 1 else F.avg_pool2d
            for ceil in (False, True):
                if op.function == "max":
                    xp = F.pad(x, spec, value=-math.inf) if any(pads) else x
                    y = fn_max(xp, k, s, ceil_mode=ceil)
                else:
                    xp = F.pad(x, spec) if any(pads) else x
                    y = fn_avg(xp, k, s, ceil_mode=ceil, count_include_pad=True)
                    if any(pads) or ceil:
                        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
                        mask = F.pad(ones, spec) if any(pads) else ones
                        # count_include_pad=0 (ONNX default): divide by the valid elements only
                        frac = fn_avg(mask, k, s, ceil_mode=ceil, count_include_pad=True)
                        y = y / frac
                if tuple(y.shape[2:]) == out_sp:
                    return y
            raise ModelError(f"op {op.name!r}: pooling output {tuple(y.shape[2:])} does not match the graph's {out_sp}")

    return GraphModule


__all__ = ["to_torch"]
