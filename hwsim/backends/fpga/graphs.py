"""Small graph builders for the fpga backend's validation scripts, tests and benchmarks:
networks described by layer widths or conv geometry, built directly with ``hwsim.ir``."""

from __future__ import annotations

import math
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


# ---------------------------------------------------------------------------------------------
# hls4ml CI baselines (hls4ml test/pytest/test_keras_api.py)
# ---------------------------------------------------------------------------------------------


def ci_dense_act(n_out: int, act: str | None) -> OpGraph:
    x = TensorSpec("x", (1,))
    d = TensorSpec("d", (n_out,))
    ops = [Op("dense", "dense", (x,), (d,), Attrs({"n_in": 1, "n_out": n_out, "bias": True}))]
    out = d
    if act:
        a = TensorSpec("a", (n_out,))
        attrs: dict[str, Any] = {"function": act}
        if act == "leaky_relu":
            attrs["alpha"] = 0.3
        if act == "prelu":
            attrs["slope_shape"] = (n_out,)
        ops.append(Op(act, "activation", (d,), (a,), Attrs(attrs)))
        out = a
    return OpGraph(ops, [x], [out.name], name=f"dense{n_out}_{act}")


def ci_conv2d() -> OpGraph:
    x = TensorSpec("x", (3, 28, 28))
    y = TensorSpec("y", (32, 7, 7))
    op = Op(
        "conv2d",
        "conv",
        (x,),
        (y,),
        Attrs(
            {
                "dims": 2,
                "in_channels": 3,
                "out_channels": 32,
                "kernel": (4, 4),
                "stride": (4, 4),
                "pads": (0, 0, 0, 0),
                "dilation": (1, 1),
                "groups": 1,
                "bias": False,
            }
        ),
    )
    return OpGraph([op], [x], ["y"], name="conv2d")


def ci_depthwise(dims: int) -> OpGraph:
    if dims == 2:
        x = TensorSpec("x", (3, 32, 32))
        y = TensorSpec("y", (3, 30, 30))
        attrs = {
            "dims": 2,
            "in_channels": 3,
            "out_channels": 3,
            "kernel": (3, 3),
            "stride": (1, 1),
            "pads": (0, 0, 0, 0),
            "dilation": (1, 1),
            "groups": 3,
            "bias": True,
        }
    else:
        x = TensorSpec("x", (3, 32))
        y = TensorSpec("y", (3, 30))
        attrs = {
            "dims": 1,
            "in_channels": 3,
            "out_channels": 3,
            "kernel": (3,),
            "stride": (1,),
            "pads": (0, 0),
            "dilation": (1,),
            "groups": 3,
            "bias": True,
        }
    return OpGraph([Op("depthwise", "conv", (x,), (y,), Attrs(attrs))], [x], ["y"], name=f"depthwise{dims}d")


