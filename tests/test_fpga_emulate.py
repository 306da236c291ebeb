"""fpga backend, ``--set emulate_missing=true``: ops hls4ml 1.3.0 has no implementation for
(GELU/erf, LayerNorm over conv feature maps or vectors) costed the way hls4ml builds the
closest layers — a GELU as a lookup-table activation exactly like its sigmoid/tanh, a
LayerNorm as its LayerNormalization algorithm with n = the normalised elements and rows = the
rest — and flagged. Off by default: then nothing changes and these ops stay unsupported."""

from __future__ import annotations

import json
import math

import pytest

from hwsim.api import cost_graph
from hwsim.backends.fpga import FpgaBackend
from hwsim.backends.fpga.graphs import mlp
from hwsim.errors import ConfigError, UnsupportedOpError
from hwsim.ir import FLOAT32_OP, Attrs, Op, OpGraph, TensorSpec

ON = {"emulate_missing": "true"}


@pytest.fixture(scope="module")
def be() -> FpgaBackend:
    return FpgaBackend()


def _est(be, g, ov=None, config=None):
    return cost_graph(g, be, be.resolve_params(config, dict(ov or {}), profile={}))


def _act_graph(fn: str, shape=(8,), name="a") -> OpGraph:
    x, y = TensorSpec("x", tuple(shape)), TensorSpec("y", tuple(shape))
    attrs = {"function": fn} if fn != "gelu" else {"function": fn, "approximate": "none"}
    return OpGraph([Op(name, "activation", (x,), (y,), Attrs(attrs), FLOAT32_OP)], [x], ["y"], name=name)


def _ln_graph(shape, axis, affine=True, name="ln") -> OpGraph:
    x, y = TensorSpec("x", tuple(shape)), TensorSpec("y", tuple(shape))
    attrs = {"axis": axis, "size": int(math.prod(shape[axis:])), "epsilon": 1e-5, "affine": affine}
    return OpGraph([Op(name, "layernorm", (x,), (y,), Attrs(attrs), FLOAT32_OP)], [x], ["y"], name=name)


def _chain() -> OpGraph:
    """dense(16 -> 32) -> GELU -> LayerNorm over the 32-vector -> dense(32 -> 4)."""
    t = [TensorSpec("x", (16,)), TensorSpec("h", (32,)), TensorSpec("g", (32,)), TensorSpec("n", (32,)), TensorSpec("y", (4,))]
    ops = [
        Op("fc1", "dense", (t[0],), (t[1],), Attrs({"n_in": 16, "n_out": 32, "bias": True}), FLOAT32_OP),
        Op("act", "activation", (t[1],), (t[2],), Attrs({"function": "gelu", "approximate": "none"}), FLOAT32_OP),
        Op("norm", "layernorm", (t[2],), (t[3],), Attrs({"axis": 0, "size": 32, "epsilon": 1e-5, "affine": True}), FLOAT32_OP),
        Op("fc2", "dense", (t[3],), (t[4],), Attrs({"n_in": 32, "n_out": 4, "bias": True}), FLOAT32_OP),
    ]
    return OpGraph(ops, [t[0]], ["y"], name="chain")


METRICS = ("latency_cycles", "ii_cycles", "DSP", "LUT", "FF", "BRAM_18K")


def _vals(row):
    return {k: row[k] for k in METRICS}


# ----------------------------------------------------------------------------- off (default)


def test_param_default_off_with_assumption_source(be):
    p = be.default_params()["emulate_missing"]
    assert p.value is False
    assert p.source.startswith("assumption:")
    assert be.resolve_params(None, ON, profile={})["emulate_missing"].value is True
    with pytest.raises(ConfigError, match="emulate_missing"):
        be.resolve_params(None, {"emulate_missing": "maybe"}, profile={})


def test_unsupported_by_default(be):
    est = _est(be, _chain())
    assert {u["name"] for u in est.unsupported} == {"act", "norm"}
    assert not any("emulated" in r for r in est.layers)
    assert not any("emulate_missing" in w for w in est.warnings)


