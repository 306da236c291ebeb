"""Tests of the ONNX / QONNX frontend (hwsim.frontends.onnx).

Models are built in the tests with ``onnx.helper``. Expected shapes and values are computed
independently: output shapes and numerics by running the ONNX graph with
``onnx.reference.ReferenceEvaluator``, MACs and parameter counts from the layer formulas.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from hwsim.cli import main as cli_main
from hwsim.errors import ModelError, UnsupportedOpError
from hwsim.frontends.onnx import from_proto, load_onnx, quant_precision, quant_values
from hwsim.ir import Precision
from hwsim.passes import fold_batchnorm

RNG = np.random.default_rng(1234)
F = TensorProto.FLOAT


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def init(name: str, arr: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(arr), name)


def model(nodes, inputs, outputs, inits=(), opset=18, extra_opsets=(), batch="N") -> onnx.ModelProto:
    """inputs: [(name, per-inference shape)], batch dim prepended (symbolic ``batch``)."""
    ins = [helper.make_tensor_value_info(n, F, [batch, *shape]) for n, shape in inputs]
    outs = [onnx.ValueInfoProto(name=o) for o in outputs]
    g = helper.make_graph(nodes, "g", ins, outs, initializer=list(inits))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in extra_opsets]
    return helper.make_model(g, opset_imports=ops)


def run_ref(m: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ReferenceEvaluator(m).run(None, feeds)


def single(graph, kind=None):
    ops = [op for op in graph.ops() if kind is None or op.kind == kind]
    assert len(ops) == 1, [(o.name, o.kind) for o in graph.ops()]
    return ops[0]


def rnd(*shape) -> np.ndarray:
    return RNG.normal(size=shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# dense: Gemm and MatMul+Add
# ---------------------------------------------------------------------------------------------


def test_gemm_and_matmul_add_give_the_same_dense_op():
    w = rnd(5, 7)  # PyTorch layout (n_out, n_in)
    b = rnd(5)
    gemm = model(
        [helper.make_node("Gemm", ["x", "W", "B"], ["y"], name="fc", transB=1)],
        [("x", (7,))],
        ["y"],
        [init("W", w), init("B", b)],
    )
    mm = model(
        [helper.make_node("MatMul", ["x", "Wt"], ["h"], name="fc_mm"), helper.make_node("Add", ["h", "B"], ["y"], name="fc_add")],
        [("x", (7,))],
        ["y"],
        [init("Wt", w.T.copy()), init("B", b)],
    )
    g1, g2 = from_proto(gemm), from_proto(mm)
    d1, d2 = single(g1), single(g2)
    assert d1.kind == d2.kind == "dense"
    assert dict(d1.attrs) == dict(d2.attrs) == {"n_in": 7, "n_out": 5, "bias": True}
    assert g1.fingerprint() == g2.fingerprint()
    np.testing.assert_array_equal(g1.weights[d1.name]["weight"], w)
    np.testing.assert_array_equal(g2.weights[d2.name]["weight"], w)
    np.testing.assert_array_equal(g2.weights[d2.name]["bias"], b)
    assert d2.origin == ("fc_mm", "fc_add")
    assert d1.origin == ("fc",)
    assert d1.macs == 35 and d1.n_params == 40


def test_gemm_alpha_beta_trans_weights_match_reference():
    B = rnd(6, 4)  # transB=0: B is (n_in, n_out)
    C = rnd(4)
    m = model(
        [helper.make_node("Gemm", ["x", "B", "C"], ["y"], alpha=0.5, beta=2.0)],
        [("x", (6,))],
        ["y"],
        [init("B", B), init("C", C)],
    )
    g = from_proto(m)
    d = single(g)
    x = rnd(1, 6)
    w = g.weights[d.name]
    np.testing.assert_allclose(x @ w["weight"].T + w["bias"], run_ref(m, {"x": x})[0], rtol=1e-5, atol=1e-6)
    assert d.name == "Gemm_0"  # unnamed node -> op_type_index


def test_matmul_on_3d_input_is_dense_applied_per_row():
    w = rnd(3, 8)  # (n_in=3 features -> 8)
    m = model([helper.make_node("MatMul", ["x", "W"], ["y"], name="phi")], [("x", (10, 3))], ["y"], [init("W", w)])
    d = single(from_proto(m))
    assert d.kind == "dense" and d.rows == 10 and d.attrs["n_in"] == 3 and d.attrs["n_out"] == 8 and d.attrs["bias"] is False
    assert d.macs == 10 * 3 * 8


def test_matmul_of_two_activations_is_matmul():
    m = model([helper.make_node("MatMul", ["q", "k"], ["s"], name="qk")], [("q", (4, 6)), ("k", (6, 5))], ["s"])
    op = single(from_proto(m))
    assert op.kind == "matmul" and op.output_shape == (4, 5) and op.macs == 4 * 6 * 5


# ---------------------------------------------------------------------------------------------
# conv
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "in_shape,w_shape,kw,want_pads",
    [
        ((3, 11, 11), (4, 3, 3, 3), {"pads": [1, 1, 1, 1]}, (1, 1, 1, 1)),
        ((3, 11, 11), (4, 3, 3, 3), {"strides": [2, 2]}, (0, 0, 0, 0)),
        ((2, 9, 9), (4, 2, 3, 3), {"dilations": [2, 2]}, (0, 0, 0, 0)),
        ((4, 8, 8), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}, (1, 1, 1, 1)),  # depthwise
        ((3, 5, 5), (2, 3, 2, 2), {"auto_pad": "SAME_UPPER"}, (0, 0, 1, 1)),
        ((3, 5, 5), (2, 3, 2, 2), {"auto_pad": "SAME_LOWER"}, (1, 1, 0, 0)),
        ((3, 6, 6), (2, 3, 3, 3), {"auto_pad": "VALID", "strides": [2, 2]}, (0, 0, 0, 0)),
        ((2, 20), (3, 2, 5), {"strides": [2], "pads": [2, 2]}, (2, 2)),  # 1-D
    ],
)
def test_conv_attributes_shapes_and_macs(in_shape, w_shape, kw, want_pads):
    W, Bv = rnd(*w_shape), rnd(w_shape[0])
    m = model(
        [helper.make_node("Conv", ["x", "W", "B"], ["y"], name="conv", **kw)],
        [("x", in_shape)],
        ["y"],
        [init("W", W), init("B", Bv)],
    )
    g = from_proto(m)
    op = single(g)
    ref = run_ref(m, {"x": rnd(1, *in_shape)})[0]
    assert op.kind == "conv"
    assert op.output_shape == ref.shape[1:]
    assert op.attrs["pads"] == want_pads
    assert op.attrs["dims"] == len(w_shape) - 2
    assert op.attrs["kernel"] == tuple(w_shape[2:])
    groups = kw.get("group", 1)
    assert op.attrs["groups"] == groups
    assert op.attrs["in_channels"] == in_shape[0] and op.attrs["out_channels"] == w_shape[0]
    # MACs: every output element needs (C_in / groups) * prod(kernel) multiplies
    assert op.macs == ref.size * (in_shape[0] // groups) * math.prod(w_shape[2:])
    assert op.n_params == W.size + Bv.size
    np.testing.assert_array_equal(g.weights[op.name]["weight"], W)


def test_conv3d_is_unsupported():
    m = model(
        [helper.make_node("Conv", ["x", "W"], ["y"], name="c3")], [("x", (1, 4, 4, 4))], ["y"], [init("W", rnd(2, 1, 2, 2, 2))]
    )
    assert single(from_proto(m)).kind == "opaque"
    with pytest.raises(UnsupportedOpError, match="c3"):
        from_proto(m, strict=True)


# ---------------------------------------------------------------------------------------------
# normalisation, BN folding
# ---------------------------------------------------------------------------------------------


def _bn_inits(c: int, prefix: str = "bn"):
    return [
        init(f"{prefix}_s", RNG.uniform(0.5, 2, c).astype(np.float32)),
        init(f"{prefix}_b", rnd(c)),
        init(f"{prefix}_m", rnd(c)),
        init(f"{prefix}_v", RNG.uniform(0.5, 2, c).astype(np.float32)),
    ]


def _bn_node(x, y, prefix="bn", eps=1e-3):
    return helper.make_node(
        "BatchNormalization", [x, f"{prefix}_s", f"{prefix}_b", f"{prefix}_m", f"{prefix}_v"], [y], name=prefix, epsilon=eps
    )


def test_batchnorm_kept_then_folded_into_dense_numerically():
    W, b = rnd(6, 5), rnd(6)
    m = model(
        [helper.make_node("Gemm", ["x", "W", "B"], ["h"], name="fc", transB=1), _bn_node("h", "y")],
        [("x", (5,))],
        ["y"],
        [init("W", W), init("B", b), *_bn_inits(6)],
    )
    g = from_proto(m)
    assert [op.kind for op in g.ops()] == ["dense", "batchnorm"]
    bn = g.ops()[1]
    assert dict(bn.attrs) == {"channels": 6, "axis": 0, "epsilon": 1e-3}
    assert g.n_params == 6 * 5 + 6 + 2 * 6  # PyTorch counts BN weight and bias
    res = fold_batchnorm(g)
    assert res.changed and any("bn" in msg for msg in res.messages)
    assert [op.kind for op in res.graph.ops()] == ["dense"]
    d = res.graph.ops()[0]
    assert d.origin == ("fc", "bn")
    x = rnd(3, 5)
    wf = res.graph.weights[d.name]
    want = np.concatenate([run_ref(m, {"x": x[i : i + 1]})[0] for i in range(3)])
    np.testing.assert_allclose(x @ wf["weight"].T + wf["bias"], want, rtol=1e-4, atol=1e-5)


def test_batchnorm_folded_into_conv_matches_reference():
    W, b = rnd(4, 2, 3, 3), rnd(4)
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["h"], name="conv", pads=[1, 1, 1, 1]), _bn_node("h", "y")]
    m = model(nodes, [("x", (2, 6, 6))], ["y"], [init("W", W), init("B", b), *_bn_inits(4)])
    res = fold_batchnorm(from_proto(m))
    assert res.changed
    conv = single(res.graph)
    wf = res.graph.weights[conv.name]
    folded = model(
        [helper.make_node("Conv", ["x", "W", "B"], ["y"], pads=[1, 1, 1, 1])],
        [("x", (2, 6, 6))],
        ["y"],
        [init("W", wf["weight"]), init("B", wf["bias"])],
    )
    x = rnd(1, 2, 6, 6)
    np.testing.assert_allclose(run_ref(folded, {"x": x})[0], run_ref(m, {"x": x})[0], rtol=1e-4, atol=1e-4)


def test_layernorm_axis_size_and_affine():
    s, b = rnd(8), rnd(8)
    m = model(
        [helper.make_node("LayerNormalization", ["x", "S", "B"], ["y"], name="ln", axis=-1, epsilon=1e-6)],
        [("x", (4, 8))],
        ["y"],
        [init("S", s), init("B", b)],
    )
    g = from_proto(m)
    op = single(g)
    assert dict(op.attrs) == {"axis": 1, "size": 8, "epsilon": 1e-6, "affine": True}
    assert op.n_params == 16
    np.testing.assert_array_equal(g.weights[op.name]["scale"], s)
    # a non-affine LayerNorm exports its unit scale as a Constant node, not a parameter
    nodes = [
        helper.make_node("Constant", [], ["one"], value=numpy_helper.from_array(np.ones(8, np.float32))),
        helper.make_node("LayerNormalization", ["x", "one"], ["y"], axis=1),
    ]
    op2 = single(from_proto(model(nodes, [("x", (8,))], ["y"])))
    assert op2.attrs["affine"] is False and op2.n_params == 0 and op2.attrs["axis"] == 0


# ---------------------------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------------------------

ACT_CASES = [
    ("Relu", {}, "relu", {}),
    ("LeakyRelu", {"alpha": 0.2}, "leaky_relu", {"alpha": 0.2}),
    ("LeakyRelu", {}, "leaky_relu", {"alpha": 0.01}),
    ("Elu", {"alpha": 0.5}, "elu", {"alpha": 0.5}),
    ("Selu", {}, "selu", {}),
    ("Sigmoid", {}, "sigmoid", {}),
    ("HardSigmoid", {"alpha": 0.1}, "hard_sigmoid", {"alpha": 0.1, "beta": 0.5}),
    ("Tanh", {}, "tanh", {}),
    ("Softmax", {"axis": -1}, "softmax", {"axis": 1}),
    ("Softmax", {"axis": 1}, "softmax", {"axis": 0}),
    ("LogSoftmax", {}, "log_softmax", {"axis": 1}),
    ("Exp", {}, "exp", {}),
    ("Log", {}, "log", {}),
    ("Cosh", {}, "cosh", {}),
    ("Sinh", {}, "sinh", {}),
    ("Abs", {}, "abs", {}),
    ("Sqrt", {}, "sqrt", {}),
    ("Reciprocal", {}, "reciprocal", {}),
    ("Erf", {}, "erf", {}),
    ("Softplus", {}, "softplus", {}),
    ("Gelu", {}, "gelu", {}),
    ("Identity", {}, "identity", {}),
    ("Dropout", {}, "identity", {}),
]


@pytest.mark.parametrize("op_type,kw,fn,want", ACT_CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(ACT_CASES)])
def test_activation_mapping(op_type, kw, fn, want):
    opset = 20 if op_type == "Gelu" else 18
    m = model([helper.make_node(op_type, ["x"], ["y"], name="act", **kw)], [("x", (3, 5))], ["y"], opset=opset)
    op = single(from_proto(m))
    assert op.kind == "activation" and op.function == fn
    for k, v in want.items():
        assert op.attrs[k] == pytest.approx(v)
    assert op.input_shape == op.output_shape == (3, 5)
    assert op.origin == ("act",)


def test_clip_bounds_from_inputs_and_prelu_slope():
    nodes = [
        helper.make_node("Clip", ["x", "lo", "hi"], ["c"], name="relu6"),
        helper.make_node("PRelu", ["c", "slope"], ["y"], name="prelu"),
    ]
    m = model(
        nodes,
        [("x", (4, 3, 3))],
        ["y"],
        [init("lo", np.array(0.0, np.float32)), init("hi", np.array(6.0, np.float32)), init("slope", rnd(4, 1, 1))],
    )
    g = from_proto(m)
    clip, prelu = g.ops()
    assert clip.function == "clip" and clip.attrs["min"] == 0.0 and clip.attrs["max"] == 6.0
    assert prelu.function == "prelu" and prelu.attrs["slope_shape"] == (4, 1, 1) and prelu.n_params == 4


def test_softmax_over_batch_axis_is_unsupported():
    m = model([helper.make_node("Softmax", ["x"], ["y"], name="sm0", axis=0)], [("x", (5,))], ["y"])
    with pytest.raises(UnsupportedOpError, match="sm0.*batch"):
        from_proto(m, strict=True)
    assert single(from_proto(m)).kind == "opaque"


# ---------------------------------------------------------------------------------------------
# pooling, reductions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op_type,kw,fn",
    [
        ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}, "max"),
        ("AveragePool", {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]}, "avg"),
        ("MaxPool", {"kernel_shape": [3], "strides": [2]}, "max"),
    ],
)
def test_pool(op_type, kw, fn):
    dims = len(kw["kernel_shape"])
    shape = (3, 8, 8) if dims == 2 else (3, 9)
    m = model([helper.make_node(op_type, ["x"], ["y"], **kw)], [("x", shape)], ["y"])
    op = single(from_proto(m))
    ref = run_ref(m, {"x": rnd(1, *shape)})[0]
    assert op.kind == "pool" and op.function == fn and op.attrs["dims"] == dims
    assert op.attrs["kernel"] == tuple(kw["kernel_shape"]) and op.attrs["stride"] == tuple(kw["strides"])
    assert op.output_shape == ref.shape[1:]


@pytest.mark.parametrize("op_type,fn", [("GlobalAveragePool", "avg"), ("GlobalMaxPool", "max")])
def test_global_pool(op_type, fn):
    op = single(from_proto(model([helper.make_node(op_type, ["x"], ["y"])], [("x", (6, 5, 5))], ["y"])))
    assert op.kind == "global_pool" and op.function == fn and op.attrs["dims"] == 2 and op.output_shape == (6, 1, 1)


REDUCE_CASES = [
    # (op_type, opset, axes as input?, fn)
    ("ReduceMean", 13, False, "mean"),
    ("ReduceMean", 18, True, "mean"),
    ("ReduceMax", 13, False, "max"),
    ("ReduceMax", 18, True, "max"),
    ("ReduceMin", 18, True, "min"),
    ("ReduceSum", 13, True, "sum"),  # ReduceSum takes axes as input from opset 13
    ("ReduceL2", 13, False, "l2"),
    ("ReduceSumSquare", 18, True, "sum_square"),
    ("ReduceProd", 18, True, "prod"),
]


@pytest.mark.parametrize("op_type,opset,as_input,fn", REDUCE_CASES)
def test_reduce_axes_attribute_or_input(op_type, opset, as_input, fn):
    if as_input:
        node = helper.make_node(op_type, ["x", "axes"], ["y"], keepdims=0)
        inits = [init("axes", np.array([1], np.int64))]
    else:
        node = helper.make_node(op_type, ["x"], ["y"], axes=[-2], keepdims=0)
        inits = []
    m = model([node], [("x", (8, 3))], ["y"], inits, opset=opset)
    op = single(from_proto(m))
    assert op.kind == "reduce" and op.function == fn and op.attrs["axes"] == (0,) and op.attrs["keepdims"] is False
    assert op.output_shape == (3,) == run_ref(m, {"x": rnd(1, 8, 3)})[0].shape[1:]


def test_reduce_over_batch_is_an_error_in_strict_mode():
    m = model(
        [helper.make_node("ReduceMean", ["x"], ["y"], name="rm_all", axes=[0, 1], keepdims=0)], [("x", (4,))], ["y"], opset=13
    )
    with pytest.raises(UnsupportedOpError, match="rm_all"):
        from_proto(m, strict=True)


# ---------------------------------------------------------------------------------------------
# reshapes, constant folding
# ---------------------------------------------------------------------------------------------


def test_reshape_target_from_constant_subgraph_is_folded():
    """x.view(x.size(0), -1) as the TorchScript exporter writes it: Shape->Gather->Unsqueeze->Concat."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"]),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.int64))),
        helper.make_node("Gather", ["shp", "zero"], ["n"], axis=0),
        helper.make_node("Constant", [], ["ax"], value=numpy_helper.from_array(np.array([0], np.int64))),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
        helper.make_node("Constant", [], ["m1"], value=numpy_helper.from_array(np.array([-1], np.int64))),
        helper.make_node("Concat", ["n1", "m1"], ["target"], axis=0),
        helper.make_node("Cast", ["target"], ["target64"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["x", "target64"], ["y"], name="flat"),
    ]
    g = from_proto(model(nodes, [("x", (4, 3, 3))], ["y"]))
    op = single(g)
    assert op.kind == "reshape" and op.function == "reshape" and op.output_shape == (36,)
    assert op.origin == ("flat",)


