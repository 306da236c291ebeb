"""Tests of the cpu and gpu backends, `hwsim measure` and the cpu calibration."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

import hwsim
from hwsim.api import cost_graph, resolve
from hwsim.backends.cpugpu import devices as dev
from hwsim.errors import ConfigError, ReportError
from hwsim.ir import Op, OpGraph, TensorSpec

ZOO = Path(__file__).resolve().parent.parent / "models" / "onnx"


def mlp(sizes: list[int], act: str = "relu", name: str = "mlp") -> OpGraph:
    ops = []
    prev = TensorSpec("x", (sizes[0],))
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        out = TensorSpec(f"d{i}", (b,))
        ops.append(Op(f"fc{i}", "dense", (prev,), (out,), {"n_in": a, "n_out": b, "bias": True}))
        prev = out
        if i < len(sizes) - 2:
            o2 = TensorSpec(f"a{i}", (b,))
            ops.append(Op(f"act{i}", "activation", (prev,), (o2,), {"function": act}))
            prev = o2
    return OpGraph(ops, [TensorSpec("x", (sizes[0],))], [prev.name], name)


def rbm(alpha: int = 4) -> OpGraph:
    h = 16 * alpha
    x = TensorSpec("s", (16,))
    t = [TensorSpec(n, (h,)) for n in ("theta", "c", "m", "l")]
    out = TensorSpec("logpsi", (1,))
    ops = [
        Op("gemm", "dense", (x,), (t[0],), {"n_in": 16, "n_out": h, "bias": True}),
        Op("cosh", "activation", (t[0],), (t[1],), {"function": "cosh"}),
        Op("mul", "elementwise", (t[1],), (t[2],), {"function": "mul", "n_const": 1}),
        Op("log", "activation", (t[2],), (t[3],), {"function": "log"}),
        Op("sum", "reduce", (t[3],), (out,), {"function": "sum", "axes": (0,), "keepdims": True}),
    ]
    return OpGraph(ops, [x], ["logpsi"], f"rbm{alpha}")


def unary(function: str, n: int = 256) -> OpGraph:
    """One activation over n features (an element-wise microbenchmark)."""
    x, y = TensorSpec("x", (n,)), TensorSpec("y", (n,))
    return OpGraph([Op("f", "activation", (x,), (y,), {"function": function})], [x], ["y"], f"elem-{function}")


def est(graph: OpGraph, backend: str, **sets: object) -> hwsim.Estimate:  # type: ignore[name-defined]
    return hwsim.estimate(graph, backend, overrides={k: str(v) for k, v in sets.items()})


def zoo_names() -> list[str]:
    from hwsim.frontends import zoo

    return zoo.names()


# ---------------------------------------------------------------------------------------------
# catalog
# ---------------------------------------------------------------------------------------------


def test_catalog_has_every_device_with_sources() -> None:
    for name in ("xeon-gold-6148", "xeon-gold-6148-2s", "xeon-gold-6248", "xeon-gold-6248-2s", "epyc-7763"):
        f = dev.cpu_device(name)
        for key in (
            "cores",
            "clock_hz",
            "l1_bytes",
            "l2_bytes",
            "l3_bytes",
            "bw_dram",
            "tdp_w",
            "static_power_w",
            "precision_ratio",
        ):
            assert key in f and f[key].source, (name, key)
    assert dev.cpu_device("xeon-gold-6148-2s")["cores"].value == 2 * dev.cpu_device("xeon-gold-6148")["cores"].value
    for name in ("v100", "a100", "h100", "h200", "rtx4090"):
        f = dev.gpu_device(name)
        for key in ("peak", "bw_hbm", "l2_bytes", "tdp_w", "static_power_w", "sms"):
            assert key in f and f[key].source, (name, key)
    # datasheet figures quoted in cpu-gpu.md
    assert dev.gpu_device("v100")["peak"].value["fp32"] == pytest.approx(15.7e12)
    assert dev.gpu_device("h200")["bw_hbm"].value == pytest.approx(4.8e12)
    assert dev.gpu_device("h200")["peak"].value["fp16"] == dev.gpu_device("h100")["peak"].value["fp16"]


def test_local_device_is_detected() -> None:
    f = dev.cpu_device("local")
    assert f["cores"].value == len(os.sched_getaffinity(0))
    flags = set(open("/proc/cpuinfo").read().split("flags")[1].split("\n")[0].split())
    if "avx2" in flags:
        assert f["flops_per_cycle_fp32"].value >= 32
    assert f["clock_hz"].value > 1e8


# ---------------------------------------------------------------------------------------------
# estimates
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(not (ZOO / "MANIFEST.json").is_file(), reason="zoo not exported")
@pytest.mark.parametrize(
    "backend,sets", [("cpu", {"device": "xeon-gold-6148", "batch": 1024}), ("gpu", {"device": "v100", "batch": 1024})]
)
def test_every_zoo_model_estimates(backend: str, sets: dict[str, object]) -> None:
    for name in zoo_names():
        e = hwsim.estimate(name, backend, overrides={k: str(v) for k, v in sets.items()})
        t = e.totals
        assert not e.unsupported, (name, e.unsupported)
        for key in ("latency_s", "throughput_per_s", "energy_per_inference_j"):
            assert math.isfinite(t[key]) and t[key] > 0, (name, key)
        assert t["throughput_per_s"] == pytest.approx(1024 / t["latency_s"])
        assert all("bound" in row for row in e.layers)
        # every parameter carries a source
        assert all(p.source for p in e.params.values())


def test_cli_estimate_and_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    from hwsim.cli import main

    if not (ZOO / "MANIFEST.json").is_file():
        pytest.skip("zoo not exported")
    assert (
        main(
            [
                "estimate",
                "jet-mlp",
                "--backend",
                "cpu",
                "--set",
                "device=xeon-gold-6148",
                "--set",
                "batch=1024",
                "--format",
                "json",
            ]
        )
        == 0
    )
    d = json.loads(capsys.readouterr().out)
    assert d["backend"] == "cpu" and d["params"]["device"]["value"] == "xeon-gold-6148"
    assert d["params"]["peak_fp32_per_core"]["source"]  # provenance in the output
    assert main(["estimate", "rbm-alpha4", "--backend", "gpu", "--batch", "1,64,4096", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    lat = [r["totals"]["latency_s"] for r in d["sweep"]]
    assert lat == sorted(lat)


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
@pytest.mark.parametrize(
    "graph", [mlp([16, 64, 32, 32, 5]), rbm(8), mlp([57, 256, 128, 64, 21], act="elu")], ids=["mlp", "rbm", "svdd"]
)
def test_batch_monotone(backend: str, graph: OpGraph) -> None:
    batches = [2**i for i in range(0, 15)]
    res = [est(graph, backend, batch=b, runtime="torch").totals for b in batches]
    lat = [r["latency_s"] for r in res]
    thr = [r["throughput_per_s"] for r in res]
    assert all(b >= a for a, b in zip(lat, lat[1:])), lat
    # throughput grows with batch until saturation; on a GPU, wave quantisation of the GEMM
    # tiles may cost a few percent between two sizes
    tol = 1e-9 if backend == "cpu" else 0.05
    assert all(b >= a * (1 - tol) for a, b in zip(thr, thr[1:])), thr
    assert thr[-1] > 20 * thr[0]  # small batches are overhead-bound


def test_gpu_fp16_faster_on_compute_bound_gemm() -> None:
    g = mlp([4096, 4096, 4096])
    t32 = est(g, "gpu", device="a100", batch=8192, precision="fp32", runtime="torch")
    t16 = est(g, "gpu", device="a100", batch=8192, precision="fp16", runtime="torch")
    gemm32 = next(r for r in t32.layers if r["name"] == "fc0")
    gemm16 = next(r for r in t16.layers if r["name"] == "fc0")
    assert gemm32["bound"] == "compute"
    # torch keeps fp32 GEMMs off the tensor cores (allow_tf32 False): 19.5 vs 312 TFLOP/s
    assert gemm16["latency_s"] < gemm32["latency_s"] / 4
    assert t16.totals["latency_s"] < t32.totals["latency_s"]
    # onnxruntime uses TF32 for fp32 (156 TFLOP/s): fp16 still faster, by about 2x
    o32 = est(g, "gpu", device="a100", batch=8192, precision="fp32", runtime="onnxruntime").layers
    o16 = est(g, "gpu", device="a100", batch=8192, precision="fp16", runtime="onnxruntime").layers
    r32 = next(r for r in o32 if r["name"] == "fc0")["latency_s"]
    r16 = next(r for r in o16 if r["name"] == "fc0")["latency_s"]
    assert 1.5 < r32 / r16 < 2.5
    # fp64 on a CPU: half the lanes
    c32 = est(g, "cpu", batch=4096, precision="fp32")
    c64 = est(g, "cpu", batch=4096, precision="fp64")
    assert c64.totals["latency_s"] > 1.8 * c32.totals["latency_s"]


def test_bound_labels() -> None:
    small = est(mlp([16, 64, 32, 32, 5]), "cpu", batch=1, runtime="torch")
    assert {r["bound"] for r in small.layers} == {"overhead"}
    assert small.totals["bound"] == "overhead"
    big = est(rbm(16), "cpu", batch=12870, runtime="onnxruntime", threads=1, device="local")
    bounds = {r["name"]: r["bound"] for r in big.layers}
    assert bounds["cosh"] == "element:cosh"  # onnxruntime's Cosh is not vectorised (7.2 ns/element)
    assert big.totals["bound"] == "element:cosh"
    gemm = est(mlp([1024, 1024]), "cpu", batch=4096)
    assert gemm.layers[0]["bound"] == "compute"
    g = est(mlp([16, 64, 5]), "gpu", batch=1)
    assert all(r["bound"] in ("launch", "copy") for r in g.layers)


def test_runtime_overheads_differ() -> None:
    g = mlp([16, 64, 32, 32, 5])
    ort = est(g, "cpu", batch=1, runtime="onnxruntime").totals["latency_s"]
    pt = est(g, "cpu", batch=1, runtime="torch").totals["latency_s"]
    assert pt > 2 * ort  # cpu-gpu.md: 22 us (torch) vs 4.4 us (onnxruntime) at batch 1


def test_energy_terms() -> None:
    g = mlp([57, 256, 128, 64, 21], act="elu")
    d = est(g, "cpu", batch=4096, device="xeon-gold-6148-2s")
    n = est(g, "cpu", batch=4096, device="xeon-gold-6148-2s", energy_scope="node")
    t = d.totals
    p = d.params
    static_part = p["static_power_w"].value * t["latency_s"] / 4096
    assert t["energy_per_inference_j"] > static_part  # dynamic energy on top of static
    extra = p["node_base_power_w"].value * t["latency_s"] / 4096
    assert n.totals["energy_per_inference_j"] == pytest.approx(t["energy_per_inference_j"] + extra)
    assert t["power_w"] <= p["tdp_w"].value + p["node_base_power_w"].value  # cannot exceed TDP
    gd = est(g, "gpu", batch=4096)
    gn = est(g, "gpu", batch=4096, energy_scope="node")
    assert gn.totals["energy_per_inference_j"] > gd.totals["energy_per_inference_j"]


def test_host_tail_runs_distance_on_host() -> None:
    g = mlp([57, 256, 128, 64, 233], act="elu")
    x = TensorSpec(g.outputs[0], (233,))
    ops = list(g.ops()) + [
        Op("sub", "elementwise", (x,), (TensorSpec("d", (233,)),), {"function": "sub", "n_const": 1}),
        Op(
            "sq",
            "elementwise",
            (TensorSpec("d", (233,)), TensorSpec("d", (233,))),
            (TensorSpec("q", (233,)),),
            {"function": "mul", "n_const": 0},
        ),
        Op(
            "sum",
            "reduce",
            (TensorSpec("q", (233,)),),
            (TensorSpec("score", (1,)),),
            {"function": "sum", "axes": (0,), "keepdims": True},
        ),
    ]
    svdd = OpGraph(ops, g.inputs, ["score"], "svdd")
    dev_only = est(svdd, "gpu", batch=10**6)
    host = est(svdd, "gpu", batch=10**6, host_tail="true")
    assert host.totals["host_ops_s"] > 0 and dev_only.totals["host_ops_s"] == 0
    placements = {r["name"]: r.get("placement") for r in host.layers}
    assert placements["sum"].startswith("host") and placements["fc0"] == "device"
    # the copy back carries the 233-wide output instead of the score
    d2h = {r["name"]: r for r in host.layers}["d2h"]["bytes"]
    assert d2h == 10**6 * 233 * 4
    assert host.totals["latency_s"] > dev_only.totals["latency_s"]


def test_bad_options_raise_config_error() -> None:
    g = mlp([4, 4])
    for backend, sets in [
        ("cpu", {"device": "pentium"}),
        ("gpu", {"device": "xeon-gold-6148"}),
        ("cpu", {"precision": "fp8"}),
        ("cpu", {"runtime": "tensorflow"}),
        ("cpu", {"batch": 0}),
        ("cpu", {"batch": "many"}),
        ("cpu", {"threads": -1}),
        ("gpu", {"device": "v100", "precision": "bf16"}),
        ("cpu", {"energy_scope": "rack"}),
        ("cpu", {"no_such_option": 1}),
        ("gpu", {"host": "pentium"}),
        ("cpu", {"eff_dense": -0.5}),
    ]:
        with pytest.raises(ConfigError):
            est(g, backend, **sets)


def test_cli_bad_option_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    from hwsim.cli import main

    if not (ZOO / "MANIFEST.json").is_file():
        pytest.skip("zoo not exported")
    assert main(["estimate", "jet-mlp", "--backend", "cpu", "--set", "device=nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "device" in err[0]
    assert main(["measure", "jet-mlp", "--batch", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


# ---------------------------------------------------------------------------------------------
# measurement
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(not (ZOO / "MANIFEST.json").is_file(), reason="zoo not exported")
@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_measure_tiny_model(runtime: str, tmp_path: Path) -> None:
    from hwsim.backends.cpugpu.measure import energy_support, load_measurement, measure, save_json_atomic

    data = measure("jet-mlp", runtime, [1, 32], threads=1, samples=5, max_time_s=0.05)
    assert data["runtime"] == runtime and data["threads"] == 1
    assert [r["batch"] for r in data["results"]] == [1, 32]
    for r in data["results"]:
        assert 0 < r["min_s"] <= r["median_s"] <= r["p90_s"] * (1 + 1e-12)
        assert r["throughput_per_s"] == pytest.approx(r["batch"] / r["min_s"])
        assert r["n_samples"] >= 5
    ok, why = energy_support("cpu")
    assert data["energy"]["available"] == ok
    if not ok:
        assert all(r["energy_per_inference_j"] is None for r in data["results"]) and "cannot" in why
    p = save_json_atomic(tmp_path / "m.json", data)
    back = load_measurement(p)
    assert OpGraph.from_json(back["graph"]).fingerprint() == data["fingerprint"]


def test_measure_rejects_bad_input(tmp_path: Path) -> None:
    from hwsim.backends.cpugpu.measure import load_measurement

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ReportError):
        load_measurement(bad)
    bad.write_text(json.dumps({"schema": "hwsim-measurement/1", "model": "x"}))
    with pytest.raises(ReportError):
        load_measurement(bad)


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover
        return False


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="no CUDA device")
def test_measure_on_gpu() -> None:  # pragma: no cover - needs a GPU
    from hwsim.backends.cpugpu.measure import measure

    data = measure("jet-mlp", "torch", [1, 1024], threads=1, device="cuda", samples=5, max_time_s=0.1, energy_s=0.5)
    assert data["device"] == "cuda"
    assert all(r["min_s"] > 0 for r in data["results"])


# ---------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------

TRUTH = {
    "t_call_s": 4e-6,
    "t_op_s": 6e-7,
    "t_op_linear_s": 1e-7,
    "t_elem_cosh_s": 3e-9,
    "t_elem_exp_s": 9e-10,
    "t_elem_simple_s": 2e-10,
    "eff_dense": 0.6,
}


def _synthetic(graphs: list[OpGraph], batches: list[int], rng: np.random.Generator, tag: str) -> list[dict[str, object]]:
    """Measurement dicts whose times come from the backend with TRUTH constants (+2 % noise)."""
    be, params = resolve(
        "cpu",
        None,
        {"device": "local", "runtime": "onnxruntime", "threads": "1"},
        {"id": "truth", "constants": {k: {"value": v} for k, v in TRUTH.items()}},
    )
    out = []
    for g in graphs:
        results = []
        for b in batches:
            p = params.updated({"batch": params["batch"].__class__(b, "test")})
            t = cost_graph(g, be, p).totals["latency_s"] * float(np.exp(rng.normal(0, 0.02)))
            results.append({"batch": b, "min_s": t, "median_s": t})
        out.append(
            {
                "schema": "hwsim-measurement/1",
                "model": g.name,
                "runtime": "onnxruntime",
                "runtime_version": "synthetic",
                "threads": 1,
                "tags": ["synthetic", tag],
                "machine": {"cpu": "synthetic"},
                "results": results,
                "graph": g.to_json(),
            }
        )
    return out


def test_calibrate_round_trip(tmp_path: Path) -> None:
    from hwsim.backends.cpugpu.calibration import fit_profile, predict_points
    from hwsim.calibration.profile import load_profile, save_profile

    rng = np.random.default_rng(0)
    # like benchmarks/cpugpu_microbench.py: single-function graphs separate the per-element
    # constants (in the RBM, cosh, mul and log always touch the same number of elements)
    fit_graphs = [
        unary("cosh"),
        unary("log"),
        unary("exp"),
        unary("relu"),
        mlp([16, 64, 32, 5], name="m1"),
        mlp([64, 64], name="m2"),
        rbm(2),
        mlp([32, 128, 8], act="elu", name="m3"),
        rbm(8),
    ]
    held_graphs = [mlp([16, 32, 32, 32, 5], act="elu", name="h1"), rbm(4)]
    fit = _synthetic(fit_graphs, [1, 8, 64, 512, 4096], rng, "fit")
    held = _synthetic(held_graphs, [1, 16, 256, 2048], rng, "held")
    prof = fit_profile(fit, device="local", held_out=held)
    # the cosh, exp and overhead constants are recovered (they do not depend on the peak)
    c = {k: v["value"] for k, v in prof["constants"].items()}
    assert c["t_elem_cosh_s"] == pytest.approx(TRUTH["t_elem_cosh_s"], rel=0.1)
    assert c["t_op_s"] == pytest.approx(TRUTH["t_op_s"], rel=0.25)
    assert c["t_call_s"] == pytest.approx(TRUTH["t_call_s"], rel=0.25)
    # held-out error shrinks, and is at the noise level
    assert prof["error_after"]["latency_s"]["median_ape"] < prof["error_before"]["latency_s"]["median_ape"]
    assert prof["error_after"]["latency_s"]["median_ape"] < 6.0
    # a valid profile file that --profile applies
    path = save_profile(tmp_path / "cpu-local.json", prof)
    loaded = load_profile(path)
    rows = predict_points(held, loaded)
    assert max(abs(r["rel_error"]) for r in rows) < 0.15
    e = hwsim.estimate(rbm(4), "cpu", overrides={"batch": "64"}, profile=loaded)
    assert e.params["device"].value == "local" and "profile" in e.params["t_elem_cosh_s"].source


def test_profile_applies_to_is_enforced() -> None:
    prof = {
        "schema": "hwsim-profile/1",
        "id": "p",
        "backend": "cpu",
        "applies_to": {"device": "local", "runtime": "torch"},
        "constants": {"t_op_s": {"value": 1e-6}},
    }
    e = hwsim.estimate(mlp([4, 4]), "cpu", profile=prof)
    assert e.params["runtime"].value == "torch" and e.params["device"].value == "local"
    with pytest.raises(ConfigError):
        hwsim.estimate(mlp([4, 4]), "cpu", overrides={"runtime": "onnxruntime"}, profile=prof)


def test_calibration_adapter_features_are_linear() -> None:
    """The engine adapter's features reproduce the prediction: changing t_op_s by d changes
    the latency by d x (number of ops)."""
    from hwsim.backends.cpugpu.calibration import CpuAdapter

    rng = np.random.default_rng(1)
    m = _synthetic([rbm(2)], [1, 4096], rng, "x")[0]
    from hwsim.calibration.engine import Sample

    ad = CpuAdapter()
    s = Sample("a", "synthetic", "rbm", "measurement", {"latency_s": 1.0}, {}, None, None, (m, 4096))
    base = ad.evaluate(s, None)
    prof = {"id": "d", "constants": {"t_op_s": {"value": ad.constants(None)["t_op_s"] + 1e-6}}}
    moved = ad.evaluate(s, prof)
    n_ops = base.features["latency_s"]["t_op_s"]
    assert moved.predicted["latency_s"] - base.predicted["latency_s"] == pytest.approx(1e-6 * n_ops, rel=1e-6)


def test_hwsim_calibrate_cli_writes_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`hwsim calibrate --backend cpu FILES --out P` (the calibration CLI calls CpuAdapter.fit_profile)."""
    from hwsim.backends.cpugpu.measure import save_json_atomic
    from hwsim.calibration.profile import load_profile
    from hwsim.cli import main

    rng = np.random.default_rng(2)
    files = []
    for m in _synthetic([unary("cosh"), unary("relu"), mlp([16, 64, 5], name="m1"), rbm(2), rbm(4)], [1, 64, 4096], rng, "cli"):
        files.append(str(save_json_atomic(tmp_path / f"{m['model']}.json", m)))
    out = tmp_path / "prof.json"
    assert main(["calibrate", "--backend", "cpu", *files, "--out", str(out), "--holdout", "0"]) == 0
    prof = load_profile(out)
    assert prof["backend"] == "cpu" and prof["applies_to"]["device"] == "local"
    assert prof["constants"]["t_elem_cosh_s"]["value"] == pytest.approx(TRUTH["t_elem_cosh_s"], rel=0.1)
    capsys.readouterr()
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["calibrate", "--backend", "cpu", str(bad), "--out", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()


def test_op_work_counts() -> None:
    """Analytic counts: 2 FLOPs per MAC + bias; per-row costs only for contiguous rows;
    runtime-specific extra kernels."""
    from hwsim.backends.cpugpu.work import op_work

    x = TensorSpec("x", (8, 3))
    h = TensorSpec("h", (8, 32))
    dense = Op("phi", "dense", (x,), (h,), {"n_in": 3, "n_out": 32, "bias": True})
    w = op_work(dense, 10, 4)
    assert w.flops == 10 * (2 * 8 * 3 * 32 + 8 * 32)
    assert w.gemm == (80, 32, 3)
    assert op_work(dense, 10, 4, "onnxruntime").extra_ops == 1  # MatMul on a rank-3 input + separate Add
    assert op_work(dense, 10, 4, "torch").extra_ops == 0
    mean_particles = Op("agg", "reduce", (h,), (TensorSpec("m", (32,)),), {"function": "mean", "axes": (0,), "keepdims": False})
    assert "row" not in op_work(mean_particles, 10, 4, "torch").elem
    assert op_work(mean_particles, 10, 4, "onnxruntime").elem["row"] == 10 * 32
    assert op_work(mean_particles, 10, 4).elem["simple"] == 10 * 8 * 32
    sum_last = Op("s", "reduce", (h,), (TensorSpec("r", (8,)),), {"function": "sum", "axes": (1,), "keepdims": False})
    assert op_work(sum_last, 10, 4).elem["row"] == 10 * 8
    bn = Op("bn", "batchnorm", (h,), (TensorSpec("b", (8, 32)),), {"channels": 32, "axis": 1, "epsilon": 1e-5})
    assert op_work(bn, 10, 4, "torch").extra_ops == 2  # BatchNorm normalises axis 1: two transposes
    assert op_work(bn, 10, 4, "onnxruntime").extra_ops == 2
    assert op_work(bn, 10, 4, "torch").elem == {"norm_t": 10 * 256}
    bn_c = Op("bnc", "batchnorm", (h,), (TensorSpec("b2", (8, 32)),), {"channels": 8, "axis": 0, "epsilon": 1e-5})
    assert op_work(bn_c, 10, 4, "torch").extra_ops == 0
    cosh = Op("c", "activation", (h,), (TensorSpec("c", (8, 32)),), {"function": "cosh"})
    assert op_work(cosh, 10, 4).elem == {"cosh": 10 * 256}
    assert op_work(cosh, 10, 2).bytes == 2 * 10 * 256 * 2


# ---------------------------------------------------------------------------------------------
# small-channel convolutions: im2col and the library call (H7b)
# ---------------------------------------------------------------------------------------------


def conv(cin: int, cout: int, hw: int, k: int = 3, name: str = "") -> OpGraph:
    """One 2-D convolution, no padding, stride 1."""
    x = TensorSpec("x", (cin, hw, hw))
    y = TensorSpec("y", (cout, hw - k + 1, hw - k + 1))
    attrs = {
        "dims": 2,
        "in_channels": cin,
        "out_channels": cout,
        "kernel": (k, k),
        "stride": (1, 1),
        "pads": (0, 0, 0, 0),
        "dilation": (1, 1),
        "groups": 1,
        "bias": True,
    }
    return OpGraph([Op("c", "conv", (x,), (y,), attrs)], [x], ["y"], name or f"conv-{cin}to{cout}")


def test_conv_paths_follow_the_libraries() -> None:
    """MLAS unfolds every non-pointwise conv; PyTorch uses THNN (unfold) at batch 1 on a
    small input, oneDNN above, whose direct kernels need channel blocks of 8."""
    from hwsim.backends.cpugpu.work import conv_path, op_work

    c2 = conv(8, 2, 9).ops()[0]
    c16 = conv(16, 16, 9).ops()[0]
    pw = conv(16, 16, 9, k=1).ops()[0]
    assert conv_path(c2, 1, "onnxruntime") == (True, True)
    assert conv_path(pw, 64, "onnxruntime") == (False, True)
    assert conv_path(c16, 1, "torch") == (True, False)  # slow_conv2d
    assert conv_path(c16, 16, "torch") == (False, True)  # oneDNN direct
    assert conv_path(c2, 16, "torch") == (True, True)  # oneDNN gemm (im2col) fallback
    w = op_work(c2, 10, 4, "torch")
    assert w.im2col == 10 * 7 * 7 * 8 * 9 and w.conv_calls == 1  # M x K of the unfolded input
    assert op_work(c2, 10, 4, "numpy").im2col == 0


@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_skinny_conv_costs_more_per_mac(runtime: str) -> None:
    """A conv with 2 output channels (im2col buffer re-read by a GEMM with N = 2) takes more
    time per MAC than the same conv with 64 output channels (cpu-gpu.md: skinny GEMMs with
    N = 1..8 are slow), at large batch where the overheads do not matter; and the difference
    is the im2col term: without it (t_im2col_s = 0) the ratio shrinks."""

    def per_mac(cout: int, **sets: object) -> float:
        g = conv(8, cout, 16)
        e = est(g, "cpu", device="local", runtime=runtime, threads=1, batch=1024, **sets)
        return float(e.totals["latency_s"]) / (g.ops()[0].macs * 1024)

    ratio = per_mac(2) / per_mac(64)
    assert ratio > 2.0
    assert per_mac(2, t_im2col_s=0.0) / per_mac(64, t_im2col_s=0.0) < ratio


def test_torch_onednn_conv_call_cost_from_batch_2() -> None:
    """PyTorch's per-conv oneDNN cost (t_op_conv_s) applies from batch 2 (ATen use_mkldnn),
    not to the batch-1 THNN path."""
    g = conv(2, 4, 9)
    e1 = est(g, "cpu", device="local", runtime="torch", threads=1, batch=1, t_op_conv_s=1e-3)
    e2 = est(g, "cpu", device="local", runtime="torch", threads=1, batch=2, t_op_conv_s=1e-3)
    assert float(e1.totals["latency_s"]) < 1e-3 < float(e2.totals["latency_s"])


# ---------------------------------------------------------------------------------------------
# gpu calibration (synthetic GPU measurement files: no GPU here)
# ---------------------------------------------------------------------------------------------

GPU_TRUTH = {"t_call_s": 2.5e-5, "t_launch_s": 1.6e-5, "t_min_kernel_s": 4e-6, "eff_dense": 0.45}


def _gpu_synthetic(graphs: list[OpGraph], batches: list[int], rng: np.random.Generator) -> list[dict[str, object]]:
    be, params = resolve(
        "gpu",
        None,
        {"device": "h100", "runtime": "torch"},
        {"id": "truth", "constants": {k: {"value": v} for k, v in GPU_TRUTH.items()}},
    )
    out = []
    for g in graphs:
        results = []
        for b in batches:
            p = params.updated({"batch": params["batch"].__class__(b, "test")})
            t = cost_graph(g, be, p).totals["latency_s"] * float(np.exp(rng.normal(0, 0.02)))
            results.append({"batch": b, "min_s": t, "median_s": t})
        out.append(
            {
                "schema": "hwsim-measurement/1",
                "model": g.name,
                "runtime": "torch",
                "runtime_version": "synthetic",
                "device": "cuda",
                "threads": 1,
                "machine": {"cpu": "synthetic", "gpu": "NVIDIA H100 80GB HBM3"},
                "results": results,
                "graph": g.to_json(),
            }
        )
    return out


def test_gpu_calibration_recovers_planted_constants(tmp_path: Path) -> None:
    """`hwsim calibrate --backend gpu` on GPU measurement files: the device is read from the
    CUDA name, the launch cost and the dense efficiency planted in the synthetic files are
    recovered, and held-out files are predicted at the noise level."""
    from hwsim.backends.cpugpu.calibration import fit_gpu_profile
    from hwsim.backends.cpugpu.measure import save_json_atomic
    from hwsim.calibration.profile import load_profile
    from hwsim.cli import main

    rng = np.random.default_rng(3)
    fit = _gpu_synthetic(
        [mlp([16, 64, 32, 5], name="a"), mlp([64] * 8, name="deep"), mlp([1024, 4096, 1024], name="wide"), rbm(4)],
        [1, 64, 4096, 65536],
        rng,
    )
    held = _gpu_synthetic([mlp([32, 256, 256, 8], name="h"), rbm(16)], [1, 256, 16384], rng)
    prof = fit_gpu_profile(fit, held_out=held)
    c = {k: v["value"] for k, v in prof["constants"].items()}
    assert prof["applies_to"]["device"] == "h100" and prof["backend"] == "gpu"
    assert c["t_launch_s"] == pytest.approx(GPU_TRUTH["t_launch_s"], rel=0.15)  # catalog start: 8e-6
    assert c["eff_dense"] == pytest.approx(GPU_TRUTH["eff_dense"], rel=0.15)
    assert "eff_conv" not in c  # no convolution in the data: not fitted
    assert prof["error_after"]["latency_s"]["median_ape"] < 5.0
    assert prof["error_after"]["latency_s"]["median_ape"] < prof["error_before"]["latency_s"]["median_ape"]
    files = [str(save_json_atomic(tmp_path / f"{m['model']}.json", m)) for m in fit]
    out = tmp_path / "gpu.json"
    assert main(["calibrate", "--backend", "gpu", *files, "--out", str(out), "--holdout", "0"]) == 0
    assert load_profile(out)["constants"]["t_launch_s"]["value"] == pytest.approx(GPU_TRUTH["t_launch_s"], rel=0.15)


def test_gpu_calibration_rejects_cpu_measurements(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hwsim.backends.cpugpu.measure import save_json_atomic
    from hwsim.cli import main

    m = _synthetic([mlp([8, 8], name="c")], [1, 64], np.random.default_rng(4), "cpu")[0]
    m["device"] = "cpu"
    f = save_json_atomic(tmp_path / "cpu.json", m)
    capsys.readouterr()
    assert main(["calibrate", "--backend", "gpu", str(f), "--out", str(tmp_path / "g.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "hwsim measure --device cuda" in err[0]
    assert not (tmp_path / "g.json").exists()
