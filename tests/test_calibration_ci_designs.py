"""The hls4ml CI baselines have one model/config definition
(:func:`hwsim.backends.fpga.graphs.hls4ml_ci_design`), used by both the calibration manifest
``calibration/manifests/hls4ml-ci.yml`` and ``python -m hwsim.backends.fpga.validate_rules ci``.
These tests check that the two paths really cost the same designs the same way, and that the
manifest's ``design:``/``builder`` hook refuses what it should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwsim.backends.fpga import validate_rules as vr
from hwsim.backends.fpga.graphs import hls4ml_ci_design, hls4ml_ci_model
from hwsim.calibration.engine import get_adapter
from hwsim.calibration.manifest import load_manifest
from hwsim.calibration.models import build_model
from hwsim.errors import ModelError, ReportError

REPO = Path(__file__).resolve().parents[1]
CI_MANIFEST = REPO / "calibration" / "manifests" / "hls4ml-ci.yml"
CI_DATA = REPO / "calibration" / "reports" / "hls4ml-ci-baselines"
METRICS = ("latency_cycles", "ii_cycles", "DSP", "LUT", "FF", "BRAM_18K")


def test_manifest_and_validate_rules_cost_the_same_designs() -> None:
    """Every manifest entry is predicted exactly as validate_rules predicts its report file
    (same graph, weights, overrides; 'auto' types because no hls4ml config is passed)."""
    adapter = get_adapter("fpga")
    samples = adapter.load([str(CI_MANIFEST)])
    be = vr._backend()
    # every Xilinx baseline file is in the manifest (oneAPI reports Intel resources: not listed)
    files = {f.resolve() for t in ("Vivado", "Vitis") for f in (CI_DATA / t).glob("*/*.json")}
    assert {Path(s.payload.record.source).resolve() for s in samples} == files
    for s in samples:
        rp = Path(s.payload.record.source)
        tool = rp.parents[1].name
        g, ov = vr._ci_case(rp.stem, tool)
        assert ov["backend"] == tool and s.payload.overrides == ov
        ref = vr._est(be, g, None, ov)
        got = adapter.evaluate(s, None).predicted
        for m in METRICS:
            assert got[m] == pytest.approx(float(ref[m]), rel=1e-12, abs=1e-9), (s.id, m)
        # and the comparison reads the report's csynth fields that validate_rules reads
        rep = json.loads(rp.read_text())["CSynthesisReport"]
        assert s.reported["latency_cycles"] == float(rep["BestLatency"])
        assert s.reported["ii_cycles"] == float(rep["IntervalMin"])
        assert s.reported["DSP"] == float(rep["DSP"]) and s.reported["LUT"] == float(rep["LUT"])


def test_ci_designs_follow_test_keras_api() -> None:
    """Facts of hls4ml test/pytest/test_keras_api.py the shared definition must carry."""
    g, ov = hls4ml_ci_design("test_keras_api_test_conv2d_io_parallel-Vivado-Resource-same-channels_last", "Vivado")
    (conv,) = g.ops()
    assert conv.output_shape == (32, 7, 7) and conv.attrs["stride"] == (4, 4) and conv.n_bias == 0
    assert ov["strategy"] == "Resource" and ov["io_type"] == "io_parallel" and ov["backend"] == "Vivado"
    # Keras glorot-uniform kernel: |w| <= sqrt(6 / (fan_in + fan_out)), fan = 4*4*3 and 4*4*32
    w = g.weights["conv2d"]["weight"]
    assert abs(w).max() <= (6.0 / (48 + 512)) ** 0.5 and abs(w).max() > 0.5 * (6.0 / (48 + 512)) ** 0.5
    _, ov = hls4ml_ci_design("test_keras_api_test_depthwise2d_io_stream-Vitis")
    assert ov["precision"] == "ap_fixed<32,12>" and ov["io_type"] == "io_stream" and "backend" not in ov
    pool = hls4ml_ci_model("test_keras_api_test_pooling_Vivado-channels_last-same-MaxPooling2D")
    assert pool.ops()[0].output_shape == (3, 9, 8)  # ceil(18/2), ceil(15/2)
    assert hls4ml_ci_design("test_keras_api_test_no_such_test-Vivado") is None
    with pytest.raises(ValueError):
        hls4ml_ci_model("test_keras_api_test_no_such_test-Vivado")


def test_builder_specs_are_restricted_to_hwsim(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="hwsim.<module>:<function>"):
        build_model({"builder": "os:getcwd"})
    with pytest.raises(ModelError, match="not found"):
        build_model({"builder": "hwsim.backends.fpga.graphs:no_such_builder"})
    with pytest.raises(ModelError, match="no design|hls4ml CI"):
        build_model({"builder": "hwsim.backends.fpga.graphs:hls4ml_ci_model", "args": {"stem": "nope"}})
    g = build_model({"builder": "hwsim.backends.fpga.graphs:mlp", "args": {"widths": [4, 3]}})
    assert [o.kind for o in g.ops()] == ["dense"]
    report = next((CI_DATA / "Vivado" / "2020.1").glob("*dense_io_parallel*.json"))
    bad = tmp_path / "m.yml"
    bad.write_text(
        "schema: hwsim-manifest/1\nbackend: fpga\nentries:\n"
        f"- report: {report}\n  model: '1-2'\n"
        "  design: {builder: 'hwsim.backends.fpga.graphs:hls4ml_ci_design', args: {stem: x}}\n"
    )
    with pytest.raises(ReportError, match="replaces 'model'"):
        load_manifest(bad)
    bad.write_text(
        "schema: hwsim-manifest/1\nbackend: fpga\nentries:\n"
        f"- report: {report}\n"
        "  design: {builder: 'hwsim.backends.fpga.graphs:mlp', args: {widths: [1, 2]}}\n"
    )
    with pytest.raises(ReportError, match=r"\(OpGraph, overrides\)"):
        load_manifest(bad)
