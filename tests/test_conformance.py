"""One conformance test over every registered backend (the hwsim.backends entry points)."""

from __future__ import annotations

import json

import pytest
from conftest import graph_with_opaque, mlp_graph

import hwsim
from hwsim.backends.base import Backend, Estimate, available_backends, get_backend
from hwsim.cli import main
from hwsim.errors import ConfigError, UnsupportedOpError

CONTRACT_TOTALS = {
    "bops": {"bops", "macs", "params"},
    "fpga": {
        "latency_cycles",
        "ii_cycles",
        "latency_s",
        "DSP",
        "LUT",
        "FF",
        "BRAM_18K",
        "DSP_pct",
        "LUT_pct",
        "FF_pct",
        "BRAM_18K_pct",
    },
    "aimc": {"tiles", "latency_s", "throughput_per_s", "power_w", "energy_per_inference_j"},
    "cpu": {"latency_s", "throughput_per_s", "energy_per_inference_j"},
    "gpu": {"latency_s", "throughput_per_s", "energy_per_inference_j"},
}

BACKENDS = available_backends()


def test_all_contract_backends_registered():
    assert set(CONTRACT_TOTALS) <= set(BACKENDS)


@pytest.mark.parametrize("name", BACKENDS)
def test_backend_protocol(name):
    be = get_backend(name)
    assert isinstance(be, Backend)
    assert be.name == name
    desc = be.describe()
    assert desc["claims"], "a backend must claim some op kinds"
    for key, p in be.default_params().items():
        assert p.source.strip(), f"{name}: parameter {key} has no source"


@pytest.mark.parametrize("name", BACKENDS)
def test_estimate_contract_and_determinism(name, int8_jet_graph):
    est = hwsim.estimate(int8_jet_graph, name)
    assert isinstance(est, Estimate)
    assert CONTRACT_TOTALS.get(name, set()) <= set(est.totals)
    assert est.layers and all("name" in r and "op" in r for r in est.layers)
    assert est.backend == name
    d = est.to_dict()
    json.dumps(d)  # JSON-serialisable
    assert {"backend", "model", "totals", "layers", "unsupported", "params"} <= set(d)
    assert all("source" in v for v in d["params"].values())
    # deterministic
    assert hwsim.estimate(int8_jet_graph, name).to_dict() == d
    # pandas view: one row per layer
    assert len(est.to_dataframe()) == len(est.layers)


@pytest.mark.parametrize("name", BACKENDS)
def test_unsupported_ops_are_listed_not_zero_costed(name):
    g = graph_with_opaque()
    est = hwsim.estimate(g, name)
    assert [u["name"] for u in est.unsupported] == ["weird"]
    assert all(r["name"] != "weird" for r in est.layers)
    assert any("not costed" in w for w in est.warnings)
    with pytest.raises(UnsupportedOpError, match="weird"):
        hwsim.estimate(g, name, strict=True)


@pytest.mark.parametrize("name", BACKENDS)
def test_unknown_option_rejected(name, jet_graph):
    with pytest.raises(ConfigError, match="no_such_option"):
        hwsim.estimate(jet_graph, name, overrides={"no_such_option": "1"})


@pytest.mark.parametrize("name", BACKENDS)
def test_cli_json_contract(name, tmp_path, capsys):
    path = tmp_path / "g.json"
    path.write_text(mlp_graph().dumps())
    assert main(["estimate", str(path), "--backend", name, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backend"] == name
    assert CONTRACT_TOTALS.get(name, set()) <= set(out["totals"])
