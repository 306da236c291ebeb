"""Calibration: fitter, statistics, splits, model builder, manifests, the calibrate/validate
CLI — end to end on synthetic reports generated from known constants (so that the fit must
recover them), with a small stand-in fpga backend that honours the calibration contract
(``fittable`` + linear ``features``). The real fpga backend is exercised by
tests/test_calibration_regression.py."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from hwsim.backends import base as backend_base
from hwsim.backends.base import BackendBase, Estimate, OpCost, Param, Params
from hwsim.calibration.fit import error_stats, fit_linear, kfold_groups, split_ids
from hwsim.calibration.manifest import load_inputs, load_manifest
from hwsim.calibration.models import build_model, dense_chain, from_layers
from hwsim.cli import main
from hwsim.errors import ModelError, ReportError

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = REPO / "calibration" / "manifests"

# ---------------------------------------------------------------------------------------------
# fitter and statistics
# ---------------------------------------------------------------------------------------------


def test_fit_recovers_constants_despite_outliers() -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(1, 1000, (300, 3))
    truth = np.array([2.5, 3.0, 4.0])
    y = X @ truth * (1 + rng.normal(0, 0.01, 300))
    y[:15] *= 4.0  # 5 % pathological syntheses
    res = fit_linear(X, y, ["a", "b", "c"], x0=[1, 1, 1])
    assert np.allclose(res.values, truth, rtol=0.02)
    assert res.after["median_ape"] < 2.0 < res.before["median_ape"]
    # plain least squares is pulled up by the outliers (median over-prediction); the robust
    # loss is not
    plain = fit_linear(X, y, ["a", "b", "c"], loss="linear")
    assert plain.after["bias"] > 0.5 and abs(res.after["bias"]) < 0.2


def test_fit_respects_bounds_offset_and_unused_columns() -> None:
    X = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    y = np.array([5.0, 7.0, 9.0])  # = 3 + 2 x  -> offset 3
    res = fit_linear(X, y, ["k", "unused"], x0=[1.0, 7.0], offset=[3, 3, 3])
    assert res.values[0] == pytest.approx(2.0, rel=1e-4)
    assert res.values[1] == 7.0  # no information: keeps its start value
    neg = fit_linear(X, -y, ["k", "unused"])  # the best fit would be negative
    assert neg.values[0] >= 0.0


def test_error_stats_by_hand() -> None:
    s = error_stats([110, 90, 100, 3], [100, 100, 100, 0])
    assert s["n"] == 4 and s["n_relative"] == 3
    assert s["mape"] == pytest.approx(20 / 3, abs=1e-4)
    assert s["median_ape"] == pytest.approx(10.0)
    assert s["max_ape"] == pytest.approx(10.0)
    assert s["bias"] == pytest.approx(0.0)
    assert s["exact_pct"] == pytest.approx(25.0)
    # within the reported [best, worst] range counts as exact
    r = error_stats([101, 50], [100, 60], ranges=[(100, 102), (60, 60)])
    assert r["exact_pct"] == 50.0


def test_split_keeps_groups_together_and_is_deterministic() -> None:
    ids = [f"r{i}" for i in range(100)]
    groups = [f"g{i % 17}" for i in range(100)]
    fit, held = split_ids(ids, 0.3, seed=0, groups=groups)
    assert set(fit).isdisjoint(held) and len(fit) + len(held) == 100
    gf = {groups[ids.index(i)] for i in fit}
    gh = {groups[ids.index(i)] for i in held}
    assert gf.isdisjoint(gh) and len(gh) == 5  # round(0.3 * 17)
    assert split_ids(ids, 0.3, seed=0, groups=groups) == (fit, held)
    assert split_ids(ids, 0.3, seed=1, groups=groups) != (fit, held)
    folds = kfold_groups(groups, 4, seed=0)
    assert sorted(i for f in folds for i in f) == list(range(100))
    for a in range(4):
        for b in range(a + 1, 4):
            assert {groups[i] for i in folds[a]}.isdisjoint({groups[i] for i in folds[b]})


# ---------------------------------------------------------------------------------------------
# model builder
# ---------------------------------------------------------------------------------------------


def test_dense_chain_and_keras_padding() -> None:
    g = dense_chain("80-24-120")
    assert [(o.attrs["n_in"], o.attrs["n_out"]) for o in g.ops()] == [(80, 24), (24, 120)]
    # Keras 'same': ceil(28/4) = 7, total pad (7-1)*4 + 4 - 28 = 0
    c = from_layers([3, 28, 28], [{"conv2d": 32, "kernel": 4, "stride": 4, "padding": "same", "bias": False}])
    (op,) = c.ops()
    assert op.output_shape == (32, 7, 7) and op.macs == 49 * 32 * 3 * 16 and op.n_bias == 0
    # pooling 'same' on 18x15: 9x8, the odd pixel padded at the end
    p = from_layers([3, 18, 15], [{"pool2d": "max", "padding": "same"}])
    assert p.ops()[0].output_shape == (3, 9, 8) and p.ops()[0].attrs["pads"] == (0, 0, 0, 1)
    d = from_layers([3, 32, 32], [{"depthwise_conv2d": 1, "kernel": 3}])
    assert d.ops()[0].output_shape == (3, 30, 30) and d.ops()[0].attrs["groups"] == 3
    ds = from_layers([8, 3], [{"dense": 32}, {"reduce": "mean", "axes": [0]}, {"dense": 5}])
    assert ds.ops()[0].rows == 8 and ds.ops()[1].output_shape == (32,) and ds.ops()[2].rows == 1
    with pytest.raises(ModelError):
        build_model({"input": [4], "layers": [{"dens": 3}]})
    with pytest.raises(ModelError):
        build_model("12-x-3")


# ---------------------------------------------------------------------------------------------
# shipped manifests
# ---------------------------------------------------------------------------------------------


def test_shipped_manifests_pair_every_report() -> None:
    counts = {m.stem: len(load_manifest(m)) for m in sorted(MANIFESTS.glob("*.yml"))}
    assert counts == {"deepsets": 5, "hls4ml-ci": 60, "hls4ml-fixture": 2, "tutorial-cnn": 2, "wa-hls4ml": 938}
    wa = load_manifest(MANIFESTS / "wa-hls4ml.yml")
    first = wa[0]
    assert first.hls4ml["Model"]["ReuseFactor"] == 1024 and first.hls4ml["Part"] == "xcu250-figd2104-2L-e"
    assert first.hls4ml["LayerName"]["dense_1"]["Precision"]["weight"] == "ap_fixed<6,1>"
    assert first.graph.ops()[0].precision.weight is not None and first.graph.ops()[0].precision.weight.total_bits == 6
    tut = {p.id: p for p in load_manifest(MANIFESTS / "tutorial-cnn.yml")}
    assert tut["tutorial-cnn-16bit-csynth"].record.interval_min == 1028  # completed from the file's comment
    assert tut["tutorial-cnn-16bit-vsynth"].record.kind == "post_synthesis"
    conv = [o for o in tut["tutorial-cnn-16bit-csynth"].graph.ops() if o.kind == "conv"]
    assert [o.output_shape for o in conv] == [(16, 30, 30), (16, 13, 13), (24, 4, 4)]  # the CSV's input_hw of relu_*


def test_manifest_errors_name_the_file(tmp_path: Path) -> None:
    m = tmp_path / "m.yml"
    m.write_text("schema: hwsim-manifest/1\nentries:\n  - id: a\n    reported: {latency_cycles: 3}\n")
    with pytest.raises(ReportError, match=r"m\.yml.*not paired with a model"):
        load_manifest(m)
    m.write_text("schema: other\n")
    with pytest.raises(ReportError, match="m.yml"):
        load_manifest(m)
    m.write_text(
        f"schema: hwsim-manifest/1\ntables:\n  - file: {REPO / 'calibration/reports/wa-hls4ml/dense_2layer_sample.csv'}\n    model: '{{nosuchcol}}'\n"
    )
    with pytest.raises(ReportError, match="nosuchcol"):
        load_manifest(m)
    # a bare report is refused: nothing pairs it with a model
    with pytest.raises(ReportError, match="not paired"):
        load_inputs([REPO / "calibration/reports/hls4ml-report-fixture/myproject_csynth.xml"])


# ---------------------------------------------------------------------------------------------
# a stand-in fpga backend honouring the calibration contract
# ---------------------------------------------------------------------------------------------

TRUTH = {"lut_per_mult_bit": 1.7, "lut_per_layer": 300.0, "ff_per_out_bit": 2.2, "ff_per_layer": 150.0}


class StandInFpga(BackendBase):
    """LUT = a * sum(n_in*n_out*wbits/RF) + b * layers; FF = c * sum(n_out*16) + d * layers;
    latency = sum(RF) + 2L - 1; DSP = n_in*n_out/RF for >= 8-bit weights (rules, not fitted)."""

    name: ClassVar[str] = "fpga"
    claims: ClassVar[frozenset[str]] = frozenset({"dense"})
    totals_keys: ClassVar[tuple[str, ...]] = ("latency_cycles", "ii_cycles", "DSP", "LUT", "FF", "BRAM_18K")
    fittable: ClassVar[dict[str, list[str]]] = {
        "LUT": ["lut_per_mult_bit", "lut_per_layer"],
        "FF": ["ff_per_out_bit", "ff_per_layer"],
    }

    def default_params(self) -> Params:
        return Params({k: Param(1.0, "stand-in") for k in TRUTH} | {"hls4ml": Param({}, "default")})

    def resolve_params(
        self, config: Mapping[str, Any] | None, overrides: Mapping[str, str], profile: Mapping[str, Any] | None = None
    ) -> Params:
        p = super().resolve_params(None, overrides, profile)
        return p.updated({"hls4ml": Param(dict(config or {}), "config")})

    def _rf_bits(self, op: Any, params: Params) -> tuple[int, int]:
        cfg = params.value("hls4ml") or {}
        rf = int(cfg.get("Model", {}).get("ReuseFactor", 1))
        w = op.precision.weight.total_bits if op.precision.weight else 16
        return rf, w

    def features(self, op: Any, params: Params) -> dict[str, float]:
        rf, w = self._rf_bits(op, params)
        n = op.attrs["n_in"] * op.attrs["n_out"]
        return {
            "LUT:lut_per_mult_bit": n * w / rf,
            "LUT:lut_per_layer": 1.0,
            "FF:ff_per_out_bit": op.attrs["n_out"] * 16.0,
            "FF:ff_per_layer": 1.0,
        }

    def estimate(self, op: Any, params: Params) -> OpCost:
        rf, w = self._rf_bits(op, params)
        f = self.features(op, params)
        lut = sum(params.value(k.split(":")[1]) * c for k, c in f.items() if k.startswith("LUT:"))
        ff = sum(params.value(k.split(":")[1]) * c for k, c in f.items() if k.startswith("FF:"))
        dsp = op.attrs["n_in"] * op.attrs["n_out"] / rf if w >= 8 else 0.0
        return OpCost(op.name, op.kind, {"latency_cycles": rf + 2, "DSP": dsp, "LUT": lut, "FF": ff, "BRAM_18K": 0.0})

    def aggregate(self, graph: Any, costs: Any, params: Params) -> Estimate:
        tot = {k: sum(c.values[k] for c in costs) for k in ("latency_cycles", "DSP", "LUT", "FF", "BRAM_18K")}
        tot["latency_cycles"] -= 1
        tot["ii_cycles"] = tot["latency_cycles"]
        return Estimate("fpga", graph.name, tot, tuple(c.row() for c in costs), params=params)


def _truth(arch: str, prec: int, rf: int, rng: np.random.Generator) -> dict[str, float]:
    w = [int(x) for x in arch.split("-")]
    pairs = list(zip(w[:-1], w[1:]))
    lut = TRUTH["lut_per_mult_bit"] * sum(a * b * prec / rf for a, b in pairs) + TRUTH["lut_per_layer"] * len(pairs)
    ff = TRUTH["ff_per_out_bit"] * sum(b * 16 for _, b in pairs) + TRUTH["ff_per_layer"] * len(pairs)
    lat = sum(rf + 2 for _ in pairs) - 1
    dsp = sum(a * b / rf for a, b in pairs) if prec >= 8 else 0
    noise = rng.normal(0, 0.01, 2)
    return {"lat": lat, "dsp": dsp, "lut": round(lut * (1 + noise[0])), "ff": round(ff * (1 + noise[1]))}


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> StandInFpga:
    be = StandInFpga()
    monkeypatch.setitem(backend_base._cache, "fpga", be)
    return be


@pytest.fixture
def synthetic_manifest(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    cols = [
        "model_string",
        "prec",
        "rf",
        "strategy",
        "BestLatency_hls",
        "WorstLatency_hls",
        "IntervalMin_hls",
        "IntervalMax_hls",
        "BRAM_18K_hls",
        "DSP_hls",
        "FF_hls",
        "LUT_hls",
        "URAM_hls",
    ]
    rows = []
    for a in (16, 32, 64, 96):
        for h in (8, 24, 48):
            for o in (10, 40):
                for prec in (4, 8, 12):
                    for rf in (4, 16):
                        t = _truth(f"{a}-{h}-{o}", prec, rf, rng)
                        rows.append(
                            [
                                f"{a}-{h}-{o}",
                                prec,
                                rf,
                                "resource",
                                t["lat"],
                                t["lat"] + 2,
                                t["lat"],
                                t["lat"] + 2,
                                0,
                                t["dsp"],
                                t["ff"],
                                t["lut"],
                                0,
                            ]
                        )
    with open(tmp_path / "designs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerows(rows)
    m = tmp_path / "synthetic.yml"
    m.write_text(
        """schema: hwsim-manifest/1
