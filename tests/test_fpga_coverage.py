"""fpga backend: DSP counts with known weights, and the hls4ml 1.3.0 coverage of LayerNorm,
two-activation products (Einsum) and GELU (see hls4ml's nnet_layernorm.h, nnet_einsum.h,
backends/vivado/passes/einsum.py and converters/pytorch/core.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hwsim.api import cost_graph, lower
from hwsim.backends.fpga import FpgaBackend
from hwsim.backends.fpga.graphs import mlp
from hwsim.errors import UnsupportedOpError
from hwsim.ir import FLOAT32_OP, Attrs, Op, OpGraph, TensorSpec


@pytest.fixture(scope="module")
def be() -> FpgaBackend:
    return FpgaBackend()


def _est(be, g, ov=None):
    return cost_graph(g, be, be.resolve_params(None, dict(ov or {}), profile={}))


def _csd_digits(v: int) -> int:
    """Non-zero digits of the non-adjacent form, by the textbook digit loop (independent of
    the backend's bit-parallel implementation)."""
    v, n = abs(int(v)), 0
    while v:
        if v & 1:
            d = 2 - (v & 3)  # +1 or -1
            v -= d
            n += 1
        v >>= 1
    return n


def _with_weights(g: OpGraph, seed: int) -> tuple[OpGraph, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    w: dict[str, dict[str, np.ndarray]] = {}
    for op in g.ops():
        if op.kind == "dense":
            a = rng.uniform(-0.5, 0.5, size=(int(op.attrs["n_out"]), int(op.attrs["n_in"])))
            a[rng.random(a.shape) < 0.2] *= 1e-4  # non-zero floats that quantize to 0
            w[op.name] = {"weight": a, "bias": np.zeros(int(op.attrs["n_out"]))}
    return g.replace_ops(list(g.ops()), weights=w), {k: v["weight"] for k, v in w.items()}


@pytest.mark.parametrize("rf", [1, 4])
def test_dsp_is_a_count_with_weights(be, rf):
    """With the weight values the DSPs of a Latency dense layer are whole: the quantized
    non-zero constants with >= const_mult_dsp_min_csd_digits CSD digits (weights quantizing
    to 0 are no multiplication), shared over the reuse factor."""
    g, ws = _with_weights(mlp([16, 32, 8], name="m"), seed=1)
    est = _est(be, g, {"precision": "ap_fixed<16,6>", "reuse_factor": str(rf)})
    min_digits = int(be.default_params().value("const_mult_dsp_min_csd_digits"))
    dense_rows = [r for r in est.layers if r["op"].startswith("dense")]
    assert len(dense_rows) == 2
    for row, (_name, a) in zip(dense_rows, ws.items()):
        q = np.clip(np.round(a * 2**10), -(2**15), 2**15 - 1).astype(int).ravel()
        on = sum(1 for v in q if v != 0 and _csd_digits(v) >= min_digits)
        assert row["DSP"] == math.ceil(on / rf)
        assert float(row["DSP"]).is_integer()
        assert row["dsp_estimate"] == "count (weights)"
    assert float(est.totals["DSP"]).is_integer()


def test_dsp_expectation_without_weights_is_labelled(be):
    est = _est(be, mlp([16, 64, 5], name="m"), {"precision": "ap_fixed<16,6>"})
    rows = [r for r in est.layers if r["op"].startswith("dense")]
    assert all(r["dsp_estimate"] == "expected (no weights)" for r in rows)
    assert any(not float(r["DSP"]).is_integer() for r in rows)  # an expectation, honestly fractional


def test_jet_tagger_dsp_integers_at_16_6(be):
    """The issue's case: jet-mlp at ap_fixed<16,6> RF 1 showed 769.8 DSPs in layer 1."""
    est = _est(be, lower("jet-mlp"), {"precision": "ap_fixed<16,6>", "reuse_factor": "1"})
    for r in est.layers:
        if r["op"].startswith("dense"):
            assert float(r["DSP"]).is_integer(), r


# ----------------------------------------------------------------------------- coverage


def _ln_graph(shape, axis=None, affine=True) -> OpGraph:
    x = TensorSpec("x", tuple(shape))
    y = TensorSpec("y", tuple(shape))
    ax = len(shape) - 1 if axis is None else axis
    op = Op(
        "ln",
        "layernorm",
        (x,),
        (y,),
        Attrs({"axis": ax, "size": int(math.prod(shape[ax:])), "epsilon": 1e-5, "affine": affine}),
        FLOAT32_OP,
    )
    return OpGraph([op], [x], ["y"], name="ln")


def _mm_graph(m, n, p) -> OpGraph:
    a, b = TensorSpec("a", (m, n)), TensorSpec("b", (n, p))
    z = TensorSpec("z", (m, p))
    op = Op("mm", "matmul", (a, b), (z,), Attrs({}), FLOAT32_OP)
    return OpGraph([op], [a, b], ["z"], name="mm")


def test_layernorm_costed_on_sequence_inputs(be):
    """(seq, dim) normalised over the last axis: hls4ml's LayerNormalization. nnet_layernorm.h
    does 3*dim + 2 multiplications per row (mean, squares, variance, x/sigma, *scale); with the
    default 14-bit accumulator and 8-bit table all are >= 7-bit x >= 7-bit -> one DSP48E2 each
    (27x18), the seq rows stream through one pipelined row unit."""
    est = _est(be, _ln_graph((4, 8)))
    assert not est.unsupported
    (row,) = est.layers
    assert row["hls_class"] == "LayerNormalization"
    assert row["DSP"] == 3 * 8 + 2
    assert row["ii_cycles"] == 4  # one row per cycle at RF 1
    assert row["BRAM_18K"] >= 1  # the 4096 x 8-bit 1/sqrt table
    rf4 = _est(be, _ln_graph((4, 8)), {"reuse_factor": "4"}).layers[0]
    assert rf4["DSP"] < row["DSP"] and rf4["ii_cycles"] == 16


@pytest.mark.parametrize("shape,axis,affine", [((8, 4, 4), 0, True), ((16,), 0, True), ((4, 8), 1, False)])
def test_layernorm_hls4ml_cannot_build(be, shape, axis, affine):
    sup = be.supports(_ln_graph(shape, axis, affine).ops()[0])
    assert not sup.ok and "LayerNormalization" in sup.reason


def test_layernorm_and_einsum_io_stream_fail_like_hls4ml(be):
    with pytest.raises(UnsupportedOpError, match="io_parallel"):
        _est(be, _ln_graph((4, 8)), {"io_type": "io_stream"})
    with pytest.raises(UnsupportedOpError, match="Latency"):
        _est(be, _mm_graph(4, 8, 4), {"strategy": "Resource", "reuse_factor": "2"})


@pytest.mark.parametrize("rf", [1, 3])
def test_matmul_is_an_einsum(be, rf):
    """Two activations (m, n) x (n, p): hls4ml Einsum, m*n*p multiplications,
    multiplier_limit = ceil(total / RF) (einsum.py); 16-bit x 16-bit -> one DSP each."""
    est = _est(be, _mm_graph(4, 8, 6), {"reuse_factor": str(rf)})
    (row,) = est.layers
    assert row["hls_class"] == "Einsum"
    assert row["DSP"] == math.ceil(4 * 8 * 6 / rf)
    assert row["ii_cycles"] == rf
    assert any("torch.einsum" in w for w in est.warnings)


def test_gelu_unsupported_naming_hls4ml(be):
    x, y = TensorSpec("x", (8,)), TensorSpec("y", (8,))
    op = Op("g", "activation", (x,), (y,), Attrs({"function": "gelu", "approximate": "none"}), FLOAT32_OP)
    sup = be.supports(op)
    assert not sup.ok and "GELU" in sup.reason and "hls4ml" in sup.reason


def test_layernorm_plan_agrees_with_hls4ml_conversion():
    """hls4ml 1.3.0 converts nn.LayerNorm on a (batch, seq, features) tensor to a
    LayerNormalization layer whose class, reuse factor and scale/bias/accum/table types the
    plan reproduces (accum fixed<14,4>, table ufixed<8,5>: the Vivado backend's attribute
    defaults). Its result type follows the input type (the Linear before it is an hls4ml
    PointwiseConv1D on the channels-last transposed tensor, a different known disagreement)."""
    pytest.importorskip("hls4ml")
    torch = pytest.importorskip("torch")
    from hwsim.backends.fpga.check_hls4ml import check

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(16, 16)
            self.ln = torch.nn.LayerNorm(16)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.ln(self.fc(x))

    torch.manual_seed(0)
    res = check(M().eval(), example_input=torch.randn(1, 8, 16))
    ln_rows = {r.field: r for r in res.rows if r.layer.startswith("ln ~")}
    for field in ("hls_class", "reuse_factor", "precision.accum", "precision.table", "precision.scale", "precision.bias"):
        assert ln_rows[field].ok, (field, ln_rows[field])


def test_einsum_plan_agrees_with_hls4ml_conversion(be, tmp_path):
    """torch.einsum of two activations -> hls4ml 1.3.0 Einsum: L0/L1/C, the multiplier limit
    it writes (ceil(m n p / RF), firmware/parameters.h) and the 'auto' accum/result types (not
    inferred: the Model default) equal the plan's."""
    hls4ml = pytest.importorskip("hls4ml")
    torch = pytest.importorskip("torch")
    import re

    class M(torch.nn.Module):
        def forward(self, a, b):  # type: ignore[no-untyped-def]
            return torch.einsum("bij,bjk->bik", a, b)

    cfg = hls4ml.utils.config_from_pytorch_model(M(), [(4, 8), (8, 6)], granularity="name", backend="Vitis")
    cfg["Model"]["ReuseFactor"] = 4
    hm = hls4ml.converters.convert_from_pytorch_model(
        M(), hls_config=cfg, output_dir=str(tmp_path), backend="Vitis", io_type="io_parallel"
    )
    (ein,) = [lay for lay in hm.get_layers() if lay.class_name == "Einsum"]
    hm.write()
    ml = int(re.search(r"multiplier_limit = (\d+)", (tmp_path / "firmware" / "parameters.h").read_text()).group(1))
    plan = be.plan(_mm_graph(4, 8, 6), be.resolve_params(None, {"reuse_factor": "4"}, profile={}))
    (lp,) = [lay for lay in plan.layers if lay.hls_class == "Einsum"]
    assert lp.multiplier_limit == ml == math.ceil(4 * 8 * 6 / 4)
    assert (ein.get_attr("n_free0"), ein.get_attr("n_contract"), ein.get_attr("n_free1")) == (4, 8, 6)
    assert lp.precision["accum"] == ein.get_attr("accum_t").precision.definition_cpp()
    assert lp.precision["result"] == ein.get_attr("result_t").precision.definition_cpp()
