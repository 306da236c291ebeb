"""The same design costs the same from its ONNX file and from its PyTorch definition, on every
backend (issue: "results identical for the same design from ONNX and from PyTorch")."""

from __future__ import annotations

import pytest

import hwsim
from hwsim.frontends import zoo
from hwsim.frontends.torch import from_torch

MODELS = ["jet-mlp", "deepsets-small", "braggnn-tiny", "cnn-tutorial", "rbm-alpha2", "svdd-z13"]
SETTINGS = {
    "bops": {"weight_bits": "8", "act_bits": "8"},
    "fpga": {"reuse_factor": "4", "precision": "ap_fixed<8,3>"},
    "aimc": {},
    "cpu": {"batch": "64"},
    "gpu": {"batch": "64"},
}


@pytest.fixture(scope="module")
def graphs():
    out = {}
    for name in MODELS:
        module, example = zoo.module(name)
        out[name] = (zoo.load(name), from_torch(module, example, name=name))
    return out


@pytest.mark.parametrize("backend", sorted(SETTINGS))
@pytest.mark.parametrize("name", MODELS)
def test_onnx_and_torch_cost_the_same(graphs, name, backend):
    g_onnx, g_torch = graphs[name]
    assert g_onnx.fingerprint() == g_torch.fingerprint()
    a = hwsim.estimate(g_onnx, backend, overrides=SETTINGS[backend])
    b = hwsim.estimate(g_torch, backend, overrides=SETTINGS[backend])
    assert a.totals == b.totals
    assert [r["op"] for r in a.layers] == [r["op"] for r in b.layers]
    assert [u["op"] for u in a.unsupported] == [u["op"] for u in b.unsupported]
