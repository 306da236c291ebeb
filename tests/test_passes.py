"""Tests of the graph passes (hwsim.passes): each reports what it changed, and changed=False
when nothing applies. Numerical checks compare against a plain numpy evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.ir import ACTIVATION, BATCHNORM, CONV, DENSE, RESHAPE, Op, OpGraph, OpPrecision, Precision, TensorSpec
from hwsim.passes import PASSES, drop_identities, fold_batchnorm, fuse_activations, run_passes

RNG = np.random.default_rng(7)


def T(name, *shape):
    return TensorSpec(name, tuple(shape))


def dense(name, x, y, n_in, n_out, **attrs):
    return Op(name, DENSE, (x,), (y,), {"n_in": n_in, "n_out": n_out, "bias": True, **attrs}, origin=(name,))


def act(name, x, y, fn, **attrs):
    return Op(name, ACTIVATION, (x,), (y,), {"function": fn, **attrs}, origin=(name,))


def bn(name, x, y, c, axis=0):
    return Op(name, BATCHNORM, (x,), (y,), {"channels": c, "axis": axis, "epsilon": 1e-3}, origin=(name,))


def bn_weights(c):
    return {
        "scale": RNG.uniform(0.5, 2, c),
        "bias": RNG.normal(size=c),
        "mean": RNG.normal(size=c),
        "var": RNG.uniform(0.5, 2, c),
    }


def apply_bn(h, w, eps=1e-3, axis=-1):
    shape = [1] * h.ndim
    shape[axis] = -1
    r = lambda v: np.asarray(v).reshape(shape)  # noqa: E731
    return (h - r(w["mean"])) / np.sqrt(r(w["var"]) + eps) * r(w["scale"]) + r(w["bias"])


# ---------------------------------------------------------------------------------------------
# fold_batchnorm
# ---------------------------------------------------------------------------------------------


def test_fold_batchnorm_dense_numerically_and_reports():
    x, h, y = T("x", 5), T("h", 4), T("y", 4)
    W, b = RNG.normal(size=(4, 5)), RNG.normal(size=4)
    W[0, 0] = 0.0
    bw = bn_weights(4)
    q = Precision.fixed(8, 3)
    bnop = bn("bn", h, y, 4).evolve(precision=OpPrecision(output=q))
    g = OpGraph([dense("fc", x, h, 5, 4), bnop], [x], ["y"], weights={"fc": {"weight": W, "bias": b}, "bn": bw})
    res = fold_batchnorm(g)
    assert res.changed and res.messages == ("folded bn into fc",)
    (op,) = res.graph.ops()
    assert op.name == "fc" and op.outputs[0].name == "y" and op.origin == ("fc", "bn")
    assert op.precision.output == q  # the BN's result format is now the dense's
    xv = RNG.normal(size=(3, 5))
    fw = res.graph.weights["fc"]
    np.testing.assert_allclose(xv @ fw["weight"].T + fw["bias"], apply_bn(xv @ W.T + b, bw), rtol=1e-10)
    assert fw["weight"][0, 0] == 0.0  # zeros stay zeros
    assert "bn" not in res.graph.weights
    assert res.graph.n_params == 4 * 5 + 4


def test_fold_batchnorm_conv_without_bias_gains_one():
    x, h, y = T("x", 2, 5, 5), T("h", 3, 3, 3), T("y", 3, 3, 3)
    conv = Op(
        "c",
        CONV,
        (x,),
        (h,),
        {
            "dims": 2,
            "in_channels": 2,
            "out_channels": 3,
            "kernel": (3, 3),
            "stride": (1, 1),
            "pads": (0, 0, 0, 0),
            "dilation": (1, 1),
            "groups": 1,
            "bias": False,
        },
    )
    W = RNG.normal(size=(3, 2, 3, 3))
    bw = bn_weights(3)
    g = OpGraph([conv, bn("bn", h, y, 3)], [x], ["y"], weights={"c": {"weight": W}, "bn": bw})
    res = fold_batchnorm(g)
    (op,) = res.graph.ops()
    assert op.attrs["bias"] is True and op.n_params == W.size + 3
    # per-output-channel check on one output pixel: sum over the receptive field
    xv = RNG.normal(size=(2, 5, 5))
    patch = xv[:, :3, :3]
    orig = np.einsum("oikl,ikl->o", W, patch)
    fw = res.graph.weights["c"]
    np.testing.assert_allclose(np.einsum("oikl,ikl->o", fw["weight"], patch) + fw["bias"], apply_bn(orig, bw), rtol=1e-10)


def test_fold_batchnorm_does_nothing_where_hls4ml_would_not():
    x, h, r, y = T("x", 5), T("h", 4), T("r", 4), T("y", 4)
    # BN after an activation stays a BN
    g = OpGraph([dense("fc", x, h, 5, 4), act("relu", h, r, "relu"), bn("bn", r, y, 4)], [x], ["y"])
    res = fold_batchnorm(g)
    assert res.changed is False and res.messages == () and res.graph is g
    # dense output read twice: folding would change the other reader
    h2 = T("h2", 4)
    g2 = OpGraph([dense("fc", x, h, 5, 4), bn("bn", h, y, 4), act("relu", h, h2, "relu")], [x], ["y", "h2"])
    assert fold_batchnorm(g2).changed is False
    # BN on the particle axis of a (particles, features) dense output: a different axis
    x3, h3, y3 = T("x", 8, 3), T("h", 8, 4), T("y", 8, 4)
    g3 = OpGraph([dense("fc", x3, h3, 3, 4), bn("bn", h3, y3, 8, axis=0)], [x3], ["y"])
    assert fold_batchnorm(g3).changed is False


# ---------------------------------------------------------------------------------------------
# fuse_activations
# ---------------------------------------------------------------------------------------------


def test_fuse_relu_into_dense():
    x, h, y = T("x", 5), T("h", 4), T("y", 4)
    q = Precision.integer(4, signed=False)
    g = OpGraph([dense("fc", x, h, 5, 4), act("relu", h, y, "relu").evolve(precision=OpPrecision(output=q))], [x], ["y"])
    res = fuse_activations(g)
    assert res.changed and res.messages == ("fused relu (relu) into fc",)
    (op,) = res.graph.ops()
    assert op.attrs["activation"] == "relu" and op.outputs[0].name == "y" and op.origin == ("fc", "relu")
    assert op.precision.output == q


def test_fuse_only_allowed_functions_and_reports_nothing_otherwise():
    x, h, y = T("x", 5), T("h", 4), T("y", 4)
    g = OpGraph([dense("fc", x, h, 5, 4), act("lr", h, y, "leaky_relu", alpha=0.1)], [x], ["y"])
    res = fuse_activations(g)
    assert res.changed is False and res.graph is g
    res2 = fuse_activations(g, functions=("relu", "leaky_relu"))
    assert res2.changed and res2.graph.ops()[0].attrs["activation_alpha"] == 0.1
    # a second relu after a fused one is not fused again (the producer is an activation)
    r2 = T("r2", 4)
    g3 = OpGraph([dense("fc", x, h, 5, 4), act("relu", h, y, "relu"), act("relu2", y, r2, "relu")], [x], ["r2"])
    res3 = fuse_activations(g3)
    assert [op.name for op in res3.graph.ops()] == ["fc", "relu2"]


# ---------------------------------------------------------------------------------------------
# drop_identities
# ---------------------------------------------------------------------------------------------


def test_drop_identities_chain_and_same_shape_reshape():
    x, a, b, c, y = T("x", 4, 4), T("a", 4, 4), T("b", 4, 4), T("c", 4, 4), T("y", 4, 4)
    ops = [
        act("id1", x, a, "identity"),
        act("id2", a, b, "identity"),  # consecutive identities
        Op("rs", RESHAPE, (b,), (c,), {"function": "reshape"}),  # same shape
        act("relu", c, y, "relu"),
    ]
    res = drop_identities(OpGraph(ops, [x], ["y"]))
    assert res.changed and len(res.messages) == 3
    (op,) = res.graph.ops()
    assert op.name == "relu" and op.inputs[0].name == "x"


def test_drop_identities_keeps_square_transpose_and_output_names():
    x, a, y = T("x", 4, 4), T("a", 4, 4), T("y", 4, 4)
    g = OpGraph([Op("t", RESHAPE, (x,), (a,), {"function": "transpose", "perm": (1, 0)}), act("relu", a, y, "relu")], [x], ["y"])
    res = drop_identities(g)
    assert res.changed is False and res.messages == ()
    # an identity writing the graph output: the producer takes over the output name
    g2 = OpGraph([act("relu", x, a, "relu"), act("drop", a, y, "identity")], [x], ["y"])
    res2 = drop_identities(g2)
    assert res2.changed and [op.name for op in res2.graph.ops()] == ["relu"] and res2.graph.outputs == ("y",)
    assert res2.graph.ops()[0].outputs[0].name == "y"
    # an identity from the graph input straight to the output cannot be dropped
    g3 = OpGraph([act("id", x, y, "identity")], [x], ["y"])
    assert drop_identities(g3).changed is False


# ---------------------------------------------------------------------------------------------
# run_passes
# ---------------------------------------------------------------------------------------------


def test_run_passes_in_order_collects_messages():
    x, h, b_, d_, y = T("x", 5), T("h", 4), T("b", 4), T("d", 4), T("y", 4)
    bw = bn_weights(4)
    ops = [dense("fc", x, h, 5, 4), bn("bn", h, b_, 4), act("drop", b_, d_, "identity"), act("relu", d_, y, "relu")]
    g = OpGraph(ops, [x], ["y"], weights={"fc": {"weight": RNG.normal(size=(4, 5)), "bias": np.zeros(4)}, "bn": bw})
    res = run_passes(g, ["drop_identities", "fold_batchnorm", "fuse_activations"])
    assert res.changed
    assert [m.split()[0] for m in res.messages] == ["dropped", "folded", "fused"]
    (op,) = res.graph.ops()
    assert op.attrs["activation"] == "relu" and op.origin == ("fc", "bn", "relu")
    again = run_passes(res.graph, list(PASSES))
    assert again.changed is False and again.messages == ()
    with pytest.raises(ValueError, match="unknown pass"):
        run_passes(g, ["no_such_pass"])


def test_frontend_graph_through_passes():
    """A Gemm -> BN -> Dropout -> Relu ONNX model ends as one dense with a fused ReLU."""
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper

    from hwsim.frontends.onnx import from_proto

    c = 3
    inits = [
        numpy_helper.from_array(v.astype(np.float32), k)
        for k, v in {"W": RNG.normal(size=(c, 4)), "s": np.ones(c), "b": np.zeros(c), "m": np.zeros(c), "v": np.ones(c)}.items()
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["h"], transB=1, name="fc"),
        helper.make_node("BatchNormalization", ["h", "s", "b", "m", "v"], ["n"], name="bn"),
        helper.make_node("Dropout", ["n"], ["d"], name="drop"),
        helper.make_node("Relu", ["d"], ["y"], name="relu"),
    ]
    m = helper.make_model(
        helper.make_graph(
            nodes,
            "g",
            [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])],
            [onnx.ValueInfoProto(name="y")],
            initializer=inits,
        )
    )
    g = from_proto(m)
    res = run_passes(g, ["drop_identities", "fold_batchnorm", "fuse_activations"])
    (op,) = res.graph.ops()
    assert op.kind == "dense" and op.attrs["bias"] is True and op.attrs["activation"] == "relu"
    assert op.n_params == c * 4 + c