def test_constant_of_shape_range_slice_fold_to_a_constant_operand():
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([5], np.int64))),
        helper.make_node("ConstantOfShape", ["shape"], ["ones"], value=numpy_helper.from_array(np.array([1.0], np.float32))),
        helper.make_node("Range", ["r0", "r1", "r2"], ["rng"]),
        helper.make_node("Cast", ["rng"], ["rngf"], to=TensorProto.FLOAT),
        helper.make_node("Slice", ["rngf", "s0", "s1"], ["sl"]),
        helper.make_node("Add", ["ones", "sl"], ["c"]),
        helper.make_node("Mul", ["x", "c"], ["y"], name="scale"),
    ]
    inits = [
        init("r0", np.array(0, np.int64)),
        init("r1", np.array(10, np.int64)),
        init("r2", np.array(1, np.int64)),
        init("s0", np.array([2], np.int64)),
        init("s1", np.array([7], np.int64)),
    ]
    g = from_proto(model(nodes, [("x", (5,))], ["y"], inits))
    op = single(g)
    assert op.kind == "elementwise" and op.function == "mul" and op.attrs["n_const"] == 1 and op.attrs["const_shape"] == (5,)


@pytest.mark.parametrize(
    "node,inits,in_shape,fn,out_shape,extra",
    [
        (helper.make_node("Flatten", ["x"], ["y"], axis=1), [], (2, 3, 4), "flatten", (24,), {}),
        (helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 1]), [], (3, 4), "transpose", (4, 3), {"perm": (1, 0)}),
        (
            helper.make_node("Squeeze", ["x", "a"], ["y"]),
            [init("a", np.array([2], np.int64))],
            (3, 1, 4),
            "squeeze",
            (3, 4),
            {"axes": (1,)},
        ),
        (
            helper.make_node("Unsqueeze", ["x", "a"], ["y"]),
            [init("a", np.array([-1], np.int64))],
            (3, 4),
            "unsqueeze",
            (3, 4, 1),
            {"axes": (2,)},
        ),
        (
            helper.make_node("Reshape", ["x", "s"], ["y"]),
            [init("s", np.array([0, 4, 3], np.int64))],
            (3, 4),
            "reshape",
            (4, 3),
            {},
        ),
    ],
)
def test_reshape_family(node, inits, in_shape, fn, out_shape, extra):
    op = single(from_proto(model([node], [("x", in_shape)], ["y"], inits)))
    assert op.kind == "reshape" and op.function == fn and op.output_shape == out_shape
    for k, v in extra.items():
        assert op.attrs[k] == v


