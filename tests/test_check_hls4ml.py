"""``hwsim check-hls4ml``: hls4ml 1.3.0 conversion vs the fpga backend's plan.

Expected values come from hls4ml's documented rules (reference/fpga-hls4ml.md and the
hls4ml sources named in hwsim/backends/fpga/check_hls4ml.py), never from this code's output:
valid reuse factors = {divisors of n_in} ∪ {n_in*k : k | n_out}, snapping to the closest
(ties to the smaller) under Resource only; multiplier_limit = ceil(n_in*n_out/RF) - n_zeros//RF.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

pytest.importorskip("hls4ml")
torch = pytest.importorskip("torch")

from hwsim.backends.fpga import check_hls4ml as C  # noqa: E402
from hwsim.cli import main  # noqa: E402


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check-hls4ml", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _small_mlp() -> tuple[torch.nn.Module, torch.Tensor]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        m = torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    return m, torch.zeros(1, 10)


# ---------------------------------------------------------------------------------------------
# pure helpers (no hls4ml conversion)
# ---------------------------------------------------------------------------------------------


def test_precision_spellings_compare_as_hls4ml_means_them() -> None:
    # hls4ml's internal spelling and the C++ spelling of the same type
    assert C.compare_precision("fixed<16,6,TRN,WRAP,0>", "ap_fixed<16,6>")[0]
    assert C.compare_precision("fixed<18,8,RND,SAT,0>", "ap_fixed<18,8,AP_RND,AP_SAT>")[0]
    # modes not stated by hwsim: W/I agree, the note says what hwsim left out
    ok, note = C.compare_precision("fixed<18,8,RND,SAT,0>", "ap_fixed<18,8>")
    assert ok and "RND" in note
    assert not C.compare_precision("fixed<18,8,RND,SAT,0>", "ap_fixed<18,8,AP_TRN,AP_WRAP>")[0]
    assert not C.compare_precision("fixed<37,17,TRN,WRAP,0>", "ap_fixed<16,6>")[0]
    assert not C.compare_precision("ufixed<8,0,TRN,WRAP,0>", "ap_fixed<8,0>")[0]
    assert C.compare_precision("uint<1>", "ap_uint<1>")[0]
    assert C.parse_precision("ap_int<8>").integer == 8


def test_multiplier_limit_is_evaluated_from_the_generated_struct() -> None:
    text = """struct config2_mult : nnet::dense_config {
    static const unsigned n_in = 27;
    static const unsigned n_out = 16;
    static const unsigned reuse_factor = 3;
    static const unsigned n_zeros = 216;
    static const unsigned multiplier_limit = DIV_ROUNDUP(n_in * n_out, reuse_factor) - n_zeros / reuse_factor;
    typedef c1_accum_t accum_t;
};