def test_default_costs_unchanged_by_the_option_when_nothing_is_missing(be):
    """A graph hls4ml builds entirely: the option changes no number, row or warning."""
    g = mlp([16, 64, 32, 5], final="softmax", name="m")
    for ov in ({}, {"reuse_factor": "4", "strategy": "Resource"}, {"io_type": "io_stream"}):
        off, on = _est(be, g, ov), _est(be, g, {**ov, **ON})
        assert off.layers == on.layers
        assert {k: v for k, v in off.totals.items()} == {k: v for k, v in on.totals.items()}
        assert off.warnings == on.warnings


# ----------------------------------------------------------------------------- on


def test_costed_and_flagged_with_the_option(be):
    est = _est(be, _chain(), ON)
    assert not est.unsupported
    rows = {r["name"]: r for r in est.layers}
    assert set(rows) >= {"fc1", "act", "norm", "fc2"}
    assert "GELU" in rows["act"]["emulated"] and "costed as" in rows["act"]["emulated"]
    assert "sigmoid/tanh" in rows["act"]["emulated"]
    assert "LayerNormalization" in rows["norm"]["emulated"] and "n = 32" in rows["norm"]["emulated"]
    assert "emulated" not in rows["fc1"] and "emulated" not in rows["fc2"]
    flagged = [w for w in est.warnings if "emulate_missing" in w]
    assert len(flagged) == 1 and "act" in flagged[0] and "norm" in flagged[0]
    # the layers hls4ml does build cost what they cost without the option (same input types)
    off = {r["name"]: r for r in _est(be, _chain()).layers}
    assert _vals(rows["fc1"]) == _vals(off["fc1"])
    # totals include the emulated layers
    assert est.totals["DSP"] > sum(off[n]["DSP"] for n in off)


@pytest.mark.parametrize(
    "shape,config",
    [
        ((8,), None),
        ((64, 7, 7), None),
        (
            (16, 5),
            {
                "Model": {"Precision": "ap_fixed<10,4>"},
                "LayerType": {"Activation": {"table_t": "ap_fixed<12,4>", "TableSize": 2048}},
            },
        ),
    ],
)
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_gelu_costs_the_same_as_tanh(be, shape, config, io_type):
    """The emulation is hls4ml's sigmoid/tanh table activation: at the same size and types a
    GELU costs what a tanh costs (latency, II, DSP, LUT, FF, BRAM), in either IOType."""
    ov = {**ON, "io_type": io_type}
    gelu = _est(be, _act_graph("gelu", shape), ov, config).layers
    tanh = _est(be, _act_graph("tanh", shape), ov, config).layers
    assert len(gelu) == len(tanh)
    g_row = [r for r in gelu if r["name"] == "a"][0]
    t_row = [r for r in tanh if r["name"] == "a"][0]
    assert _vals(g_row) == _vals(t_row)
    assert g_row["result_precision"] == t_row["result_precision"]
    assert g_row["BRAM_18K"] > 0 or g_row["LUT"] > 0


def test_gelu_table_follows_the_layer_config(be):
    """A larger table (TableSize) costs more BRAM, as for tanh; the text names the table."""
    small = _est(be, _act_graph("gelu", (64,)), ON).layers[0]
    big_cfg = {"LayerName": {"a": {"TableSize": 8192}}}
    big = _est(be, _act_graph("gelu", (64,)), ON, big_cfg).layers[0]
    assert big["BRAM_18K"] > small["BRAM_18K"]
    assert "8192-entry" in big["emulated"] and "1024-entry" in small["emulated"]


def test_erf_emulated_too_but_not_unbounded_functions(be):
    est = _est(be, _act_graph("erf"), ON)
    assert not est.unsupported and "erf" in est.layers[0]["op"]
    for fn in ("exp", "sqrt", "reciprocal"):
        assert _est(be, _act_graph(fn), ON).unsupported, fn