def test_squeeze_unsqueeze_axes_as_attributes_in_opset_11():
    nodes = [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[1]), helper.make_node("Squeeze", ["u"], ["y"], axes=[1])]
    g = from_proto(model(nodes, [("x", (3,))], ["y"], opset=11))
    u, s = g.ops()
    assert u.output_shape == (1, 3) and u.attrs["axes"] == (0,) and s.output_shape == (3,)


@pytest.mark.parametrize(
    "node,inits,in_shape",
    [
        (helper.make_node("Flatten", ["x"], ["y"], name="bad", axis=0), [], (3, 4)),
        (helper.make_node("Transpose", ["x"], ["y"], name="bad", perm=[1, 0]), [], (3,)),
        (helper.make_node("Reshape", ["x", "s"], ["y"], name="bad"), [init("s", np.array([3, 4], np.int64))], (3, 4)),
        (helper.make_node("Concat", ["x", "x"], ["y"], name="bad", axis=0), [], (3,)),
    ],
)
def test_ops_on_the_batch_axis(node, inits, in_shape):
    m = model([node], [("x", in_shape)], ["y"], inits)
    with pytest.raises(UnsupportedOpError, match="bad"):
        from_proto(m, strict=True)
    assert single(from_proto(m)).kind == "opaque"


# ---------------------------------------------------------------------------------------------
# elementwise, concat
# ---------------------------------------------------------------------------------------------


