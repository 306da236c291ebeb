"""The model zoo: shipped ONNX files vs the PyTorch definitions, parameter counts vs the
papers, manifest integrity, and the zoo names on the CLI.

Expected numbers here are worked out by hand from the layer lists in the sources (e.g.
Deep Sets tiny: Linear(3,8) 32 + BN(8) 16 + Linear(8,8) 72 + Linear(8,32) 288 +
Linear(32,5) 165 = 573), never copied from the code's output.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwsim import _paths
from hwsim.errors import ModelError
from hwsim.frontends import zoo

torch = pytest.importorskip("torch")

ONNX_DIR = _paths.models_dir() / "onnx"
MANIFEST = json.loads((ONNX_DIR / "MANIFEST.json").read_text())
NAMES = list(MANIFEST["models"])

EXPECTED_NAMES = (
    ["jet-mlp"]
    + [f"deepsets-{s}" for s in ("baseline", "tiny", "small", "medium", "large")]
    + [f"braggnn-{s}" for s in ("tiny", "small", "medium", "large")]
    + [f"rbm-alpha{a}" for a in (1, 2, 4, 8, 16)]
    + [f"svdd-z{z}" for z in (5, 8, 13, 21, 34, 55, 89, 144, 233)]
    + ["bitnet-mlp", "transformer-block", "cnn-tutorial"]
)


def _torch_params(m) -> int:
    return int(sum(p.numel() for p in m.parameters()))


@pytest.fixture(scope="module")
def defs():
    return zoo._defs()


@pytest.fixture(scope="module")
def lowered():
    """name -> (graph from the shipped ONNX, graph from the PyTorch definition, torch module)."""
    from hwsim.frontends.torch import from_torch

    out = {}
    for name in NAMES:
        m, x = zoo.module(name)
        out[name] = (zoo.load(name), from_torch(m, x, name=name), m)
    return out


# ---------------------------------------------------------------------------------------------
# names / exists / info (no torch)
# ---------------------------------------------------------------------------------------------


def test_zoo_has_every_model_of_the_issue():
    assert sorted(zoo.names()) == sorted(EXPECTED_NAMES)
    assert zoo.names() == NAMES  # manifest order
    for n in EXPECTED_NAMES:
        assert zoo.exists(n)
        assert (ONNX_DIR / f"{n}.onnx").is_file()
    assert not zoo.exists("jet-mlp.onnx")
    assert not zoo.exists("")
    assert not zoo.exists("models/onnx/jet-mlp")


def test_names_and_exists_do_not_import_torch_or_onnx():
    code = (
        "import sys, hwsim.frontends.zoo as z\n"
        "assert z.exists('jet-mlp') and len(z.names()) > 20\n"
        "z.info('svdd-z5')\n"
        "bad = [m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_unknown_name_is_a_model_error():
    with pytest.raises(ModelError, match="not a bundled zoo model"):
        zoo.load("no-such-net")
    with pytest.raises(ModelError):
        zoo.info("no-such-net")
    with pytest.raises(ModelError):
        zoo.module("no-such-net")


def test_missing_zoo_dir_gives_error_not_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("HWSIM_HOME", str(tmp_path))
    assert zoo.names() == []
    assert not zoo.exists("jet-mlp")
    with pytest.raises(ModelError, match="export.py"):
        zoo.load("jet-mlp")


def test_manifest_matches_files_and_is_small():
    total = 0
    for name, entry in MANIFEST["models"].items():
        data = (ONNX_DIR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], (
            f"{name}: file differs from MANIFEST (re-run models/export.py)"
        )
        assert len(data) == entry["bytes"]
        total += len(data)
    assert total < 5_000_000  # "a few MB"
    assert set(p.stem for p in ONNX_DIR.glob("*.onnx")) == set(MANIFEST["models"])


# ---------------------------------------------------------------------------------------------
# ONNX file == PyTorch definition
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_onnx_and_torch_lower_to_the_same_graph(name, lowered):
    g_onnx, g_torch, m = lowered[name]
    assert g_onnx.name == name
    assert g_onnx.fingerprint() == g_torch.fingerprint(), f"{name}: shipped ONNX is out of date with zoo_defs.py"
    n = _torch_params(m)
    assert g_onnx.n_params == n
    assert MANIFEST["models"][name]["params"] == n
    assert list(g_onnx.inputs[0].shape) == MANIFEST["models"][name]["input_shape"]
    # same weights, not only the same structure (a changed seed or init would show here)
    assert set(g_onnx.weights) == set(g_torch.weights)
    for op_name, arrays in g_onnx.weights.items():
        for key, arr in arrays.items():
            np.testing.assert_array_equal(arr, g_torch.weights[op_name][key], err_msg=f"{name}/{op_name}/{key}")
    assert not g_onnx.kinds().get("opaque"), f"{name}: the ONNX frontend could not read some nodes"


def test_shipped_files_are_byte_identical_to_a_fresh_export(defs):
    """Export is deterministic and the files are current (exact bytes when the torch/onnx
    versions are those the files were made with; otherwise the fingerprint test covers it)."""
    export = _load_export_module()
    import onnx

    same_versions = MANIFEST["versions"] == {"torch": torch.__version__.split("+")[0], "onnx": onnx.__version__}
    for name in ("jet-mlp", "deepsets-large", "rbm-alpha2", "cnn-tutorial"):
        a, info = export.export_bytes(defs, name)
        b, _ = export.export_bytes(defs, name)
        assert a == b, f"{name}: two exports differ"
        if same_versions:
            assert info["sha256"] == MANIFEST["models"][name]["sha256"], f"{name}: shipped file is stale"


def _load_export_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("hwsim_zoo_export", _paths.models_dir() / "export.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_export_script_writes_manifest_to_other_dir(tmp_path):
    export = _load_export_module()
    manifest = export.export_all(tmp_path, only=["deepsets-tiny", "rbm-alpha1"])
    assert list(manifest["models"]) == ["deepsets-tiny", "rbm-alpha1"]
    for name in ("deepsets-tiny", "rbm-alpha1"):
        data = (tmp_path / f"{name}.onnx").read_bytes()
        assert hashlib.sha256(data).hexdigest() == manifest["models"][name]["sha256"]
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind


@pytest.mark.parametrize(
    "name",
    ["jet-mlp", "deepsets-large", "braggnn-small", "rbm-alpha4", "svdd-z13", "bitnet-mlp", "transformer-block", "cnn-tutorial"],
)
def test_shipped_onnx_computes_what_the_torch_model_computes(name):
    ort = pytest.importorskip("onnxruntime")
    m, _ = zoo.module(name)
    entry = zoo._defs().ZOO[name]
    x = entry.example_input(batch=4)  # dynamic batch axis
    with torch.no_grad():
        ref = m(x).numpy()
    sess = ort.InferenceSession(str(zoo.path(name)), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_definitions_are_deterministic(defs):
    for name in ("deepsets-small", "braggnn-tiny", "svdd-z8"):
        a = defs.ZOO[name].model().state_dict()
        b = defs.ZOO[name].model().state_dict()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}.{k}"
    state = torch.random.get_rng_state()
    defs.ZOO["jet-mlp"].model()
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's RNG is untouched


# ---------------------------------------------------------------------------------------------
# parameter counts against the papers
# ---------------------------------------------------------------------------------------------

# PyTorch count minus paper count, worked out by hand from the layer lists (BN = 2 per channel).
PAPER_DIFF = {
    "deepsets-tiny": 0,  # 32 + 16 + 72 + 288 + 165 = 573
    "deepsets-small": 0,  # 64 + 136 + 16 + 72 + 16 + 144 + 272 + 85 + 10 = 815
    "deepsets-medium": 0,  # 128 + 264 + 288 + 64 + 528 + 1088 + 128 + 325 = 2813
    "deepsets-large": 0,  # 256 + 128 + 1040 + 32 + 2176 + 256 + 2064 + 32 + 1088 + 128 + 325 + 10 = 7535
    "deepsets-baseline": 1797 - 3461,  # 128 + 1056 + 528 + 85: the table's layer list is smaller than the paper's count
    "braggnn-tiny": 0,  # 80 + 20768 + 1056 + 1056 + 64 + 66 + 4 = 23094
    "braggnn-small": 9644 - 23788,
    "braggnn-medium": 13602 - 26402,
    "braggnn-large": 55574 - 92438,
}


@pytest.mark.parametrize("name", sorted(PAPER_DIFF))
def test_param_count_against_paper(name, defs):
    entry = defs.ZOO[name]
    n = _torch_params(entry.model())
    assert entry.paper_params is not None
    assert n - entry.paper_params == PAPER_DIFF[name]
    assert MANIFEST["models"][name]["paper_params"] == entry.paper_params
    if PAPER_DIFF[name]:
        assert "not reproduced" in entry.params_note  # the difference is documented, not hidden


def test_deepsets_bn_normalises_features_not_particles(lowered):
    """Large is the model that decides it: BN(64)+BN(16) in φ = 160 parameters (the paper's
    7535); BN over the 8 particles would give 2*(2*8) = 32 (7407)."""
    g, _, _ = lowered["deepsets-large"]
    bns = [op for op in g.ops() if op.kind == "batchnorm"]
    assert sorted(int(op.attrs["channels"]) for op in bns) == sorted([64, 16, 128, 16, 64, 5])
    phi_bns = [op for op in bns if len(op.input_shape) == 2]  # per particle
    assert sorted(int(op.attrs["channels"]) for op in phi_bns) == [16, 64]
    for op in phi_bns:
        axis = int(op.attrs["axis"]) % 2
        assert op.input_shape[axis] == int(op.attrs["channels"])  # the channel axis is the feature axis
        assert op.input_shape[1 - axis] == 8  # the other axis is the 8 particles


def test_deepsets_phi_bn_is_one_op_on_the_feature_axis_and_folds(lowered):
    from hwsim.passes import fold_batchnorm

    g, _, _ = lowered["deepsets-large"]
    assert "reshape" not in g.kinds()
    phi_bns = [op for op in g.ops() if op.kind == "batchnorm" and len(op.input_shape) == 2]
    assert [op.input_shape for op in phi_bns] == [(8, 64), (8, 16)]
    assert all(int(op.attrs["axis"]) % 2 == 1 for op in phi_bns)
    folded = fold_batchnorm(g).graph
    assert folded.kinds().get("batchnorm", 0) == 0  # every BN follows a Linear here


# ---------------------------------------------------------------------------------------------
# what each model must look like in the IR
# ---------------------------------------------------------------------------------------------


def test_deepsets_structure(lowered):
    g, _, _ = lowered["deepsets-medium"]
    dense = [op for op in g.ops() if op.kind == "dense"]
    assert [op.rows for op in dense] == [8, 8, 1, 1, 1, 1]  # φ on each of 8 particles, ρ once
    (red,) = [op for op in g.ops() if op.kind == "reduce"]
    assert red.function == "mean" and tuple(red.attrs["axes"]) == (0,)
    assert red.input_shape == (8, 8) and red.output_shape == (8,)
    # MACs: φ 8*(3*32 + 32*8) + ρ (8*32 + 32*16 + 16*64 + 64*5)
    assert g.macs == 8 * (3 * 32 + 32 * 8) + 8 * 32 + 32 * 16 + 16 * 64 + 64 * 5


def test_deepsets_aggregator_is_a_constructor_argument(defs):
    from hwsim.frontends.torch import from_torch

    x = defs.ZOO["deepsets-tiny"].example_input()
    g = from_torch(defs.DeepSets("tiny", aggregator="max").eval(), x)
    (red,) = [op for op in g.ops() if op.kind == "reduce"]
    assert red.function == "max"


def test_cnn_tutorial_is_half_pruned(lowered):
    g, _, m = lowered["cnn-tutorial"]
    lin = [op for op in g.ops() if op.kind in ("conv", "dense")]
    assert [op.kind for op in lin] == ["conv"] * 3 + ["dense"] * 3
    for op in lin[:-1]:
        assert op.sparsity == pytest.approx(0.5, abs=1.0 / op.n_weights)
    assert lin[-1].sparsity == 0.0  # the tutorial skips the output layer
    assert all(op.precision.weight is not None and op.precision.weight.kind == "float" for op in lin)  # zeros != ternary
    assert [op.attrs.get("bias") for op in lin] == [False] * 5 + [True]
    # per-inference MACs: 30*30*16*27 + 13*13*16*144 + 4*4*24*144 + 96*42 + 42*64 + 64*10
    assert g.macs == 388_800 + 389_376 + 55_296 + 4032 + 2688 + 640
    # params: convs 432 + 2304 + 3456, BN 2*(16+16+24+42+64), dense 4032 + 2688 + 650
    assert g.n_params == 432 + 2304 + 3456 + 2 * (16 + 16 + 24 + 42 + 64) + 4032 + 2688 + 650


def test_bitnet_weights_are_ternary(lowered, defs):
    g, _, m = lowered["bitnet-mlp"]
    for lin in [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)]:
        vals = torch.unique(lin.weight)
        assert len(vals) == 3 and vals[1] == 0 and vals[0] == -vals[2]
        assert lin.bias is None
    dense = [op for op in g.ops() if op.kind == "dense"]
    assert len(dense) == 3
    for op in dense:
        assert op.precision.weight is not None and op.precision.weight.kind == "ternary", op
        assert 0.0 < op.sparsity < 0.6  # round(w/β) = 0 for |w| < β/2


def test_rbm_structure(lowered):
    for alpha in (1, 16):
        g, _, _ = lowered[f"rbm-alpha{alpha}"]
        (fc,) = [op for op in g.ops() if op.kind == "dense"]
        assert (fc.attrs["n_in"], fc.attrs["n_out"]) == (16, 16 * alpha)
        fns = {op.function for op in g.ops() if op.kind == "activation"}
        assert {"cosh", "log"} <= fns
        (red,) = [op for op in g.ops() if op.kind == "reduce"]
        assert red.function == "sum"
        assert g.n_params == 16 * 16 * alpha + 16 * alpha


def test_rbm_matches_closed_form(defs):
    m = defs.ZOO["rbm-alpha2"].model()
    s = defs.ZOO["rbm-alpha2"].example_input(batch=3)
    assert set(s.unique().tolist()) <= {-1.0, 1.0}
    W, b = m.hidden.weight, m.hidden.bias
    expect = torch.log(torch.prod(2 * torch.cosh(s @ W.T + b), dim=-1))
    torch.testing.assert_close(m(s), expect, rtol=1e-5, atol=1e-5)


def test_svdd_structure(lowered, defs):
    g, _, _ = lowered["svdd-z21"]
    dense = [op for op in g.ops() if op.kind == "dense"]
    assert [(op.attrs["n_in"], op.attrs["n_out"]) for op in dense] == [(57, 256), (256, 128), (128, 64), (64, 21)]
    assert all(not op.attrs["bias"] for op in dense)
    assert all(op.attrs["n_in"] <= 512 and op.attrs["n_out"] <= 512 for op in dense)  # one AIMC tile each
    assert any(op.kind == "elementwise" and op.function == "sub" for op in g.ops())
    assert g.output_specs[0].shape in ((), (1,))
    # the score is the squared distance to n * 1
    m = defs.DeepSVDD(z=5, n=3.0).eval()
    x = torch.randn(2, 57)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ((m.encoder(x) - 3.0) ** 2).sum(-1))


def test_transformer_structure(lowered):
    g, _, _ = lowered["transformer-block"]
    k = g.kinds()
    assert k.get("matmul") == 2 and k.get("layernorm") == 2
    assert sum(1 for op in g.ops() if op.kind == "dense") == 6
    # MACs: 4 projections 16*16*16, QK^T and AV 2 heads * 16*16*8 each, FF 16*16*32*2
    assert g.macs == 4 * 16 * 16 * 16 + 2 * (2 * 16 * 16 * 8) + 2 * 16 * 16 * 32


def test_load_model_dispatches_zoo_names():
    from hwsim.frontends import load_model

    g = load_model("deepsets-tiny")
    assert g.name == "deepsets-tiny" and g.n_params == 573


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    not (Path(__file__).parents[1] / "hwsim" / "backends" / "bops.py").exists(), reason="bops backend not written yet"
)
@pytest.mark.parametrize("name", ["jet-mlp", "deepsets-tiny", "braggnn-tiny", "rbm-alpha1", "svdd-z5", "cnn-tutorial"])
def test_cli_estimate_zoo_name_bops(name, capsys):
    from hwsim.cli import main

    rc = main(["estimate", name, "--backend", "bops", "--format", "json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["backend"] == "bops"
    assert doc["model"] == name
    assert doc["totals"]["params"] == MANIFEST["models"][name]["params"]
    assert doc["totals"]["macs"] == zoo.load(name).macs
    assert doc["totals"]["bops"] > 0
    assert {"name", "op"} <= set(doc["layers"][0])


def test_cli_unknown_zoo_name_is_one_error_line(capsys):
    from hwsim.cli import main

    rc = main(["estimate", "no-such-net", "--backend", "bops", "--format", "json"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "no-such-net" in err
    assert out == ""
