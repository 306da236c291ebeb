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