def test_elementwise_constant_operands_and_pow_exponent():
    nodes = [
        helper.make_node("Sub", ["x", "mu"], ["a"], name="sub"),
        helper.make_node("Pow", ["a", "two"], ["b"], name="sq"),
        helper.make_node("Add", ["b", "x"], ["c"], name="res"),
        helper.make_node("Max", ["c", "zero"], ["d"], name="mx"),
        helper.make_node("Div", ["d", "x"], ["y"], name="div"),
    ]
    inits = [init("mu", rnd(1, 4, 1)), init("two", np.array(2.0, np.float32)), init("zero", np.zeros(1, np.float32))]
    g = from_proto(model(nodes, [("x", (4, 6))], ["y"], inits))
    by = {op.name: op for op in g.ops()}
    assert by["sub"].attrs["n_const"] == 1 and by["sub"].attrs["const_shape"] == (4, 1)  # batch axis stripped
    assert by["sq"].function == "pow" and by["sq"].attrs["exponent"] == 2.0
    assert by["res"].attrs["n_const"] == 0 and len(by["res"].inputs) == 2
    assert by["mx"].function == "max" and by["div"].function == "div"


def test_concat_axis():
    m = model([helper.make_node("Concat", ["a", "b"], ["y"], axis=-1)], [("a", (4, 2)), ("b", (4, 3))], ["y"])
    op = single(from_proto(m))
    assert op.kind == "concat" and op.attrs["axis"] == 1 and op.output_shape == (4, 5) and len(op.inputs) == 2


