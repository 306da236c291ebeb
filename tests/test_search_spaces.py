"""Search spaces as YAML data: parsing errors name the key, samples build PyTorch modules whose
parameter counts match the IR, the direct IR equals from_torch's, nac-opt logs decode."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from hwsim.errors import ConfigError
from hwsim.search import InfeasibleCandidate, SearchSpace
from hwsim.search.spaces import shipped_spaces

SHIPPED = ("braggnn", "braggnn_nacopt", "deepsets", "deepsets_nacopt")


def _space(text: str) -> SearchSpace:
    import yaml

    return SearchSpace(yaml.safe_load(textwrap.dedent(text)), "test.yaml")


MINI = """
name: mini
input_shape: [8, 3]
blocks:
  - {type: mlp, name: phi, layers: {choices: [1, 2]}, width: {choices: [4, 8]}, out: 4, norm: none, activation: relu}
  - {type: aggregate, name: agg, function: {choices: [mean, max]}}
  - {type: mlp, name: rho, layers: 1, out: 5}
"""


def test_shipped_spaces_exist():
    assert set(SHIPPED) <= set(shipped_spaces())


@pytest.mark.parametrize("name", SHIPPED)
def test_torch_param_count_matches_ir(name):
    sp = SearchSpace.load(name)
    rng = random.Random(11)
    built = 0
    while built < 6:
        s = sp.sample_random(rng)
        try:
            arch = sp.build(s)
        except InfeasibleCandidate:
            continue
        g = sp.to_graph(arch)
        m = sp.to_torch(arch)
        n_torch = sum(p.numel() for p in m.parameters() if p.requires_grad)
        assert n_torch == g.n_params == arch.n_params
        out = m.eval()(sp.example_input(2))
        assert tuple(out.shape[1:]) == g.output_specs[0].shape
        built += 1


@pytest.mark.parametrize("name", ["deepsets", "braggnn_nacopt"])
def test_direct_ir_has_the_fingerprint_of_from_torch(name):
    pytest.importorskip("onnx")
    from hwsim.frontends.torch import from_torch

    sp = SearchSpace.load(name)
    rng = random.Random(5)
    checked = 0
    while checked < 3:
        s = sp.sample_random(rng)
        try:
            arch = sp.build(s)
        except InfeasibleCandidate:
            continue
        g = sp.to_graph(arch)
        g2 = from_torch(sp.to_torch(arch).eval(), sp.example_input(1))
        assert g.fingerprint() == g2.fingerprint()
        checked += 1


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_direct_ir_fingerprint_many_samples(name):
    from hwsim.frontends.torch import from_torch

    sp = SearchSpace.load(name)
    rng = random.Random(99)
    for _ in range(25):
        s = sp.sample_random(rng)
        try:
            arch = sp.build(s)
        except InfeasibleCandidate:
            continue
        assert sp.to_graph(arch).fingerprint() == from_torch(sp.to_torch(arch).eval(), sp.example_input(1)).fingerprint()


def test_sample_with_optuna_is_define_by_run():
    optuna = pytest.importorskip("optuna")
    sp = _space(MINI)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen_layers = set()
    for _ in range(12):
        t = study.ask()
        s = sp.sample(t)
        n = s["phi.layers"]
        seen_layers.add(n)
        # hidden widths exist only for the layers the sample has
        assert ("phi.width_0" in s) == (n == 2)
        assert set(t.params) == set(s)
        study.tell(t, 0.0)
    assert seen_layers == {1, 2}


def test_build_from_dict_and_deep_sets_shapes():
    sp = _space(MINI)
    arch = sp.build({"phi.layers": 2, "phi.width_0": 8, "agg.function": "max"})
    # phi: 3->8->4 per particle, max over particles, rho 4->5
    assert [(layer.kind, layer.args) for layer in arch.layers if layer.kind in ("linear", "reduce")] == [
        ("linear", (3, 8)),
        ("linear", (8, 4)),
        ("reduce", ("max", 0)),
        ("linear", (4, 5)),
    ]
    assert arch.n_params == (3 * 8 + 8) + (8 * 4 + 4) + (4 * 5 + 5)
    g = sp.to_graph(arch)
    assert [op.rows for op in g.ops() if op.kind == "dense"] == [8, 8, 1]


def test_sample_errors_name_the_parameter():
    sp = _space(MINI)
    with pytest.raises(ConfigError, match="phi.width_0"):
        sp.build({"phi.layers": 2, "agg.function": "max"})
    with pytest.raises(ConfigError, match="agg.function"):
        sp.build({"phi.layers": 1, "agg.function": "median"})
    with pytest.raises(ConfigError, match="bogus"):
        sp.build({"phi.layers": 1, "agg.function": "max", "bogus": 1})


@pytest.mark.parametrize(
    "text, key",
    [
        ("name: x\nblocks: [{type: flatten}]\n", "input_shape"),
        ("input_shape: [3]\nblocks: [{type: flatten}]\n", "name"),
        ("name: x\ninput_shape: [3]\nblocks: []\n", "blocks"),
        (
            "name: x\ninput_shape: [3]\nblocks: [{type: mlp, name: a, layers: 1, out: 2, activation: swish}]\n",
            "blocks[0].activation",
        ),
        ("name: x\ninput_shape: [3]\nblocks: [{type: mlp, name: a, layers: 1, out: 2, widht: 4}]\n", "widht"),
        ("name: x\ninput_shape: [3]\nblocks: [{type: mlp, name: a, out: 2}]\n", "layers"),
        (
            "name: x\ninput_shape: [3]\nblocks: [{type: mlp, name: a, layers: {choices: []}, out: 2}]\n",
            "blocks[0].layers.choices",
        ),
        ("name: x\ninput_shape: [3]\nblocks: [{type: mlp, name: a, layers: [1, 2], out: 2}]\n", "blocks[0].layers"),
        ("name: x\ninput_shape: [3]\nblocks: [{type: transformer, name: a}]\n", "blocks[0].type"),
        ("name: x\ninput_shape: [3]\nblocks: [{type: mlp, name: a, layers: 1, out: {low: 4, hihg: 8}}]\n", "hihg"),
        ("name: x\ninput_shape: [3]\ntask: {direction: up}\nblocks: [{type: flatten}]\n", "task.direction"),
        ("name: x\ninput_shape: [3]\nblocks: [{type: flatten, name: a}, {type: flatten, name: a}]\n", "duplicate"),
        ("name: x\ninput_shape: [3]\nmodel: 1\nblocks: [{type: flatten}]\n", "model"),
    ],
)
def test_schema_errors_are_config_errors_naming_the_key(text, key):
    import yaml

    with pytest.raises(ConfigError) as ei:
        SearchSpace(yaml.safe_load(text), "bad.yaml")
    assert key in str(ei.value) and "bad.yaml" in str(ei.value)


def test_load_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such search-space"):
        SearchSpace.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        SearchSpace.load(bad)


def test_infeasible_candidate_is_typed():
    sp = SearchSpace.load("braggnn")
    s = {"proj.channels_0": 8, "b0": "conv", "b1": "conv", "b2": "conv", "mlp.width_0": 4, "mlp.width_1": 4, "mlp.width_2": 4}
    for b in ("b0", "b1", "b2"):
        for i in range(2):
            s.update(
                {
                    f"{b}.conv.channels_{i}": 4,
                    f"{b}.conv.kernel_{i}": 3,
                    f"{b}.conv.norm_{i}": "none",
                    f"{b}.conv.activation_{i}": "relu",
                }
            )
    for i in range(4):
        s.update({f"mlp.norm_{i}": "none", f"mlp.activation_{i}": "relu"})
    # 11x11 - 2 (projection) - 6 x 2 (3x3 convs) < 1: cannot be built
    with pytest.raises(InfeasibleCandidate, match="3x3"):
        sp.build(s)


DATA = Path(__file__).resolve().parent / "data" / "nacopt_logs"


def test_nacopt_baselines_decode_to_published_parameter_counts():
    """Independent check: trial 1 of the 2023 BraggNN search is the BraggNN baseline, whose
    parameter count the paper's table 1 gives (45 274); every excerpted trial decodes to an
    architecture with exactly the logged parameter count."""
    from hwsim.search import nacopt

    bragg = nacopt.read_log(DATA / "braggnn_global_search_2023_head40.txt")
    nacopt.decode(bragg)
    assert bragg[1].param_count == 45274 and bragg[1].decoded
    sp = SearchSpace.load("braggnn_nacopt")
    assert sp.build(bragg[1].sample).n_params == 45274
    assert sum(t.decoded for t in bragg) == len(bragg) == 40
    ds = nacopt.read_log(DATA / "deepsets_global_search_2024_run1_head40.txt")
    assert all(t.task == "deepsets" for t in ds)
    nacopt.decode(ds)
    assert ds[0].param_count == 2853 and ds[0].decoded
    assert sum(t.decoded for t in ds) == len(ds) == 40
    # the 'sequence' norm of this run (a BatchNorm over the features) is decoded as "batch"
    seq = [t for t in ds if "sequence" in t.hyperparams.values()]
    assert seq and all(t.decoded for t in seq)


def test_nacopt_log_errors(tmp_path):
    from hwsim.errors import ReportError
    from hwsim.search import nacopt

    bad = tmp_path / "log.txt"
    bad.write_text("Trial 0, something else\n")
    with pytest.raises(ReportError, match="log.txt:1"):
        nacopt.read_log(bad)
    with pytest.raises(ReportError, match="no such"):
        nacopt.read_log(tmp_path / "missing.txt")