@pytest.mark.parametrize("shape,axis", [((4, 2, 3), 1), ((8, 3, 3), 0), ((12,), 0), ((3, 4, 5), 2)])
@pytest.mark.parametrize("rf", [1, 4])
def test_layernorm_is_hls4ml_layernorm_on_rows_by_n(be, shape, axis, rf):
    """A LayerNorm normalising the axes from ``axis`` on costs what hls4ml's LayerNormalization
    of a (rows, n) input costs, n = the normalised elements and rows = the rest."""
    n = int(math.prod(shape[axis:]))
    rows = int(math.prod(shape)) // n
    ov = {**ON, "reuse_factor": str(rf)}
    emu = _est(be, _ln_graph(shape, axis), ov)
    ref = _est(be, _ln_graph((rows, n), 1), {"reuse_factor": str(rf)})
    assert not emu.unsupported and not ref.unsupported
    e_row = [r for r in emu.layers if r["name"] == "ln"][0]
    r_row = [r for r in ref.layers if r["name"] == "ln"][0]
    assert _vals(e_row) == _vals(r_row)
    assert "emulated" in e_row and "emulated" not in r_row
    assert f"n = {n} normalised elements x {rows} row(s)" in e_row["emulated"]


def test_layernorm_without_affine_drops_the_scale_products(be):
    """layernorm_1d's last step is diff * 1/sqrt * scale + bias; without the affine weights
    the n scale products (one DSP48E2 each: 22-bit x 16-bit <= 27x18) and the bias adders go."""
    aff = [r for r in _est(be, _ln_graph((4, 2, 3), 1, True), ON).layers if r["name"] == "ln"][0]
    noaff = [r for r in _est(be, _ln_graph((4, 2, 3), 1, False), ON).layers if r["name"] == "ln"][0]
    assert aff["DSP"] - noaff["DSP"] == 6
    assert noaff["LUT"] < aff["LUT"]
    assert "without the affine" in noaff["emulated"]


def test_emulated_layernorm_io_stream_fails_like_hls4ml(be):
    with pytest.raises(UnsupportedOpError, match="io_parallel"):
        _est(be, _ln_graph((8, 3, 3), 0), {**ON, "io_type": "io_stream"})


def test_plan_unaffected(be):
    """plan() (what check-hls4ml compares with hls4ml) still leaves the emulated ops out:
    they are not claimed to match anything hls4ml builds."""
    g = _chain()
    off = be.plan(g, be.resolve_params(None, {}, profile={}))
    on = be.plan(g, be.resolve_params(None, ON, profile={}))
    assert [lp.name for lp in on.layers] == [lp.name for lp in off.layers]
    assert "act" not in {lp.name for lp in on.layers} and "norm" not in {lp.name for lp in on.layers}
    assert any("'act' is not implemented by hls4ml" in w for w in on.warnings)


def test_cli_set_emulate_missing(tmp_path, capsys):
    from hwsim.cli import main

    p = tmp_path / "chain.json"
    p.write_text(_chain().dumps())
    assert main(["estimate", str(p), "--backend", "fpga", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {u["name"] for u in d["unsupported"]} == {"act", "norm"}
    assert main(["estimate", str(p), "--backend", "fpga", "--format", "json", "--set", "emulate_missing=true"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert not d["unsupported"]
    assert [r["name"] for r in d["layers"] if r.get("emulated")] == ["act", "norm"]
    assert d["params"]["emulate_missing"]["value"] is True
    assert main(["estimate", str(p), "--backend", "fpga", "--set", "emulate_missing=perhaps"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "emulate_missing" in err[0]


def test_search_objective_costs_braggnn_candidates_with_the_option():
    """nac-opt's BraggNN space (GELU, LayerNorm over conv maps): unsupported candidates by
    default, costed with emulate_missing=true."""
    from hwsim.search import Objective, SearchSpace
    from hwsim.search.objective import CandidateError

    sp = SearchSpace.load("braggnn_nacopt")
    g = sp.to_graph(sp.sample_random(1))
    kinds = {(op.kind, op.function) for op in g.ops()}
    assert ("activation", "gelu") in kinds or ("layernorm", "") in kinds
    ov = {"precision": "ap_fixed<8,3>", "reuse_factor": "4"}
    with pytest.raises(CandidateError):
        Objective("fpga", overrides=ov).cost(g)
    res = Objective("fpga", overrides={**ov, **ON}).cost(g)
    assert res["latency_cycles"] > 0 and res["DSP"] > 0