# ---------------------------------------------------------------------------------------------
# precision: float, ternary/binary weights, QONNX, QDQ
# ---------------------------------------------------------------------------------------------


def test_float_model_is_float32_everywhere_and_sparsity_is_read():
    W = rnd(4, 10)
    W[:, :3] = 0.0  # 12 of 40 weights are zero
    g = from_proto(
        model(
            [helper.make_node("Gemm", ["x", "W"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["y"])],
            [("x", (10,))],
            ["y"],
            [init("W", W)],
        )
    )
    for op in g.ops():
        for f in ("weight", "bias", "input", "output", "accum"):
            assert getattr(op.precision, f) == Precision.float32()
    assert g.ops()[0].sparsity == pytest.approx(12 / 40)
    assert g.ops()[1].sparsity == 0.0


def test_ternary_and_binary_weights_detected():
    a = 0.37
    tern = RNG.choice([-a, 0.0, a], size=(6, 8)).astype(np.float32)
    tern[0, :3] = [-a, 0.0, a]  # make sure all three values occur
    bina = RNG.choice([-a, a], size=(3, 6)).astype(np.float32)
    bina[0, :2] = [-a, a]
    nodes = [
        helper.make_node("MatMul", ["x", "T"], ["h"], name="t"),
        helper.make_node("Gemm", ["h", "B"], ["y"], name="b", transB=1),
    ]
    g = from_proto(model(nodes, [("x", (8,))], ["y"], [init("T", tern.T.copy()), init("B", bina)]))
    t, b = g.ops()
    assert t.precision.weight == Precision.ternary() and b.precision.weight == Precision.binary()
    assert t.precision.input == Precision.float32()  # only the weights are low-bit
    assert t.sparsity == pytest.approx(np.mean(tern == 0))
    # positive-only or non-constant magnitudes are neither
    pos = np.abs(tern)
    g2 = from_proto(model([helper.make_node("MatMul", ["x", "T"], ["y"])], [("x", (8,))], ["y"], [init("T", pos.T.copy())]))
    assert single(g2).precision.weight == Precision.float32()


@pytest.mark.parametrize(
    "scale,zp,bits,signed,narrow,want",
    [
        (0.125, 0.0, 8, 1, 0, Precision.fixed(8, 5)),  # 8 + log2(1/8)
        (1.0, 0.0, 6, 1, 0, Precision.fixed(6, 6)),
        (4.0, 0.0, 4, 0, 0, Precision.fixed(4, 6, signed=False)),
        (0.3, 0.0, 8, 1, 0, Precision.integer(8)),  # not a power of two
        (0.25, 3.0, 8, 1, 0, Precision.integer(8)),  # zero point != 0
        (0.5, 0.0, 2, 1, 1, Precision.ternary()),
    ],
)
def test_quant_precision_mapping(scale, zp, bits, signed, narrow, want):
    assert quant_precision(np.array(scale), np.array(zp), bits, bool(signed), bool(narrow)) == want


def _quant(x, y, prefix, scale, bits, signed=1, narrow=0, domain="qonnx.custom_op.general", op="Quant"):
    inits = [
        init(f"{prefix}_s", np.array(scale, np.float32)),
        init(f"{prefix}_z", np.array(0.0, np.float32)),
        init(f"{prefix}_b", np.array(float(bits), np.float32)),
    ]
    node = helper.make_node(
        op,
        [x, f"{prefix}_s", f"{prefix}_z", f"{prefix}_b"],
        [y],
        name=prefix,
        domain=domain,
        signed=signed,
        narrow=narrow,
        rounding_mode="ROUND",
    )
    return node, inits


@pytest.mark.parametrize("domain", ["qonnx.custom_op.general", "finn.custom_op.general", "ai.onnx.contrib", ""])
def test_qonnx_quant_on_weights_and_activations(domain):
    W = rnd(4, 6)
    qx, i1 = _quant("x", "xq", "qin", 0.25, 6, domain=domain)
    qw, i2 = _quant("W", "Wq", "qw", 0.0625, 4, domain=domain)
    qa, i3 = _quant("r", "rq", "qout", 0.3, 8, signed=0, domain=domain)
    nodes = [
        qx,
        qw,
        helper.make_node("Gemm", ["xq", "Wq"], ["h"], name="fc", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        qa,
        helper.make_node("Sigmoid", ["rq"], ["y"], name="sig"),
    ]
    m = model(nodes, [("x", (6,))], ["y"], [init("W", W), *i1, *i2, *i3], extra_opsets=[domain] if domain else [])
    g = from_proto(m)
    assert [op.kind for op in g.ops()] == ["dense", "activation", "activation"]  # Quant nodes gone
    fc, relu, sig = g.ops()
    assert fc.precision.weight == Precision.fixed(4, 0)  # 4 + log2(1/16)
    assert fc.precision.input == Precision.fixed(6, 4)  # 6 + log2(1/4)
    assert relu.precision.output == Precision.integer(8, signed=False)
    assert sig.precision.input == Precision.integer(8, signed=False)
    assert fc.precision.accum is None and sig.precision.output is None  # not set by a quantizer
    assert fc.inputs[0].name == "x" and sig.inputs[0].name == relu.outputs[0].name  # rewired
    # the folded weights hold the quantized values: multiples of 1/16 in [-8/16, 7/16]
    wq = g.weights[fc.name]["weight"]
    np.testing.assert_array_equal(wq, np.clip(np.round(W / 0.0625), -8, 7) * 0.0625)
    np.testing.assert_array_equal(wq, quant_values(W, np.float32(0.0625), np.float32(0), 4, True, False))


def test_qonnx_ternary_and_bipolar():
    W1, W2 = rnd(5, 4), rnd(3, 5)
    q1, i1 = _quant("W1", "W1q", "q1", 0.5, 2, signed=1, narrow=1)
    q2 = helper.make_node("BipolarQuant", ["W2", "s2"], ["W2q"], name="q2", domain="qonnx.custom_op.general")
    nodes = [
        q1,
        q2,
        helper.make_node("Gemm", ["x", "W1q"], ["h"], transB=1),
        helper.make_node("Gemm", ["h", "W2q"], ["y"], transB=1),
    ]
    g = from_proto(
        model(
            nodes,
            [("x", (4,))],
            ["y"],
            [init("W1", W1), init("W2", W2), init("s2", np.array(1.0, np.float32)), *i1],
            extra_opsets=["qonnx.custom_op.general"],
        )
    )
    d1, d2 = g.ops()
    assert d1.precision.weight == Precision.ternary() and d2.precision.weight == Precision.binary()
    assert set(np.unique(g.weights[d1.name]["weight"])) <= {-0.5, 0.0, 0.5}
    assert set(np.unique(g.weights[d2.name]["weight"])) <= {-1.0, 1.0}
    assert d1.sparsity == pytest.approx(np.mean(np.abs(W1) < 0.25))


def test_qdq_int8_weights():
    Wi = RNG.integers(-127, 128, size=(4, 6)).astype(np.int8)
    nodes = [helper.make_node("DequantizeLinear", ["Wi", "s", "z"], ["W"]), helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)]
    g = from_proto(
        model(
            nodes, [("x", (6,))], ["y"], [init("Wi", Wi), init("s", np.array(0.01, np.float32)), init("z", np.array(0, np.int8))]
        )
    )
    d = single(g)
    assert d.precision.weight == Precision.integer(8)
    np.testing.assert_allclose(g.weights[d.name]["weight"], Wi.astype(np.float32) * 0.01, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# unsupported ops: opaque / strict
# ---------------------------------------------------------------------------------------------


def test_unknown_node_becomes_opaque_and_keeps_the_graph_connected(caplog):
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="r"),
        helper.make_node("MyOp", ["a"], ["b"], name="mystery", domain="my.domain"),
        helper.make_node("HardSwish", ["b"], ["c"], name="hs"),
        helper.make_node("Tanh", ["c"], ["y"], name="t"),
    ]
    m = model(nodes, [("x", (3, 4))], ["y"], extra_opsets=["my.domain"])
    with caplog.at_level(logging.WARNING, logger="hwsim.frontends.onnx"):
        g = from_proto(m)
    kinds = [op.kind for op in g.ops()]
    assert kinds == ["activation", "opaque", "opaque", "activation"]
    my, hs = g.ops()[1], g.ops()[2]
    assert dict(my.attrs)["op_type"] == "MyOp" and my.attrs["domain"] == "my.domain" and my.output_shape == (3, 4)
    assert hs.attrs["op_type"] == "HardSwish" and hs.output_shape == (3, 4)
    assert g.ops()[3].inputs[0].name == hs.outputs[0].name
    assert "mystery" in caplog.text and "HardSwish" in caplog.text
    with pytest.raises(UnsupportedOpError, match=r"mystery.*MyOp|MyOp.*mystery"):
        from_proto(m, strict=True)