def ci_pool(kind: str, dims: int, padding: str) -> OpGraph:
    pads: tuple[int, ...]
    attrs: dict[str, Any]
    if dims == 2:
        c, h, w = 3, 18, 15
        if padding == "same":
            oh, ow = math.ceil(h / 2), math.ceil(w / 2)
            ph, pw = max((oh - 1) * 2 + 2 - h, 0), max((ow - 1) * 2 + 2 - w, 0)
            pads = (ph // 2, pw // 2, ph - ph // 2, pw - pw // 2)
        else:
            oh, ow = h // 2, w // 2
            pads = (0, 0, 0, 0)
        x = TensorSpec("x", (c, h, w))
        y = TensorSpec("y", (c, oh, ow))
        attrs = {"function": kind, "dims": 2, "kernel": (2, 2), "stride": (2, 2), "pads": pads}
    else:
        c, L = 3, 121
        if padding == "same":
            ol = math.ceil(L / 2)
            p = max((ol - 1) * 2 + 2 - L, 0)
            pads = (p // 2, p - p // 2)
        else:
            ol = L // 2
            pads = (0, 0)
        x = TensorSpec("x", (c, L))
        y = TensorSpec("y", (c, ol))
        attrs = {"function": kind, "dims": 1, "kernel": (2,), "stride": (2,), "pads": pads}
    return OpGraph([Op("pool", "pool", (x,), (y,), Attrs(attrs))], [x], ["y"], name=f"pool{dims}d")


def with_glorot_weights(g: OpGraph, seed: int = 0) -> OpGraph:
    """Attach Keras' default kernel initialiser (glorot_uniform: U(-l, l), l = sqrt(6 /
    (fan_in + fan_out))) to every dense/conv op: the CI models are untrained Keras models."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = {}
    for op in g.ops():
        if op.kind not in ("dense", "conv"):
            continue
        shape = op.weight_shape
        rf = int(math.prod(shape[2:])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[1] * rf, shape[0] * rf
        if op.kind == "conv" and int(op.attrs["groups"]) != 1:
            fan_in, fan_out = rf, rf * shape[0] // int(op.attrs["groups"])
        lim = math.sqrt(6.0 / (fan_in + fan_out))
        weights[op.name] = {"weight": rng.uniform(-lim, lim, size=shape).astype(np.float32)}
    return OpGraph(g.ops(), g.inputs, g.outputs, g.name, weights)


def hls4ml_ci_design(stem: str, backend: str | None = None) -> tuple[OpGraph, dict[str, str]] | None:
    """One hls4ml CI baseline design: the Keras test model as an OpGraph with Keras' default
    (glorot-uniform, seeded) weights and the ``--set`` overrides hwsim costs it with (no hls4ml
    config: 'auto' types as config_from_keras_model(granularity='name') sets them; ap_fixed<16,6>,
    RF 1, Latency unless the test says otherwise, xcvu13p, 5 ns). ``backend`` (Vivado or Vitis,
    the report's tool) is added to the overrides when given. The one definition used by
    ``validate_rules ci`` and by the calibration manifest ``calibration/manifests/hls4ml-ci.yml``."""
    case = hls4ml_ci_case_graph(stem)
    if case is None:
        return None
    ov = dict(case[1])
    if backend:
        ov["backend"] = str(backend)
    return with_glorot_weights(case[0]), ov


def hls4ml_ci_model(stem: str) -> OpGraph:
    """The OpGraph of :func:`hls4ml_ci_design` (raises ValueError for an unknown test)."""
    case = hls4ml_ci_design(stem)
    if case is None:
        raise ValueError(f"no hls4ml CI design is reconstructed for {stem!r}")
    return case[0]


def hls4ml_ci_case_graph(stem: str) -> tuple[OpGraph, dict[str, str]] | None:
    """The model (without weights) and ``--set`` overrides of one hls4ml CI baseline file of
    test/pytest/test_keras_api.py, named by its file stem (``test_keras_api_test_dense_io_parallel-Vitis``);
    None for a test that is not reconstructed. The backend (Vivado/Vitis) is the caller's: it is
    the folder of the report, not part of the test name."""
    io = "io_stream" if "io_stream" in stem else "io_parallel"
    ov = {"io_type": io, "part": "xcvu13p-flga2577-2-e", "clock_period_ns": "5"}
    if "test_dense_" in stem:
        return ci_dense_act(2, "elu"), ov
    if "test_activations_" in stem:
        act = stem.rsplit("-", 1)[-1]
        return ci_dense_act(64, act), ov
    if "test_conv2d_" in stem:
        ov["strategy"] = "Resource"
        return ci_conv2d(), ov
    if "test_depthwise2d" in stem:
        ov["precision"] = "ap_fixed<32,12>"
        return ci_depthwise(2), ov
    if "test_depthwise1d" in stem:
        return ci_depthwise(1), ov
    if "test_pooling" in stem:
        tail = stem.split("channels_last-", 1)[1]
        padding, layer = tail.split("-", 1)
        kind = "max" if layer.startswith("Max") else "avg"
        dims = 2 if layer.endswith("2D") else 1
        return ci_pool(kind, dims, padding), ov
    return None
