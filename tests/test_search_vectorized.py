"""The vectorised Deep Sets BOPs path equals the scalar graph path; the README's example space
parses and builds."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import pytest

from hwsim.errors import ConfigError
from hwsim.search import SearchSpace
from hwsim.search import vectorized as V


@pytest.mark.parametrize("name", ["deepsets", "deepsets_nacopt"])
def test_vectorised_bops_equal_scalar(name):
    sp = SearchSpace.load(name)
    rng = random.Random(2)
    samples = [sp.sample_random(rng) for _ in range(60)]
    worst = V.verify(sp, samples, weight_bits=8, act_bits=8)
    assert max(worst.values()) <= 1e-12
    # encode (through build) and encode_fast (from the dicts) agree
    a, b = V.encode(sp, samples), V.encode_fast(sp, samples)
    for k in ("bops", "macs", "params"):
        assert list(V.bops(a, 8, 8)[k]) == list(V.bops(b, 8, 8)[k])


def test_vectorised_bops_by_hand():
    sp = SearchSpace.load("deepsets")
    s = {"phi.layers": 1, "phi.out": 4, "phi.norm_0": "none", "phi.activation_0": "relu", "agg.function": "mean",
         "rho.layers": 1, "rho.norm_0": "batch", "rho.activation_0": "none"}  # fmt: skip
    out = V.bops(V.encode_fast(sp, [s]), 8, 8)
    # phi: Linear(3,4) on 8 particles; rho: Linear(4,5); appendix-A linear formula
    expect = 8 * 4 * 3 * (64 + 16 + math.log2(3)) + 5 * 4 * (64 + 16 + math.log2(4))
    assert out["bops"][0] == pytest.approx(expect)
    assert out["params"][0] == (3 * 4 + 4) + (4 * 5 + 5) + 2 * 5


def test_vectorised_path_refuses_other_spaces():
    with pytest.raises(ConfigError, match="Deep Sets"):
        V.encode(SearchSpace.load("braggnn"), [])


def test_readme_example_space_builds():
    import yaml

    text = (Path(__file__).resolve().parents[1] / "hwsim" / "search" / "spaces" / "README.md").read_text()
    block = re.search(r"## Example: a small jet MLP space\s+```yaml\n(.*?)```", text, re.S)
    assert block
    sp = SearchSpace(yaml.safe_load(block.group(1)), "README example")
    s = sp.sample_random(0)
    acts = {v for k, v in s.items() if "activation" in k}
    assert list(s).count("body.activation") == 1 and len(acts) == 1  # shared: one value
    arch = sp.build(s)
    assert sp.to_graph(arch).n_params == arch.n_params


# ------------------------------------------------------------------ vectorised fpga (hls4ml)

_FPGA_CONFIGS = [
    {"precision": "ap_fixed<8,3>", "reuse_factor": "2", "clock_period_ns": "5"},
    {},  # hls4ml defaults: ap_fixed<16,6>, RF 1, Latency
    {"io_type": "io_stream", "reuse_factor": "4"},
    {"strategy": "Resource", "reuse_factor": "8", "precision": "ap_fixed<12,4>"},
]


def _distinct(sp, n, seed):
    rng = random.Random(seed)
    seen, out = set(), []
    while len(out) < n:
        s = sp.sample_random(rng)
        fp = sp.to_graph(s).fingerprint()
        if fp not in seen:
            seen.add(fp)
            out.append(s)
    return out


@pytest.mark.parametrize("ov", _FPGA_CONFIGS, ids=["8bit-rf2", "defaults", "stream-rf4", "resource-rf8"])
def test_vectorised_fpga_equals_scalar(ov):
    """Every total of the population path equals Objective('fpga').cost on the graph (exactly),
    on random distinct Deep Sets candidates, for parallel/stream and Latency/Resource designs."""
    sp = SearchSpace.load("deepsets")
    samples = _distinct(sp, 60, seed=11)
    assert V.verify_fpga(sp, samples, ov) == 60


def test_vectorised_fpga_nacopt_space_and_reuse():
    """The nac-opt Deep Sets space (per-particle BatchNorm that does not fold) is exact too, and
    a second population reuses the unit table (results independent of the call order)."""
    sp = SearchSpace.load("deepsets_nacopt")
    a, b = _distinct(sp, 40, seed=3), _distinct(sp, 40, seed=4)
    pop = V.FpgaPopulation(sp, {"precision": "ap_fixed<8,3>", "reuse_factor": "2"})
    V.verify_fpga(sp, a + b, {"precision": "ap_fixed<8,3>", "reuse_factor": "2"}, pop=pop)
    fresh = V.FpgaPopulation(sp, {"precision": "ap_fixed<8,3>", "reuse_factor": "2"})
    rb = fresh.cost(b)
    rab = pop.cost(b)
    for k in V.FPGA_TOTALS:
        assert list(rb[k]) == list(rab[k])


def test_vectorised_fpga_refusals():
    sp = SearchSpace.load("deepsets")
    with pytest.raises(ConfigError, match="LayerName"):
        V.FpgaPopulation(
            sp, config={"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}, "LayerName": {"dense_0": {"ReuseFactor": 2}}}
        )
    br = SearchSpace.load("braggnn")
    pop = V.FpgaPopulation(br)
    with pytest.raises(ConfigError, match="conv2d"):
        pop.cost([br.sample_random(random.Random(0))])


def test_opgraph_order_matches_networkx_lexicographic_sort():
    """OpGraph's own topological sort gives networkx's lexicographical order (ties by the
    original op order) on random DAGs (fingerprints depend on it)."""
    import networkx as nx

    from hwsim.ir import FLOAT32_OP, Attrs, Op, OpGraph, TensorSpec

    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 20)
        x = TensorSpec("x", (4,))
        tensors, ops = [x], []
        for i in range(n):
            k = rng.randint(1, 2)
            ins = tuple(rng.choice(tensors) for _ in range(k))
            out = TensorSpec(f"t{i}", (4,))
            attrs = {"function": "add", "n_const": 0} if k == 2 else {"function": "relu"}
            ops.append(Op(f"op{i}", "elementwise" if k == 2 else "activation", ins, (out,), Attrs(attrs), FLOAT32_OP))
            tensors.append(out)
        perm = ops[:]
        rng.shuffle(perm)
        g = OpGraph(perm, [x], [ops[-1].outputs[0].name])
        pos = {o.name: i for i, o in enumerate(perm)}
        ref = list(nx.lexicographical_topological_sort(g.nx, key=lambda m: pos[m]))
        assert [o.name for o in g.ops()] == ref