def test_names_are_sanitised_and_unique():
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="/layer/0/Relu"),
        helper.make_node("Relu", ["a"], ["y"], name="/layer/0/Relu!"),
    ]
    g = from_proto(model(nodes, [("x", (3,))], ["y"]))
    assert [op.name for op in g.ops()] == ["layer_0_Relu", "layer_0_Relu_1"]
    assert [op.origin for op in g.ops()] == [("/layer/0/Relu",), ("/layer/0/Relu!",)]


# ---------------------------------------------------------------------------------------------
# files and errors
# ---------------------------------------------------------------------------------------------


def _mlp_model() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="relu1"),
        helper.make_node("Gemm", ["r", "W2"], ["y"], name="fc2", transB=1),
    ]
    return model(nodes, [("x", (16,))], ["y"], [init("W1", rnd(32, 16)), init("B1", rnd(32)), init("W2", rnd(5, 32))])


def test_load_file_named_after_stem_and_equal_to_proto(tmp_path):
    m = _mlp_model()
    p = tmp_path / "jet_mlp.onnx"
    onnx.save(m, p)
    g = load_onnx(p)
    assert g.name == "jet_mlp"
    assert g.fingerprint() == from_proto(m).fingerprint()
    assert g.n_params == 32 * 16 + 32 + 5 * 32 and g.macs == 16 * 32 + 32 * 5
    assert g.inputs[0].shape == (16,)