backend: fpga
source: synthetic
defaults: {part: xcu250-figd2104-2L-e, tool: Vitis HLS, tool_version: "2023.2"}
tables:
  - file: designs.csv
    group: "{model_string}"
    model: {arch: "{model_string}", precision: {weight: "ap_fixed<{prec},1>"}}
    hls4ml: {Model: {ReuseFactor: "{rf}", Strategy: Resource}, IOType: io_parallel}
"""
    )
    return m


def test_calibrate_recovers_constants_and_writes_profile(standin: StandInFpga, synthetic_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "prof" / "p.json"
    rc = main(["calibrate", str(synthetic_manifest), "--backend", "fpga", "--out", str(out), "--holdout", "0.3", "--seed", "0"])
    assert rc == 0 and out.is_file()
    prof = json.loads(out.read_text())
    for k, v in TRUTH.items():
        assert prof["constants"][k]["value"] == pytest.approx(v, rel=0.03), k
        assert "fit: robust least squares" in prof["constants"][k]["source"]
    assert set(prof["split"]["fit"]).isdisjoint(prof["split"]["held_out"]) and prof["split"]["held_out"]
    assert prof["applies_to"]["part"] == "xcu250-figd2104-2L-e" and prof["evaluated_on"] == "held_out"
    assert prof["error_after"]["LUT"]["median_ape"] < 2.0 < prof["error_before"]["LUT"]["median_ape"]
    assert prof["error_after"]["latency_cycles"]["exact_pct"] == 100.0  # rules, untouched by the fit
    # held-out architectures never appear in the fit split
    arch = lambda rid: rid  # noqa: E731
    assert len(set(map(arch, prof["split"]["held_out"]))) == len(prof["split"]["held_out"])
    # the profile loads back into the backend and changes its prediction
    from hwsim.calibration.profile import load_profile

    p = standin.resolve_params({"Model": {"ReuseFactor": 4}}, {}, load_profile(out))
    assert p.value("lut_per_mult_bit") == pytest.approx(TRUTH["lut_per_mult_bit"], rel=0.03)


def test_calibrate_refuses_corrupt_or_unpaired_report(
    standin: StandInFpga, synthetic_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "designs.csv"
    text = bad.read_text().splitlines()
    bad.write_text("\n".join(text[:10] + [text[10][:12]]) + "\n")
    out = tmp_path / "p.json"
    rc = main(["calibrate", str(synthetic_manifest), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and "designs.csv" in err[0]
    assert not out.exists() and not list(tmp_path.glob(".p.json*"))
    rc = main(["calibrate", str(REPO / "calibration/reports/hls4ml-report-fixture/myproject_csynth.xml"), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "myproject_csynth.xml" in err and "not paired" in err and not out.exists()


def test_validate_kfold_and_outputs(standin: StandInFpga, synthetic_manifest: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "val"
    rc = main(
        [
            "validate",
            "--reports",
            str(synthetic_manifest),
            "--folds",
            "3",
            "--out-dir",
            str(out_dir),
            "--name",
            "v",
            "--format",
            "json",
        ]
    )
    assert rc == 0
    data = json.loads((out_dir / "v.json").read_text())
    s = data["stats"]["synthetic [hls_estimate]"]
    assert s["LUT"]["median_ape"] < 2.0 and s["FF"]["median_ape"] < 2.0  # out-of-fold
    assert s["latency_cycles"]["exact_pct"] == 100.0 and s["DSP"]["exact_pct"] == 100.0
    assert len(data["folds"]) == 3 and sum(f["n_held"] for f in data["folds"]) == 144
    for m in ("latency_cycles", "LUT", "FF", "DSP"):
        png = out_dir / f"v_{m}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| synthetic | hls_estimate | LUT |" in (out_dir / "v.md").read_text()
    # uncalibrated (stand-in defaults of 1.0) is far off: the comparison is real
    rc = main(
        [
            "validate",
            "--reports",
            str(synthetic_manifest),
            "--profile",
            "none",
            "--out-dir",
            str(out_dir),
            "--name",
            "raw",
            "--no-plots",
        ]
    )
    raw = json.loads((out_dir / "raw.json").read_text())["stats"]["synthetic [hls_estimate]"]
    assert raw["LUT"]["median_ape"] > 20.0


def test_validate_flags_in_sample_reports(standin: StandInFpga, synthetic_manifest: Path, tmp_path: Path) -> None:
    prof = tmp_path / "p.json"
    assert main(["calibrate", str(synthetic_manifest), "--out", str(prof), "--format", "json"]) == 0
    held = json.loads(prof.read_text())["split"]["held_out"]
    out_dir = tmp_path / "v"
    assert (
        main(
            [
                "validate",
                "--reports",
                str(synthetic_manifest),
                "--profile",
                str(prof),
                "--out-dir",
                str(out_dir),
                "--name",
                "a",
                "--no-plots",
            ]
        )
        == 0
    )
    assert "used to fit the applied profile" in (out_dir / "a.md").read_text()
    args = [
        "validate",
        "--reports",
        str(synthetic_manifest),
        "--profile",
        str(prof),
        "--exclude-fitted",
        "--out-dir",
        str(out_dir),
        "--name",
        "b",
        "--no-plots",
    ]
    assert main(args) == 0
    data = json.loads((out_dir / "b.json").read_text())
    assert sorted(p["id"] for p in data["predictions"]) == sorted(held)


def test_validate_leave_one_source_out(standin: StandInFpga, synthetic_manifest: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yml"
    other.write_text(
        synthetic_manifest.read_text()
        .replace("source: synthetic", "source: synthetic-b")
        .replace("rows: all", "")
        .replace("    group:", "    id_prefix: b\n    group:")
    )
    out_dir = tmp_path / "lso"
    rc = main(
        [
            "validate",
            "--reports",
            str(synthetic_manifest),
            "--reports",
            str(other),
            "--by-source",
            "--out-dir",
            str(out_dir),
            "--name",
            "l",
            "--no-plots",
        ]
    )
    assert rc == 0
    data = json.loads((out_dir / "l.json").read_text())
    assert [f["fold"] for f in data["folds"]] == ["synthetic", "synthetic-b"]
    assert all(f["n_fit"] == 144 and f["n_held"] == 144 for f in data["folds"])
    assert data["stats"]["synthetic-b [hls_estimate]"]["LUT"]["median_ape"] < 2.0


def test_validate_rejects_bad_options(standin: StandInFpga, synthetic_manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--reports", str(synthetic_manifest), "--folds", "1"]) == 2
    assert main(["validate", "--reports", str(synthetic_manifest), "--folds", "3", "--by-source"]) == 2
    assert main(["validate", "--reports", str(synthetic_manifest), "--by-source"]) == 2  # one source only
    err = capsys.readouterr().err
    assert err.count("error:") == 3


def test_unknown_backend_is_a_clean_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc = main(["calibrate", str(MANIFESTS / "hls4ml-fixture.yml"), "--backend", "nosuch", "--out", str(tmp_path / "x.json")])
    assert rc == 2 and "no calibration adapter for backend 'nosuch'" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_cpu_hook_points_at_the_cpu_backend() -> None:
    from hwsim.calibration import engine

    assert engine.ADAPTERS["cpu"].startswith("hwsim.backends.cpugpu")
    try:
        a = engine.get_adapter("cpu")
    except Exception as exc:  # not plugged in yet: a clean BackendError, never an ImportError
        assert type(exc).__name__ == "BackendError"
    else:
        assert a.backend == "cpu" and callable(a.load) and callable(a.evaluate)


def test_register_adapter_plugs_a_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from hwsim.calibration import engine

    monkeypatch.setitem(engine.ADAPTERS, "toy", f"{__name__}:ToyAdapter")
    a = engine.get_adapter("toy")
    samples = a.load([])
    prof = engine.calibrate(a, samples, holdout=0.25, seed=0, kind="measurement")
    assert prof["constants"]["t_per_flop"]["value"] == pytest.approx(2e-9, rel=1e-3)
    assert prof["error_after"]["latency_s"]["median_ape"] < 0.1


class ToyAdapter:
    """A cpu-like adapter: latency = t_per_flop * flops + overhead (what helper code plugs in)."""

    backend = "toy"
    metrics = ("latency_s",)

    def load(self, paths: Any) -> list[Any]:
        from hwsim.calibration.engine import Sample

        return [
            Sample(f"m{i}", "bench", f"g{i}", "measurement", {"latency_s": 2e-9 * f + 1e-6}, payload=f)
            for i, f in enumerate(np.linspace(1e5, 1e8, 40))
        ]

    def fittable(self) -> dict[str, list[str]]:
        return {"latency_s": ["t_per_flop", "overhead_s"]}

    def constants(self, profile: Any) -> dict[str, float]:
        c = {"t_per_flop": 1e-9, "overhead_s": 5e-6}
        if isinstance(profile, Mapping):
            c.update({k: v["value"] for k, v in profile.get("constants", {}).items()})
        return c

    def evaluate(self, sample: Any, profile: Any) -> Any:
        from hwsim.calibration.engine import Evaluation

        c = self.constants(profile)
        f = float(sample.payload)
        return Evaluation(
            {"latency_s": c["t_per_flop"] * f + c["overhead_s"]}, {"latency_s": {"t_per_flop": f, "overhead_s": 1.0}}
        )


def test_math_sanity_of_toy() -> None:
    assert math.isclose(2e-9 * 1e8, 0.2)


def test_hls4ml_project_folder_pairs_itself(tmp_path: Path) -> None:
    """An hls4ml output folder whose hls4ml_config.yml names an existing OnnxModel needs no
    manifest: its reports are paired with that model and the folder's configuration."""
    import shutil

    prj = tmp_path / "prj"
    shutil.copytree(REPO / "calibration/reports/hls4ml-report-fixture", prj)
    onnx = REPO / "models" / "onnx" / "jet-mlp.onnx"
    (prj / "hls4ml_config.yml").write_text(
        f"OnnxModel: {onnx}\nPart: xc7z020-clg400-1\nClockPeriod: 5\nIOType: io_stream\nHLSConfig:\n  Model: {{Precision: 'ap_fixed<16,6>', ReuseFactor: 1, Strategy: Latency}}\n"
    )
    pairs = load_inputs([prj])
    assert sorted(p.record.kind for p in pairs) == ["hls_estimate", "post_synthesis"]
    assert all(p.hls4ml["IOType"] == "io_stream" and p.hls4ml["Model"]["ReuseFactor"] == 1 for p in pairs)
    assert pairs[0].model_spec == str(onnx)
    (prj / "hls4ml_config.yml").write_text("OnnxModel: /nonexistent.onnx\n")
    with pytest.raises(ReportError, match="OnnxModel"):
        load_inputs([prj])
