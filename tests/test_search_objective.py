"""The search objective: values equal the backend's estimate, caching by fingerprint,
constraint sign convention, typed errors (never a sentinel), analytical/fitted labels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import pytest
from conftest import graph_with_opaque, mlp_graph

import hwsim.api
from hwsim.backends.base import BackendBase, Estimate, OpCost, Param, Params
from hwsim.errors import ConfigError, HwsimError
from hwsim.ir import ACTIVATION, DENSE, Op, OpGraph
from hwsim.search import Constraint, CostResult, InfeasibleCandidate, Objective, UnsupportedCandidate, cost, cost_many
from hwsim.search.objective import CandidateError, clear_caches, unit_of


class FakeFpga(BackendBase):
    """A stand-in with the fpga backend's totals: latency = one cycle per layer output,
    II = the largest layer's multiplications / reuse factor, DSP = multiplications / RF,
    LUT from a 'fitted' constant. Costs dense and activation ops only."""

    name: ClassVar[str] = "fakefpga"
    claims: ClassVar[frozenset[str]] = frozenset({DENSE, ACTIVATION})
    totals_keys: ClassVar[tuple[str, ...]] = ("latency_cycles", "ii_cycles", "DSP", "LUT", "DSP_pct")

    def default_params(self) -> Params:
        return Params(
            {
                "reuse_factor": Param(1, "test default"),
                "clock_period_ns": Param(5.0, "test default", "ns"),
                "lut_per_mult": Param(1.5, "fit (test profile)"),
                "dsp_available": Param(1000, "test device"),
            }
        )

    def estimate(self, op: Op, params: Params) -> OpCost:
        rf = int(params.value("reuse_factor"))
        mults = op.rows * int(op.attrs["n_in"]) * int(op.attrs["n_out"]) if op.kind == DENSE else 0
        return OpCost(
            op.name,
            op.kind,
            {
                "latency_cycles": 1.0 + (rf if mults else 0),
                "ii_cycles": float(rf if mults else 1),
                "DSP": math.ceil(mults / rf),
                "LUT": 1.5 * mults,
            },
        )

    def aggregate(self, graph: OpGraph, costs: Sequence[OpCost], params: Params) -> Estimate:
        dsp = sum(c.values["DSP"] for c in costs)
        totals = {
            "latency_cycles": sum(c.values["latency_cycles"] for c in costs),
            "ii_cycles": max(c.values["ii_cycles"] for c in costs),
            "DSP": dsp,
            "LUT": sum(c.values["LUT"] for c in costs),
            "DSP_pct": 100.0 * dsp / float(params.value("dsp_available")),
        }
        return Estimate(
            self.name, graph.name, totals, tuple(c.row() for c in costs), params=params, fingerprint=graph.fingerprint()
        )


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()
    yield
    clear_caches()


def test_values_equal_the_backend_estimate_bops():
    g = mlp_graph((16, 64, 32, 32, 5))
    res = cost(g, "bops", weight_bits=8, act_bits=8)
    be, params = hwsim.api.resolve("bops", None, {"weight_bits": "8", "act_bits": "8"})
    est = hwsim.api.cost_graph(g, be, params)
    assert isinstance(res, CostResult)
    for key in ("bops", "macs", "params"):
        assert res[key] == pytest.approx(float(est.totals[key]), rel=0, abs=0)
    # independent check of one number: the paper's linear formula summed by hand
    by_hand = sum(m * n * (8 * 8 + 8 + 8 + math.log2(n)) for n, m in ((16, 64), (64, 32), (32, 32), (32, 5)))
    by_hand += 1.5 * 5 * (8 - 1) + 1 * (5 - 1) + 5  # the final softmax over 5 classes (appendix A)
    assert res["bops"] == pytest.approx(by_hand)
    assert res.unit("bops") == "bit-op" and res.kind("bops") == "analytical"


def test_values_equal_fake_backend_and_derived_ii_seconds():
    g = mlp_graph((16, 64, 32, 5))
    obj = Objective(FakeFpga(), overrides={"reuse_factor": 4})
    res = obj.cost(g)
    est = hwsim.api.cost_graph(g, obj.backend_obj, obj.params)
    for key in ("latency_cycles", "ii_cycles", "DSP", "LUT", "DSP_pct"):
        assert res[key] == float(est.totals[key])
    assert res["DSP"] == (16 * 64 + 64 * 32 + 32 * 5) / 4
    # ii_s and latency_s derived from cycles x the clock period (5 ns)
    assert res["ii_s"] == pytest.approx(4 * 5e-9)
    assert res["latency_s"] == pytest.approx(res["latency_cycles"] * 5e-9)
    assert res.unit("ii_s") == "s" and res.unit("DSP_pct") == "%" and res.unit("latency_cycles") == "cycles"
    # a fitted constant is in use: non-count totals are labelled fitted
    assert res.kind("LUT") == "fitted"


def test_kind_declared_by_backend_wins():
    class Declared(FakeFpga):
        totals_kind: ClassVar[dict[str, str]] = {
            "DSP": "analytical",
            "LUT": "fitted",
            "latency_cycles": "analytical",
            "ii_cycles": "analytical",
            "DSP_pct": "analytical",
        }

    res = Objective(Declared()).cost(mlp_graph((8, 4)))
    assert res.kind("DSP") == "analytical" and res.kind("LUT") == "fitted"


def test_cache_hit_on_identical_fingerprint():
    obj = Objective("bops", overrides={"weight_bits": "8"})
    a = mlp_graph((16, 32, 5), name="a", seed=1)
    b = mlp_graph((16, 32, 5), name="b", seed=2)  # other weights, other name: same architecture
    assert a is not b and a.fingerprint() == b.fingerprint()
    ra = obj.cost(a)
    rb = obj.cost(b)
    assert rb is ra
    assert (obj.cache.hits, obj.cache.misses) == (1, 1)
    obj.cost(mlp_graph((16, 33, 5)))
    assert obj.cache.misses == 2
    # other parameters: another cache key
    other = Objective("bops", overrides={"weight_bits": "4"}, cache=obj.cache)
    assert other.key != obj.key
    assert other.cost(a)["bops"] < ra["bops"]
    assert obj.cache.misses == 3


def test_functional_api_caches_per_target():
    g = mlp_graph((16, 32, 5))
    r1 = cost(g, "bops", weight_bits=8)
    r2 = cost(mlp_graph((16, 32, 5), seed=7), "bops", weight_bits=8)
    assert r2 is r1
    r3 = cost(g, "bops", weight_bits=4)
    assert r3 is not r1 and r3["bops"] != r1["bops"]


def test_constraint_sign_convention():
    res = {"latency_s": 80e-9, "DSP_pct": 12.0, "ii_s": 25e-9}
    lat = Constraint("latency_s", "<=", 100e-9)
    assert lat.value(res) == pytest.approx(-0.2)  # 20 % below the bound: feasible
    assert lat.satisfied(res)
    dsp = Constraint.parse("DSP_pct <= 10")
    assert dsp.value(res) == pytest.approx(0.2) and not dsp.satisfied(res)
    assert Constraint.parse("ii_s<=25e-9").value(res) == pytest.approx(0.0)  # on the bound: feasible
    acc = Constraint("accuracy", ">=", 0.7)
    assert acc.value({"accuracy": 0.75}) < 0 < acc.value({"accuracy": 0.6})
    assert Constraint("x", "<=", 0).value({"x": 3.0}) == 3.0
    with pytest.raises(ConfigError):
        Constraint("latency_s", "<", 1.0)
    with pytest.raises(ConfigError):
        Constraint.parse("latency_s = 3")
    with pytest.raises(ConfigError, match="nope"):
        Constraint("nope", "<=", 1).value(res)


def test_constraints_in_results():
    obj = Objective(FakeFpga(), constraints=("DSP<=1000", Constraint("ii_s", "<=", 25e-9)))
    small = obj.cost(mlp_graph((8, 4)))
    big = obj.cost(mlp_graph((64, 64, 64)))
    assert small.feasible and all(v <= 0 for v in small.constraints.values())
    assert not big.feasible and big.constraints["DSP<=1000"] > 0


def test_unsupported_candidate_is_a_typed_error_not_a_sentinel():
    g = graph_with_opaque()
    with pytest.raises(UnsupportedCandidate) as ei:
        cost(g, "bops")
    assert isinstance(ei.value, HwsimError) and "weird" in str(ei.value)
    # the fake backend does not cost batchnorm-free conv graphs: unsupported op named
    res = cost_many([mlp_graph((8, 4)), g], "bops", errors="return")
    assert isinstance(res[0], CostResult)
    assert isinstance(res[1], UnsupportedCandidate)
    with pytest.raises(UnsupportedCandidate):
        cost_many([mlp_graph((8, 4)), g], "bops")
    with pytest.raises(ConfigError):
        cost_many([g], "bops", errors="ignore")
    assert issubclass(InfeasibleCandidate, CandidateError) and issubclass(CandidateError, HwsimError)


def test_unknown_backend_option_is_config_error():
    with pytest.raises(ConfigError, match="no_such"):
        cost(mlp_graph((8, 4)), "bops", no_such=3)


def test_units_by_name():
    assert unit_of("latency_s") == "s" and unit_of("energy_per_inference_j") == "J"
    assert unit_of("BRAM_18K") == "BRAM_18K" and unit_of("throughput_per_s") == "1/s"


def test_result_to_dict_round_trip():
    res = cost(mlp_graph((8, 4)), "bops")
    d = res.to_dict()
    assert d["metrics"]["bops"]["value"] == res["bops"] and d["metrics"]["bops"]["unit"] == "bit-op"
    assert d["fingerprint"] == mlp_graph((8, 4)).fingerprint()


def test_torch_module_and_direct_ir_share_one_cache_entry():
    pytest.importorskip("onnx")
    from hwsim.search import SearchSpace

    sp = SearchSpace.load("deepsets")
    arch = sp.build(sp.sample_random(4))
    obj = Objective("bops", overrides={"weight_bits": "8", "act_bits": "8"})
    from_module = obj.cost(sp.to_torch(arch).eval(), example_input=sp.example_input(1))
    direct = obj.cost(sp.to_graph(arch))
    assert direct is from_module and obj.cache.hits == 1
