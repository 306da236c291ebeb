"""The hls4ml rules the fpga backend re-implements, checked against hls4ml 1.3.0 itself
(skipped when hls4ml is absent) and against values hls4ml printed/produced (hand cases)."""

from __future__ import annotations

import contextlib
import io
import random

import pytest

from hwsim.backends.fpga import rules
from hwsim.backends.fpga.rules import FixedType


def _hls4ml_backend():
    fb = pytest.importorskip("hls4ml.backends.fpga.fpga_backend")
    return fb.FPGABackend.__new__(fb.FPGABackend)  # the rule methods use no instance state


class _FakeLayer:
    def __init__(self, name: str, rf: int) -> None:
        self.name = name
        self.attrs = {"reuse_factor": rf}

    def get_attr(self, k, default=None):
        return self.attrs.get(k, default)

    def set_attr(self, k, v):
        self.attrs[k] = v


# --- hand cases: lists and texts hls4ml 1.3.0 printed when converting a 16-64-5 MLP at RF 3 ---


def test_valid_reuse_factors_hand_cases():
    assert rules.valid_reuse_factors(16, 64) == (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
    assert rules.valid_reuse_factors(64, 5) == (1, 2, 4, 8, 16, 32, 64, 320)


def test_snap_warning_text_exact():
    rf, w = rules.snap_reuse_factor("_0", 16, 64, 3)
    assert rf == 2
    assert (
        w
        == 'WARNING: Invalid ReuseFactor=3 in layer "_0".Using ReuseFactor=2 instead. Valid ReuseFactor(s): 1,2,4,8,16,32,64,128,256,512,1024.'
    )
    assert rules.snap_reuse_factor("x", 16, 64, 4) == (4, None)


def test_closest_ties_to_smaller_and_ends():
    assert rules.closest_reuse_factor([1, 2, 4, 8], 3) == 2  # tie 2/4 -> smaller
    assert rules.closest_reuse_factor([1, 2, 4, 8], 100) == 8
    assert rules.closest_reuse_factor([2, 4], 1) == 2


def test_snap_include_max_rf_false_drops_largest():
    valid = rules.valid_reuse_factors(4, 3)
    rf, _ = rules.snap_reuse_factor("l", 4, 3, valid[-1], include_max_rf=False)
    assert rf == valid[-2]


# --- against hls4ml's own functions ---


def test_valid_reuse_factors_match_hls4ml():
    be = _hls4ml_backend()
    rnd = random.Random(1)
    pairs = [(1, 1), (1, 7), (7, 1), (3, 8), (16, 64), (24, 8), (42, 64), (96, 42)] + [
        (rnd.randint(1, 60), rnd.randint(1, 60)) for _ in range(40)
    ]
    for n_in, n_out in pairs:
        assert list(rules.valid_reuse_factors(n_in, n_out)) == be.get_valid_reuse_factors(n_in, n_out), (n_in, n_out)


def test_snap_matches_hls4ml_set_closest_reuse_factor():
    be = _hls4ml_backend()
    rnd = random.Random(7)
    triples = [(rnd.randint(1, 48), rnd.randint(1, 48), rnd.randint(1, 3000)) for _ in range(150)]
    triples += [(16, 64, 3), (64, 32, 5), (24, 8, 1024), (128, 128, 4093)]
    for n_in, n_out, rf in triples:
        for include_max in (True, False):
            if not include_max and len(rules.valid_reuse_factors(n_in, n_out)) < 2:
                continue
            layer = _FakeLayer("dense", rf)
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                be.set_closest_reuse_factor(layer, n_in, n_out, include_max_rf=include_max)
            ours, warn = rules.snap_reuse_factor("dense", n_in, n_out, rf, include_max_rf=include_max)
            assert ours == layer.attrs["reuse_factor"], (n_in, n_out, rf)
            printed = buf.getvalue().strip()
            assert (warn or "") == printed, (n_in, n_out, rf)


def test_conv_partition_splits_match_hls4ml():
    be = _hls4ml_backend()
    for h, w in [(1, 8), (7, 7), (30, 30), (4, 4), (1, 1), (13, 13), (1, 121)]:
        assert list(rules.valid_conv_partition_splits(h, w)) == be.get_valid_conv_partition_splits(h, w)


def test_validate_reuse_factor_matches_hls4ml_exhaustively_small():
    be = _hls4ml_backend()
    for n_in in range(1, 13):
        for n_out in range(1, 13):
            for rf in range(1, n_in * n_out + 3):
                assert rules.validate_reuse_factor(n_in, n_out, rf) == be._validate_reuse_factor(n_in, n_out, rf)


# --- precision inference (values hls4ml 1.3.0 produced for config_from_pytorch_model 'auto') ---


@pytest.mark.parametrize(
    ("default", "n_in", "expected"),
    [
        ("ap_fixed<16,6>", 16, (37, 17)),
        ("ap_fixed<16,6>", 64, (39, 19)),
        ("ap_fixed<16,6>", 32, (38, 18)),
        ("ap_fixed<8,3>", 16, (21, 11)),
        ("ap_fixed<8,3>", 64, (23, 13)),
    ],
)
def test_infer_dense_accum_precision(default, n_in, expected):
    t = FixedType.parse(default)
    r = rules.infer_common_precision(t, t, t, n_in)
    assert (r.width, r.integer) == expected


def test_infer_precision_float_falls_back():
    f = FixedType.parse("float")
    assert rules.infer_common_precision(f, FixedType(8, 3), FixedType(8, 3), 4) is None


def test_pipeline_style_rules():
    assert rules.pipeline_style("io_stream", [("Dense", "latency", 1)])[0] == "dataflow"
    assert rules.pipeline_style("io_parallel", [("Dense", "latency", 1)])[0] == "pipeline"
    assert rules.pipeline_style("io_parallel", [("Dense", "resource", 1)])[0] == "dataflow"
    assert rules.pipeline_style("io_parallel", [("Conv2D", "latency", 49)])[0] == "dataflow"
    assert rules.pipeline_style("io_parallel", [("PointwiseConv1D", "latency", 1)])[0] == "pipeline"
    assert rules.pipeline_style("io_parallel", [("Dense", "resource_unrolled", 1)])[0] == "pipeline"
    style, warn = rules.pipeline_style("io_parallel", [("Dense", "latency", 1)], "fancy")
    assert style == "pipeline" and warn and "valid values" in warn


def test_multiplier_limit_template_formula():
    # DIV_ROUNDUP(n_in*n_out, rf) - n_zeros / rf with C++ integer division
    assert rules.multiplier_limit(16, 64, 1) == 1024
    assert rules.multiplier_limit(16, 64, 3) == 342
    assert rules.multiplier_limit(16, 64, 2, n_zeros=101) == 512 - 50


def test_fixed_type_parse():
    assert FixedType.parse("fixed<16,6,TRN,WRAP,0>") == FixedType(16, 6, True)
    assert FixedType.parse("ap_ufixed<8,0>") == FixedType(8, 0, False)
    assert FixedType.parse("ap_int<4>") == FixedType(4, 4, True)
    with pytest.raises(ValueError):
        FixedType.parse("ap_fixd<8,3>")


def test_plan_matches_hls4ml_conversion():
    """Reuse factors, strategies, resolved types and pipeline style of a converted MLP."""
    torch = pytest.importorskip("torch")
    hls4ml = pytest.importorskip("hls4ml")
    import tempfile

    from hwsim.backends.fpga import FpgaBackend
    from hwsim.backends.fpga.graphs import mlp

    m = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 5))
    cfg = hls4ml.utils.config_from_pytorch_model(
        m, input_shape=(16,), granularity="name", backend="Vitis", default_precision="ap_fixed<8,3>", default_reuse_factor=3
    )
    cfg["Model"]["Strategy"] = "Resource"
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()):
        hm = hls4ml.converters.convert_from_pytorch_model(m, hls_config=cfg, output_dir=d, backend="Vitis", io_type="io_parallel")
    theirs = {layer.name: layer for layer in hm.get_layers() if layer.class_name == "Dense"}
    be = FpgaBackend()
    hcfg = {k: v for k, v in cfg.items() if k != "PytorchModel"}
    g = mlp([16, 64, 5], activation="relu")
    # the hwsim graph's layer names are dense_0 / dense_1; hls4ml's are _0 / _2
    hcfg["LayerName"] = {"dense_0": hcfg["LayerName"]["_0"], "dense_1": hcfg["LayerName"]["_2"]}
    params = be.resolve_params(hcfg, {}, profile={})
    plan = be.plan(g, params)
    ours = [lp for lp in plan.layers if lp.hls_class == "Dense"]
    for lp, (_n, tl) in zip(ours, sorted(theirs.items())):
        assert lp.reuse_factor == tl.get_attr("reuse_factor")
        assert lp.strategy == tl.get_attr("strategy")
        assert (lp.n_in, lp.n_out) == (tl.get_attr("n_in"), tl.get_attr("n_out"))
        for t in ("weight", "bias", "result", "accum"):
            prec = tl.types[f"{t}_t"].precision
            assert FixedType.parse(lp.precision[t]) == FixedType(prec.width, prec.integer, prec.signed), t
    assert plan.pipeline_style == hm.config.pipeline_style
