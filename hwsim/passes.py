"""Graph passes. Each takes an :class:`OpGraph` and returns a :class:`PassResult` saying
whether it changed anything and what.

* ``fold_batchnorm`` — fold a BatchNormalization into the dense/conv right before it, where
  hls4ml's ``FuseBatchNormalization`` optimizer would: the BN reads the output of a Dense or
  Conv whose output has no other consumer, on that op's channel axis. The folded op gains a
  bias; weights are rescaled numerically when the graph carries them (zeros stay zeros, so
  sparsity is unchanged). A BN after an activation stays a BN (hls4ml keeps it as a layer).
* ``fuse_activations`` — attach an element-wise activation to the dense/conv that feeds it
  (``attrs['activation']``), as the AIMC tile's LDPU applies ReLU to the MVM output.
* ``drop_identities`` — remove ops that do nothing: identity/linear activations, Dropout,
  reshapes whose output shape equals their input shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from hwsim.ir import ACTIVATION, BATCHNORM, CONV, DENSE, RESHAPE, Op, OpGraph, TensorSpec

FUSABLE_DEFAULT = ("relu",)


@dataclass(frozen=True)
class PassResult:
    graph: OpGraph
    changed: bool
    messages: tuple[str, ...] = ()


def _rewire(ops: Sequence[Op], old: str, new: TensorSpec) -> list[Op]:
    """Replace every read of tensor ``old`` by ``new``."""
    out = []
    for op in ops:
        if any(t.name == old for t in op.inputs):
            op = op.evolve(inputs=tuple(new if t.name == old else t for t in op.inputs))
        out.append(op)
    return out


def fold_batchnorm(graph: OpGraph, allow: Callable[[Op, Op], bool] | None = None) -> PassResult:
    """``allow(producer, bn)``, when given, can veto a fold (the fpga backend vetoes where
    hls4ml's FuseBatchNormalization would not fuse: explicit result precision, binary weights)."""
    ops = list(graph.ops())
    weights = {k: dict(v) for k, v in graph.weights.items()}
    messages: list[str] = []
    removed: set[str] = set()
    by_name = {op.name: i for i, op in enumerate(ops)}
    for bn in graph.ops():
        if bn.kind != BATCHNORM:
            continue
        prev = graph.producer(bn.inputs[0].name)
        if prev is None or prev.kind not in (DENSE, CONV) or prev.name in removed:
            continue
        if len(graph.consumers(prev.outputs[0].name)) != 1 or prev.outputs[0].name in graph.outputs:
            continue
        if "activation" in prev.attrs:
            continue
        if allow is not None and not allow(prev, bn):
            continue
        rank = len(bn.input_shape)
        axis = int(bn.attrs.get("axis", 0)) % max(rank, 1)
        want_axis = (rank - 1) if prev.kind == DENSE else 0
        channels = int(prev.attrs["n_out"] if prev.kind == DENSE else prev.attrs["out_channels"])
        if axis != want_axis or int(bn.attrs["channels"]) != channels:
            continue
        i = by_name[prev.name]
        new_attrs = prev.attrs.updated(bias=True)
        prec = prev.precision if bn.precision.output is None else replace(prev.precision, output=bn.precision.output)
        folded = prev.evolve(outputs=bn.outputs, attrs=new_attrs, origin=prev.origin + bn.origin, precision=prec)
        ops[i] = folded
        removed.add(bn.name)
        w = weights.get(prev.name)
        b = weights.get(bn.name)
        if w is not None and b is not None and "weight" in w:
            scale = b["scale"] / np.sqrt(b["var"] + float(bn.attrs.get("epsilon", 1e-5)))
            wt = w["weight"]
            new_w = wt * scale.reshape((-1,) + (1,) * (wt.ndim - 1))
            bias = w.get("bias", np.zeros(channels, dtype=wt.dtype))
            new_b = (bias - b["mean"]) * scale + b["bias"]
            weights[prev.name] = {"weight": new_w.astype(wt.dtype), "bias": new_b.astype(wt.dtype)}
        weights.pop(bn.name, None)
        messages.append(f"folded {bn.name} into {prev.name}")
    if not removed:
        return PassResult(graph, False)
    new_ops = [op for op in ops if op.name not in removed]
    return PassResult(graph.replace_ops(new_ops, weights=weights), True, tuple(messages))


def fuse_activations(graph: OpGraph, functions: Iterable[str] = FUSABLE_DEFAULT) -> PassResult:
    allowed = set(functions)
    ops = list(graph.ops())
    idx = {op.name: i for i, op in enumerate(ops)}
    removed: set[str] = set()
    messages: list[str] = []
    for act in graph.ops():
        if act.kind != ACTIVATION or act.function not in allowed:
            continue
        prev = graph.producer(act.inputs[0].name)
        if prev is None or prev.kind not in (DENSE, CONV) or "activation" in ops[idx[prev.name]].attrs:
            continue
        if len(graph.consumers(prev.outputs[0].name)) != 1 or prev.outputs[0].name in graph.outputs:
            continue
        cur = ops[idx[prev.name]]
        extra = {"activation": act.function}
        if "alpha" in act.attrs:
            extra["activation_alpha"] = act.attrs["alpha"]
        prec = cur.precision if act.precision.output is None else replace(cur.precision, output=act.precision.output)
        ops[idx[prev.name]] = cur.evolve(
            outputs=act.outputs, attrs=cur.attrs.updated(**extra), origin=cur.origin + act.origin, precision=prec
        )
        removed.add(act.name)
        messages.append(f"fused {act.name} ({act.function}) into {prev.name}")
    if not removed:
        return PassResult(graph, False)
    return PassResult(graph.replace_ops([op for op in ops if op.name not in removed]), True, tuple(messages))


_IDENTITY_FUNCS = {"identity", "linear", "dropout"}


def _is_identity(op: Op) -> bool:
    """An op that passes its single input through unchanged (a transpose only when its
    permutation is the identity: a square transpose keeps the shape but moves data)."""
    if op.kind == ACTIVATION:
        return op.function in _IDENTITY_FUNCS
    if op.kind != RESHAPE or len(op.inputs) != 1 or len(op.outputs) != 1:
        return False
    if op.function in _IDENTITY_FUNCS:
        return True
    if op.function == "transpose":
        perm = tuple(int(p) for p in op.attrs.get("perm", ()))
        return perm == tuple(range(len(perm)))
    return op.inputs[0].shape == op.outputs[0].shape


def drop_identities(graph: OpGraph) -> PassResult:
    ops = list(graph.ops())
    messages: list[str] = []
    changed = False
    outputs = list(graph.outputs)
    input_names = {t.name for t in graph.inputs}
    for name in [op.name for op in graph.ops()]:
        # always work on the current version of the op (earlier drops rewire its inputs)
        op = next(o for o in ops if o.name == name)
        if not _is_identity(op):
            continue
        src = op.inputs[0]
        dst = op.outputs[0]
        if dst.name in outputs:
            # keep the graph output's name: rename the producer's output instead when possible
            prod = next((o for o in ops if any(t.name == src.name for t in o.outputs)), None)
            readers = [o for o in ops if o.name != op.name and any(t.name == src.name for t in o.inputs)]
            if prod is None or readers or src.name in outputs or src.name in input_names:
                continue
            ops = [
                o.evolve(outputs=tuple(dst if t.name == src.name else t for t in o.outputs)) if o.name == prod.name else o
                for o in ops
            ]
            ops = [o for o in ops if o.name != op.name]
        else:
            ops = [o for o in ops if o.name != op.name]
            ops = _rewire(ops, dst.name, src)
        messages.append(f"dropped {op.name} ({op.kind}:{op.function or 'same shape'})")
        changed = True
    if not changed:
        return PassResult(graph, False)
    return PassResult(graph.replace_ops(ops, outputs=outputs), True, tuple(messages))


PASSES: dict[str, Callable[[OpGraph], PassResult]] = {
    "drop_identities": drop_identities,
    "fold_batchnorm": fold_batchnorm,
    "fuse_activations": fuse_activations,
}


def run_passes(graph: OpGraph, names: Iterable[str]) -> PassResult:
    """Run the named passes in order; the result lists every change."""
    messages: list[str] = []
    changed = False
    for name in names:
        try:
            fn = PASSES[name]
        except KeyError:
            raise ValueError(f"unknown pass {name!r} (known: {', '.join(PASSES)})") from None
        res = fn(graph)
        graph = res.graph
        changed |= res.changed
        messages.extend(res.messages)
    return PassResult(graph, changed, tuple(messages))
