"""Shared test fixtures: small graphs built directly with the IR (no frontend needed)."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.ir import ACTIVATION, DENSE, OPAQUE, Op, OpGraph, OpPrecision, Precision, TensorSpec


def mlp_graph(widths=(16, 64, 32, 32, 5), precision: OpPrecision | None = None, name: str = "mlp", seed: int = 0) -> OpGraph:
    """A dense chain with ReLU between layers and softmax at the end, with random weights."""
    rng = np.random.default_rng(seed)
    x = TensorSpec("x", (widths[0],))
    ops: list[Op] = []
    weights: dict[str, dict[str, np.ndarray]] = {}
    cur = x
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        out = TensorSpec(f"h{i}", (b,))
        ops.append(
            Op(
                f"fc{i}",
                DENSE,
                (cur,),
                (out,),
                {"n_in": a, "n_out": b, "bias": True},
                precision or OpPrecision(),
                origin=(f"Gemm_{i}",),
            )
        )
        weights[f"fc{i}"] = {"weight": rng.normal(size=(b, a)).astype(np.float32), "bias": np.zeros(b, np.float32)}
        last = i == len(widths) - 2
        act_out = TensorSpec(f"a{i}", (b,))
        fn = "softmax" if last else "relu"
        attrs = {"function": fn, "axis": 0} if last else {"function": fn}
        ops.append(Op(f"act{i}", ACTIVATION, (out,), (act_out,), attrs, precision or OpPrecision(), origin=(f"Act_{i}",)))
        cur = act_out
    return OpGraph(ops, [x], [cur.name], name=name, weights=weights)


def graph_with_opaque() -> OpGraph:
    g = mlp_graph((8, 4))
    ops = list(g.ops())
    last = ops[-1].outputs[0]
    ops.append(
        Op(
            "weird",
            OPAQUE,
            (last,),
            (TensorSpec("w_out", last.shape),),
            {"op_type": "NonMaxSuppression", "domain": ""},
            origin=("nms_0",),
        )
    )
    return OpGraph(ops, g.inputs, ["w_out"], name="opaque", weights=g.weights)


@pytest.fixture
def jet_graph() -> OpGraph:
    return mlp_graph()


@pytest.fixture
def int8_jet_graph() -> OpGraph:
    p = OpPrecision(
        weight=Precision.fixed(8, 1), bias=Precision.fixed(8, 1), input=Precision.fixed(8, 3), output=Precision.fixed(8, 3)
    )
    return mlp_graph(precision=p, name="mlp8")