def test_fixed_batch_input_is_accepted_too(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    m1 = model(nodes, [("x", (4,))], ["y"], batch=1)
    m2 = model(nodes, [("x", (4,))], ["y"], batch="batch_size")
    assert from_proto(m1).fingerprint() == from_proto(m2).fingerprint()


def _save_external(tmp_path: Path, location: str) -> Path:
    m = _mlp_model()
    for t in m.graph.initializer:
        if t.name == "W1":
            arr = numpy_helper.to_array(t)
            t.ClearField("raw_data")
            t.ClearField("float_data")
            t.data_location = TensorProto.EXTERNAL
            t.external_data.add(key="location", value=location)
            t.external_data.add(key="offset", value="0")
            t.external_data.add(key="length", value=str(arr.nbytes))
            data = arr.tobytes()
    sub = tmp_path / "model_dir"
    sub.mkdir(exist_ok=True)
    target = (sub / location) if not Path(location).is_absolute() else Path(location)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    p = sub / "ext.onnx"
    p.write_bytes(m.SerializeToString())
    return p


def test_external_data_inside_the_folder_is_read(tmp_path):
    p = _save_external(tmp_path, "weights.bin")
    g = load_onnx(p)
    assert g.n_params == 32 * 16 + 32 + 5 * 32
    assert g.weights["fc1"]["weight"].shape == (32, 16) and np.all(np.isfinite(g.weights["fc1"]["weight"]))


def _cli_error(capsys, argv) -> str:
    rc = cli_main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("location", ["../outside.bin", "ABS"])
def test_external_data_outside_the_folder_is_refused_before_reading(tmp_path, capsys, monkeypatch, location):
    if location == "ABS":
        location = str(tmp_path / "elsewhere" / "w.bin")
    p = _save_external(tmp_path, location)
    import onnx.external_data_helper as edh

    def boom(*a, **k):  # reading would be a failure of the check
        raise AssertionError("external data was read")

    monkeypatch.setattr(edh, "load_external_data_for_tensor", boom)
    line = _cli_error(capsys, ["inspect", str(p)])
    assert "refused" in line and str(p) in line


def test_error_missing_file(tmp_path, capsys):
    p = tmp_path / "nope.onnx"
    line = _cli_error(capsys, ["inspect", str(p)])
    assert str(p) in line and "no such file" in line


def test_error_not_onnx(tmp_path, capsys):
    p = tmp_path / "notes.onnx"
    p.write_text("this is a text file, not a protobuf\n")
    line = _cli_error(capsys, ["inspect", str(p)])
    assert str(p) in line and "not" in line


def test_error_truncated_protobuf(tmp_path, capsys):
    blob = _mlp_model().SerializeToString()
    p = tmp_path / "trunc.onnx"
    p.write_bytes(blob[: len(blob) // 2])
    line = _cli_error(capsys, ["inspect", str(p)])
    assert str(p) in line


def test_error_no_nodes(tmp_path, capsys):
    g = helper.make_graph(
        [], "empty", [helper.make_tensor_value_info("x", F, ["N", 3])], [helper.make_tensor_value_info("x", F, ["N", 3])]
    )
    p = tmp_path / "empty.onnx"
    onnx.save(helper.make_model(g), p)
    line = _cli_error(capsys, ["inspect", str(p)])
    assert "no nodes" in line and str(p) in line


def test_error_cycle(tmp_path, capsys):
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2")]
    g = helper.make_graph(
        nodes, "cyc", [helper.make_tensor_value_info("x", F, ["N", 3])], [helper.make_tensor_value_info("b", F, ["N", 3])]
    )
    p = tmp_path / "cycle.onnx"
    p.write_bytes(helper.make_model(g).SerializeToString())
    line = _cli_error(capsys, ["inspect", str(p)])
    assert "cycle" in line and str(p) in line


def test_strict_unsupported_via_cli(tmp_path, capsys):
    p = tmp_path / "hs.onnx"
    onnx.save(model([helper.make_node("HardSwish", ["x"], ["y"], name="hswish")], [("x", (3,))], ["y"]), p)
    line = _cli_error(capsys, ["inspect", "--strict", str(p)])
    assert "HardSwish" in line and "hswish" in line
    assert cli_main(["inspect", str(p)]) == 0  # non-strict: listed as opaque


def test_non_static_input_dimension_is_an_error():
    m = model([helper.make_node("Relu", ["x"], ["y"])], [("x", ("seq", 4))], ["y"])
    with pytest.raises(ModelError, match="non-static"):
        from_proto(m)


def test_loading_onnx_does_not_import_torch(tmp_path):
    p = tmp_path / "m.onnx"
    onnx.save(_mlp_model(), p)
    code = f"import sys; from hwsim.frontends.onnx import load_onnx; g = load_onnx({str(p)!r}); assert len(g) == 3; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_corrupted_files_only_ever_raise_model_errors(tmp_path):
    """Truncations and random byte flips of a valid model: each either lowers or raises a
    HwsimError (never another exception type, which the CLI would show as an internal error)."""
    from hwsim.errors import HwsimError

    blob = _mlp_model().SerializeToString()
    rng = np.random.default_rng(0)
    cases = [blob[:i] for i in range(0, len(blob), 41)]
    for _ in range(60):
        b = bytearray(blob)
        for _ in range(3):
            b[int(rng.integers(len(b)))] = int(rng.integers(256))
        cases.append(bytes(b))
    p = tmp_path / "c.onnx"
    n_err = 0
    for c in cases:
        p.write_bytes(c)
        try:
            load_onnx(p)
        except HwsimError:
            n_err += 1
    assert n_err > len(cases) // 2  # most damaged files are refused (a cut at a field boundary may still load)


def test_intquant_and_trunc_on_activations():
    """``IntQuant`` (the newer name of Quant) and ``Trunc`` (output_bit_width) set formats."""
    q, inits = _quant("x", "xq", "qi", 0.5, 8, op="IntQuant")
    trunc = helper.make_node(
        "Trunc", ["a", "ts", "tz", "tib", "tob"], ["aq"], name="tr", domain="qonnx.custom_op.general", rounding_mode="FLOOR"
    )
    inits += [
        init("ts", np.array(0.25, np.float32)),
        init("tz", np.array(0.0, np.float32)),
        init("tib", np.array(12.0, np.float32)),
        init("tob", np.array(6.0, np.float32)),
    ]
    nodes = [
        q,
        helper.make_node("AveragePool", ["xq"], ["a"], name="pool", kernel_shape=[2]),
        trunc,
        helper.make_node("Relu", ["aq"], ["y"], name="r"),
    ]
    g = from_proto(model(nodes, [("x", (3, 8))], ["y"], inits, extra_opsets=["qonnx.custom_op.general"]))
    pool, relu = g.ops()
    assert pool.precision.input == Precision.fixed(8, 7)  # 8 + log2(0.5)
    assert pool.precision.output == Precision.fixed(6, 4)  # Trunc to 6 bits at scale 1/4
    assert relu.precision.input == Precision.fixed(6, 4)
    assert relu.inputs[0].name == pool.outputs[0].name


def test_external_data_symlink_leaving_the_folder_is_refused(tmp_path, capsys):
    p = _save_external(tmp_path, "w.bin")
    outside = tmp_path / "outside.bin"
    (p.parent / "w.bin").rename(outside)
    (p.parent / "w.bin").symlink_to(outside)
    line = _cli_error(capsys, ["inspect", str(p)])
    assert "refused" in line


def test_cast_neg_sum_castlike():
    nodes = [
        helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.array(2.0, np.float64))),
        helper.make_node("CastLike", ["two", "x"], ["two32"]),  # folded: a constant cast to x's type
        helper.make_node("Mul", ["x", "two32"], ["a"], name="mul"),
        helper.make_node("Cast", ["a"], ["h"], name="to16", to=TensorProto.FLOAT16),
        helper.make_node("Cast", ["h"], ["b"], name="to32", to=TensorProto.FLOAT),
        helper.make_node("Neg", ["b"], ["c"], name="neg"),
        helper.make_node("Sum", ["c", "x"], ["y"], name="sum"),
        helper.make_node("Cast", ["y"], ["yi"], name="toint", to=TensorProto.INT32),
    ]
    g = from_proto(model(nodes, [("x", (4,))], ["y", "yi"]))
    kinds = {op.name: (op.kind, op.function) for op in g.ops()}
    assert kinds == {
        "mul": ("elementwise", "mul"),
        "to16": ("activation", "identity"),
        "to32": ("activation", "identity"),
        "neg": ("elementwise", "mul"),
        "sum": ("elementwise", "add"),
        "toint": ("opaque", ""),
    }
    assert g["mul"].attrs["const_shape"] == () and g["to16"].outputs[0].dtype == "float16"
    assert g["to32"].precision.input == Precision.float16()