struct config2 : nnet::conv2d_config {
    static const unsigned filt_height = 3;
    static const unsigned filt_width = 3;
    static const unsigned kernel_size = filt_height * filt_width;
    static const unsigned n_chan = 3;
    static const unsigned n_filt = 16;
    static const unsigned reuse_factor = 5;
    static const unsigned n_zeros = 7;
    static const unsigned multiplier_limit =
        DIV_ROUNDUP(kernel_size * n_chan * n_filt, reuse_factor) - n_zeros / reuse_factor;
};
"""
    # config2: ceil(432/5) - 7//5 = 87 - 1 = 86 (C++ integer division)
    assert C.multiplier_limit_from_config(text, 2) == (86, 7)
    # the _mult struct when asked for an index that has no plain struct: 432/3 - 216/3 = 72
    assert C.multiplier_limit_from_config(text.split("struct config2 :")[0], 2) == (72, 216)


def test_alignment_reports_inserted_and_missing_layers() -> None:
    hls = [("fc1", "Dense"), ("relu1", "Activation"), ("fc2", "Dense"), ("sm", "Softmax")]
    # hwsim fused the ReLU into fc1 and planned an extra BatchNormalization
    plan = [
        ("fc1", "Dense", ("fc1",)),
        ("fc2", "Dense", ("fc2",)),
        ("bn", "BatchNormalization", ("bn",)),
        ("sm", "Softmax", ("sm",)),
    ]
    pairs = C.align(hls, plan)
    assert (0, 0) in pairs and (2, 1) in pairs and (3, 3) in pairs
    assert (1, None) in pairs and (None, 2) in pairs
    # a Dense never pairs with an activation, a Conv1D may pair with a Dense (same family)
    assert C.align([("a", "Dense")], [("a", "Activation", ())]) == [(0, None), (None, 0)]
    assert C.align([("a", "Conv1D")], [("a", "Dense", ())]) == [(0, 0)]


def test_invalid_configs_are_config_errors() -> None:
    with pytest.raises(C.ConfigError, match="Strategy"):
        C.split_config({"Model": {"Strategy": "Fast"}})
    with pytest.raises(C.ConfigError, match="ReuseFactor"):
        C.split_config({"Model": {"ReuseFactor": 0}})
    with pytest.raises(C.ConfigError, match="precision"):
        C.split_config({"Model": {"Precision": "ap_fixed<16"}})
    with pytest.raises(C.ConfigError, match="IOType"):
        C.split_config({"IOType": "io_serial"})
    with pytest.raises(C.ConfigError, match="unknown key"):
        C.split_config({"Modle": {}})
    s = C.split_config({"HLSConfig": {"Model": {"ReuseFactor": 2}}, "OutputDir": "x", "IOType": "io_stream"})
    assert s.hls_config["Model"]["ReuseFactor"] == 2 and s.kwargs["io_type"] == "io_stream"
    assert s.hwsim["IOType"] == "io_stream" and "OutputDir" not in s.hwsim


# ---------------------------------------------------------------------------------------------
# hls4ml side: what the extraction reads
# ---------------------------------------------------------------------------------------------


def test_extract_reads_hls4ml_snapping_and_multiplier_limit(tmp_path: Path) -> None:
    m, x = _small_mlp()
    ref = C.resolve_model(m, x)
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 7, "Strategy": "Resource"}}
    hm, lines = C.convert(ref, C.split_config(cfg), str(tmp_path))
    hls = C.extract(hm, lines, None)
    dense = [h for h in hls.layers if h.hls_class == "Dense"]
    assert [(h.n_in, h.n_out) for h in dense] == [(10, 8), (8, 3)]
    # 10x8: valid {1,2,5,10} ∪ {10,20,40,80}: 7 -> 5 (|7-5| = 2 < |10-7| = 3)
    # 8x3:  valid {1,2,4,8} ∪ {8,24}: 7 -> 8
    assert [h.reuse_factor for h in dense] == [5, 8]
    assert all(h.reuse_factor_requested == 7 and h.strategy == "resource" for h in dense)
    assert all(h.warnings and "Invalid ReuseFactor=7" in h.warnings[0] for h in dense)
    # multiplier limit ceil(80/5) = 16, ceil(24/8) = 3 (no zero weights)
    assert [h.multiplier_limit for h in dense] == [16, 3]
    assert hls.pipeline_style == "dataflow"  # any Resource layer -> DATAFLOW (pipeline_style.py)


# ---------------------------------------------------------------------------------------------
# end to end (needs the fpga backend's plan)
# ---------------------------------------------------------------------------------------------


def test_jet_mlp_agrees_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "jet-mlp", "--format", "json")
    d = json.loads(out)
    assert d["disagreements"] == [], d["disagreements"]
    assert code == 0 and d["agree"] is True
    fields = {r["field"] for r in d["rows"]}
    assert {"hls_class", "n_in", "reuse_factor", "strategy", "multiplier_limit", "precision.accum", "pipeline_style"} <= fields
    # 4 Dense + 3 ReLU + Softmax paired one to one
    assert sum(1 for p in d["pairs"] if p["hls4ml"] and p["hwsim"]) == 8


def test_python_api_on_a_torch_module_at_resource_rf() -> None:
    m, x = _small_mlp()
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 7, "Strategy": "Resource"}}
    res = C.check(m, cfg, example_input=x)
    assert res.agree, [dataclasses.asdict(r) for r in res.disagreements]


def test_wrong_plan_is_a_disagreement_exit_one(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from hwsim.backends.base import get_backend

    be = get_backend("fpga")
    original = type(be).plan

    def wrong_plan(self, graph, params):  # type: ignore[no-untyped-def]
        plan = original(self, graph, params)
        layers = list(plan.layers)
        k = next(i for i, lp in enumerate(layers) if lp.hls_class == "Dense")
        layers[k] = dataclasses.replace(layers[k], reuse_factor=layers[k].reuse_factor + 3)
        return dataclasses.replace(plan, layers=tuple(layers))

    monkeypatch.setattr(type(be), "plan", wrong_plan)
    code, out, err = _run(capsys, "jet-mlp", "--format", "json")
    d = json.loads(out)
    assert code == 1 and not d["agree"]
    assert [r["field"] for r in d["disagreements"]] == ["reuse_factor"]
    code, out, _ = _run(capsys, "jet-mlp", "--only-diff")
    assert code == 1 and "DISAGREE: 1 of" in out


def test_write_config_gives_a_file_both_tools_accept(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "jet.yml"
    code, out, err = _run(
        capsys, "jet-mlp", "--write-config", str(path), "--reuse-factor", "4", "--strategy", "Resource", "--format", "json"
    )
    cfg = yaml.safe_load(path.read_text())
    assert cfg["Model"]["Strategy"] == "Resource" and cfg["Part"] == "xcvu13p-flga2577-2-e" and cfg["IOType"] == "io_parallel"
    assert set(cfg["LayerName"]) >= {"net_0", "net_7"}  # hls4ml's own layer names, granularity 'name'
    d = json.loads(out)
    assert code == 0, d["disagreements"]
    rfs = [r["hls4ml"] for r in d["rows"] if r["field"] == "reuse_factor" and r["layer"].startswith("net_0")]
    assert rfs == [4]  # 4 divides n_in = 16: valid as requested
    # the same file through the normal estimate path
    assert main(["estimate", "jet-mlp", "--backend", "fpga", "--config", str(path), "--format", "json"]) == 0


def test_zoo_onnx_file_is_checked_through_its_pytorch_definition(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import importlib.util
    import shutil

    from hwsim.frontends import zoo

    if importlib.util.find_spec("qonnx") is not None:
        pytest.skip("qonnx installed: the ONNX graph itself is converted")
    copy = tmp_path / "my_tagger.onnx"
    shutil.copy(zoo.path("jet-mlp"), copy)  # same bytes under another name: recognised by sha256
    code, out, err = _run(capsys, str(copy), "--format", "json")
    d = json.loads(out)
    assert code == 0 and "jet-mlp" in d["source"] and "qonnx is not installed" in d["source"]
    # a foreign ONNX file cannot be converted by hls4ml without qonnx: one error line, exit 2
    from hwsim.frontends.torch import export_onnx

    m, x = _small_mlp()
    other = tmp_path / "other.onnx"
    export_onnx(m, x, str(other))
    code, out, err = _run(capsys, str(other))
    assert code == 2 and err.startswith("error:") and "qonnx" in err


def test_project_dir_kept_or_removed(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    keep = tmp_path / "prj"
    code, out, err = _run(capsys, "jet-mlp", "--keep-project", str(keep), "--format", "json")
    assert code == 0
    assert (keep / "firmware" / "myproject.cpp").is_file()
    assert json.loads(out)["hls4ml"]["pipeline_style_source"].startswith("firmware/")
    made: list[str] = []
    real = tempfile.mkdtemp

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        made.append(real(*a, dir=str(tmp_path), **{x: v for x, v in k.items() if x != "dir"}))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", spy)
    code, out, err = _run(capsys, "jet-mlp", "--format", "json")
    assert code == 0 and made and not Path(made[0]).exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["no-such-model"], "not a bundled model"),
        (["missing.onnx"], "not found"),
        (["jet-mlp", "--config", "missing.yml"], "not found"),
        (["jet-mlp", "--csim", "--data", "missing.npy"], "not found"),
        (["jet-mlp", "--csim", "--input-range", "1,0"], "LO must be below HI"),
    ],
)
def test_bad_input_is_one_error_line(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = _run(capsys, *args)
    assert code == 2
    assert err.startswith("error:") and message in err and len(err.strip().splitlines()) == 1


def test_invalid_config_file_exit_two(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("Model:\n  Strategy: Fastest\n")
    code, out, err = _run(capsys, "jet-mlp", "--config", str(bad))
    assert code == 2 and err.startswith("error:") and "Strategy" in err


def test_model_hls4ml_cannot_convert_is_exit_two(capsys: pytest.CaptureFixture[str]) -> None:
    # hls4ml 1.3.0's PyTorch frontend has no mean over an axis (Deep Sets aggregation)
    code, out, err = _run(capsys, "deepsets-tiny")
    assert code == 2 and err.startswith("error:") and "hls4ml" in err and "cannot" in err


# ---------------------------------------------------------------------------------------------
# zoo models at several reuse factors / strategies (slow)
# ---------------------------------------------------------------------------------------------

ZOO_CASES = [
    ("jet-mlp", "Latency", 1),
    ("jet-mlp", "Resource", 5),
    ("jet-mlp", "Resource", 64),
    ("braggnn-tiny", "Latency", 1),
    ("braggnn-small", "Resource", 3),
    ("cnn-tutorial", "Latency", 1),
    ("cnn-tutorial", "Resource", 9),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, strategy, rf", ZOO_CASES)
def test_zoo_models_agree(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, strategy: str, rf: int) -> None:
    path = tmp_path / "cfg.yml"
    code, out, err = _run(
        capsys, name, "--write-config", str(path), "--strategy", strategy, "--reuse-factor", str(rf), "--format", "json"
    )
    assert code in (0, 1), err
    d = json.loads(out)
    assert d["disagreements"] == [], json.dumps(d["disagreements"], indent=1)
    assert code == 0


@pytest.mark.slow
def test_csim_jet_tagger_small_deviation_at_16_6(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yml"
    cfg.write_text("Model:\n  Precision: ap_fixed<16,6>\n  ReuseFactor: 1\n  Strategy: Latency\n")
    code, out, err = _run(capsys, "jet-mlp", "--config", str(cfg), "--csim", "--n-samples", "500", "--format", "json")
    assert code in (0, 1), err
    c = json.loads(out)["csim"]
    assert c["n_samples"] == 500 and len(c["outputs"]) == 5
    # Softmax probabilities (nnet_activation.h softmax_stable): the exp table is indexed with
    # 10 bits of the ap_fixed<16,6> logit difference, a step of 2^(6-10) = 1/16, so
    # |Δp|/p <= e^(2/16) - 1 ≈ 13 %; the 1/sum table is indexed with 10 bits of an
    # ap_fixed<18,8> sum (step 1/4 on a sum >= 1... ~5 here): <= 5 % more. p ≈ 0.2 for this
    # untrained 5-class net (p < 0.3): |Δp| < 0.3 * (1.133 * 1.05 - 1) ≈ 0.057 per output,
    # and on average below the 13 % * 0.2 = 0.027 of the logit step alone.
    assert c["max_abs_dev"] < 0.057
    assert c["mean_abs_dev"] < 0.027
