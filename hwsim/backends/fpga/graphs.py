"""Small graph builders for the fpga backend's validation scripts, tests and benchmarks:
networks described by layer widths or conv geometry, built directly with ``hwsim.ir``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwsim.ir import Attrs, Op, OpGraph, TensorSpec


def mlp(
    widths: Sequence[int],
    activation: str | None = "relu",
    final: str | None = None,
    name: str = "mlp",
    rows: int = 1,
    sparsity: float = 0.0,
) -> OpGraph:
    """Dense widths[0] -> widths[1] -> ... with ``activation`` between layers and ``final``
    after the last one. ``rows`` > 1 applies the MLP to each of ``rows`` items (Deep Sets φ)."""
    shape = (rows,) if rows > 1 else ()
    x = TensorSpec("x", shape + (int(widths[0]),))
    ops: list[Op] = []
    cur = x
    n = len(widths) - 1
    for i in range(n):
        out = TensorSpec(f"d{i}", shape + (int(widths[i + 1]),))
        ops.append(
            Op(
                f"dense_{i}",
                "dense",
                (cur,),
                (out,),
                Attrs({"n_in": int(widths[i]), "n_out": int(widths[i + 1]), "bias": True}),
                sparsity=sparsity,
            )
        )
        cur = out
        act = activation if i < n - 1 else final
        if act:
            out = TensorSpec(f"a{i}", cur.shape)
            attrs: dict[str, Any] = {"function": act}
            if act == "softmax":
                attrs["axis"] = len(cur.shape) - 1
            ops.append(Op(f"{act}_{i}", "activation", (cur,), (out,), Attrs(attrs)))
            cur = out
    return OpGraph(ops, [x], [cur.name], name=name)


def conv2d_chain(in_shape: Sequence[int], layers: Sequence[tuple[str, int, int]], name: str = "cnn") -> OpGraph:
    """A chain of ("conv", filters, k) / ("relu", 0, 0) / ("maxpool", 0, k) / ("flatten", 0, 0)
    / ("dense", n_out, 0) / ("softmax", 0, 0) on a (C, H, W) input (valid padding, stride 1
    for conv, stride k for pooling)."""
    c, h, w = (int(v) for v in in_shape)
    x = TensorSpec("x", (c, h, w))
    cur = x
    ops: list[Op] = []
    for i, (kind, n, k) in enumerate(layers):
        if kind == "conv":
            oh, ow = h - k + 1, w - k + 1
            out = TensorSpec(f"t{i}", (n, oh, ow))
            ops.append(
                Op(
                    f"conv_{i}",
                    "conv",
                    (cur,),
                    (out,),
                    Attrs(
                        {
                            "dims": 2,
                            "in_channels": c,
                            "out_channels": n,
                            "kernel": (k, k),
                            "stride": (1, 1),
                            "pads": (0, 0, 0, 0),
                            "dilation": (1, 1),
                            "groups": 1,
                            "bias": False,
                        }
                    ),
                )
            )
            c, h, w = n, oh, ow
        elif kind == "maxpool":
            oh, ow = h // k, w // k
            out = TensorSpec(f"t{i}", (c, oh, ow))
            ops.append(
                Op(
                    f"pool_{i}",
                    "pool",
                    (cur,),
                    (out,),
                    Attrs({"function": "max", "dims": 2, "kernel": (k, k), "stride": (k, k), "pads": (0, 0, 0, 0)}),
                )
            )
            h, w = oh, ow
        elif kind in ("relu", "softmax"):
            out = TensorSpec(f"t{i}", cur.shape)
            attrs: dict[str, Any] = {"function": kind}
            if kind == "softmax":
                attrs["axis"] = 0
            ops.append(Op(f"{kind}_{i}", "activation", (cur,), (out,), Attrs(attrs)))
        elif kind == "flatten":
            out = TensorSpec(f"t{i}", (c * h * w,))
            ops.append(Op(f"flatten_{i}", "reshape", (cur,), (out,), Attrs({"function": "flatten"})))
        elif kind == "dense":
            out = TensorSpec(f"t{i}", (n,))
            ops.append(Op(f"dense_{i}", "dense", (cur,), (out,), Attrs({"n_in": int(cur.shape[0]), "n_out": n, "bias": True})))
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
        cur = out
    return OpGraph(ops, [x], [cur.name], name=name)
