"""BOPs: hand-computed values of the codesign paper's formulas (appendix A)."""

from __future__ import annotations

import math

import pytest
from conftest import mlp_graph

import hwsim
from hwsim.backends.bops import conv_bops, linear_bops, matmul_bops, softmax_bops
from hwsim.ir import ACTIVATION, CONV, DENSE, MATMUL, Op, OpGraph, OpPrecision, Precision, TensorSpec

P8 = OpPrecision(weight=Precision.integer(8), input=Precision.integer(8))


def _dense(n_in: int, n_out: int, prec=P8, sparsity=0.0, shape=None) -> OpGraph:
    x = TensorSpec("x", shape or (n_in,))
    out_shape = (*(shape or (n_in,))[:-1], n_out)
    op = Op("fc", DENSE, (x,), (TensorSpec("y", out_shape),), {"n_in": n_in, "n_out": n_out, "bias": True}, prec, sparsity)
    return OpGraph([op], [x], ["y"])


def test_issue_example_linear_64_32_8bit():
    # the issue's own number: 32*64*(64+8+8+6)
    assert linear_bops(32, 64, 8, 8) == 176_128
    est = hwsim.estimate(_dense(64, 32), "bops")
    assert est.totals["bops"] == 176_128
    assert est.totals["macs"] == 2048
    assert est.totals["params"] == 64 * 32 + 32


def test_linear_sparsity_and_bits_from_options():
    # p = 0.25: 10*20*(0.25*4*6 + 4 + 6 + log2 20)
    expected = 10 * 20 * (0.25 * 4 * 6 + 4 + 6 + math.log2(20))
    g = _dense(20, 10, prec=OpPrecision(), sparsity=0.75)
    est = hwsim.estimate(g, "bops", overrides={"weight_bits": "6", "act_bits": "4"})
    assert est.totals["bops"] == pytest.approx(expected)
    # sparsity from the IR unless overridden
    est2 = hwsim.estimate(g, "bops", overrides={"weight_bits": "6", "act_bits": "4", "sparsity": "0"})
    assert est2.totals["bops"] == pytest.approx(10 * 20 * (24 + 4 + 6 + math.log2(20)))


def test_float_model_counts_32_bits():
    est = hwsim.estimate(_dense(4, 2, prec=OpPrecision(weight=Precision.float32(), input=Precision.float32())), "bops")
    assert est.totals["bops"] == pytest.approx(2 * 4 * (32 * 32 + 64 + 2))


def test_conv2d_per_output_position():
    # Conv(1 -> 8, 3x3) on 11x11, no padding: 9x9 positions; 8*1*9*(64+16+log2 9) each
    x = TensorSpec("x", (1, 11, 11))
    op = Op(
        "c",
        CONV,
        (x,),
        (TensorSpec("y", (8, 9, 9)),),
        {
            "dims": 2,
            "in_channels": 1,
            "out_channels": 8,
            "kernel": (3, 3),
            "stride": (1, 1),
            "pads": (0, 0, 0, 0),
            "dilation": (1, 1),
            "groups": 1,
            "bias": True,
        },
        P8,
    )
    g = OpGraph([op], [x], ["y"])
    expected = 81 * 8 * 1 * 9 * (64 + 8 + 8 + math.log2(9))
    assert conv_bops(8, 1, 9, 8, 8, 1.0, 81) == pytest.approx(expected)
    assert hwsim.estimate(g, "bops").totals["bops"] == pytest.approx(expected)


def test_softmax_matches_paper_shape_form():
    # paper: input (b, h, w, h, w) at b_w bits; take b=2, h=w=3 -> E = 2*81, rows of hw = 9
    b, hw, bw = 2, 9, 8
    paper = 1.5 * b * hw**2 * (bw - 1) + b * hw * (hw - 1) + b * hw**2
    assert softmax_bops(b * hw * hw, hw, bw) == pytest.approx(paper)
    x = TensorSpec("x", (b * hw, hw))
    op = Op(
        "sm",
        ACTIVATION,
        (x,),
        (TensorSpec("y", x.shape),),
        {"function": "softmax", "axis": 1},
        OpPrecision(input=Precision.integer(8)),
    )
    assert hwsim.estimate(OpGraph([op], [x], ["y"]), "bops").totals["bops"] == pytest.approx(paper)


def test_matmul_formula():
    b, m, n, p, bw = 2, 4, 8, 3, 8
    expected = b * m * n * (p * bw**2 + bw * (math.log2(n) + 1))
    assert matmul_bops(b, m, n, p, bw) == pytest.approx(expected)
    qa, kb = TensorSpec("q", (b, m, n)), TensorSpec("k", (b, n, p))
    op = Op("mm", MATMUL, (qa, kb), (TensorSpec("y", (b, m, p)),), {}, OpPrecision(input=Precision.integer(8)))
    g = OpGraph([op], [qa, kb], ["y"])
    assert hwsim.estimate(g, "bops").totals["bops"] == pytest.approx(expected)


def test_rows_counted_once_per_particle_by_default():
    g = _dense(3, 32, shape=(8, 3))
    once = linear_bops(32, 3, 8, 8)
    assert hwsim.estimate(g, "bops").totals["bops"] == pytest.approx(8 * once)
    assert hwsim.estimate(g, "bops", overrides={"count_rows": "false"}).totals["bops"] == pytest.approx(once)


def test_uncounted_ops_say_so(jet_graph):
    est = hwsim.estimate(jet_graph, "bops")
    relu_rows = [r for r in est.layers if r["op"] == "activation:relu"]
    assert relu_rows and all(r["counted"] is False and r["bops"] == 0 for r in relu_rows)
    assert any(r["op"] == "activation:softmax" and r["counted"] for r in est.layers)


def test_bops_monotone_in_bits():
    g = mlp_graph((16, 8, 4))
    vals = [
        hwsim.estimate(g, "bops", overrides={"weight_bits": str(b), "act_bits": str(b)}).totals["bops"] for b in (2, 4, 8, 16)
    ]
    assert vals == sorted(vals) and len(set(vals)) == 4
