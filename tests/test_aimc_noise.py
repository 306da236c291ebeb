"""Accuracy under PCM noise and drift (aihwkit torch tiles): determinism, configuration, CLI."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest

import hwsim
from hwsim.backends.aimc.noise import label_time, parse_times
from hwsim.cli import main
from hwsim.errors import ConfigError, OptionalDependencyError

YEAR = 365.25 * 86400


def test_parse_times():
    assert parse_times("25s,1h,1d,1y") == [25.0, 3600.0, 86400.0, YEAR]
    assert parse_times("10m, 3600") == [600.0, 3600.0]
    assert label_time(86400.0) == "1d" and label_time(25.0) == "25s"
    for bad in ("1x", "", "h"):
        with pytest.raises(ConfigError, match="t-inference"):
            parse_times(bad)


def test_missing_aihwkit_names_the_install(monkeypatch):
    from hwsim.backends.aimc import noise

    real_import = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("aihwkit"):
            raise ImportError("No module named 'aihwkit'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(OptionalDependencyError, match="pip install --no-deps aihwkit"):
        noise.rpu_config({"tile_rows": 512})


pytest.importorskip("aihwkit")


def small_graph():
    """A small Deep SVDD (weights scaled 1/sqrt(fan-in)): 57 -> 32 -> 16 -> 16 -> 8, distance."""
    from hwsim.backends.aimc.reproduce import svdd_graph

    return svdd_graph(8, hidden=(32, 16, 16))


def test_rpu_config_follows_the_chip():
    from hwsim.backends.aimc.noise import rpu_config

    _, p = hwsim.resolve("aimc")
    c = rpu_config(p)
    assert c.mapping.max_input_size == 512 and c.mapping.max_output_size == 512
    assert c.forward.inp_res == pytest.approx(1 / 254)  # 8-bit signed DAC
    assert c.forward.out_res == pytest.approx(1 / 2046)  # two 10-bit unsigned ADC outputs
    assert c.drift_compensation is not None
    _, p = hwsim.resolve("aimc", overrides={"chip": "hermes"})
    c = rpu_config(p, drift_compensation=False)
    assert c.mapping.max_input_size == 256 and c.drift_compensation is None


def test_identical_seeds_identical_results():
    from hwsim.backends.aimc.noise import evaluate_noise

    g = small_graph()
    _, p = hwsim.resolve("aimc")
    X = np.random.default_rng(0).normal(size=(64, 57)).astype(np.float32)
    kw = {"t_inference": [3600.0, YEAR], "seeds": [0, 1]}
    a = evaluate_noise(g, p, X, **kw)
    b = evaluate_noise(g, p, X, **kw)
    assert a["per_seed"] == b["per_seed"]
    c = evaluate_noise(g, p, X, t_inference=[3600.0, YEAR], seeds=[2, 3])
    assert c["per_seed"] != a["per_seed"]
    assert a["metric"] == "mse" and a["digital"] == 0.0
    for row in a["rows"]:
        # noisy but close to the digital network
        assert 0 < row["mean"] and row["rel_rmse_mean"] < 0.5
    assert a["analog_tiles"] == 4


def test_labels_give_accuracy():
    from hwsim.backends.aimc.noise import evaluate_noise

    g = small_graph()
    _, p = hwsim.resolve("aimc")
    X = np.random.default_rng(1).normal(size=(50, 57)).astype(np.float32)
    y = np.random.default_rng(2).integers(0, 8, 50)
    from conftest import mlp_graph

    g = mlp_graph((57, 32, 8))
    r = evaluate_noise(g, p, X, y, t_inference=[86400.0], seeds=2)
    assert r["metric"] == "accuracy" and 0 <= r["rows"][0]["mean"] <= 1
    with pytest.raises(ConfigError, match="labels"):
        evaluate_noise(g, p, X, y[:10], t_inference=[1.0], seeds=1)
    with pytest.raises(ConfigError, match="data"):
        evaluate_noise(g, p, X[:, :5], t_inference=[1.0], seeds=1)


def test_cli_noise_json_and_errors(tmp_path, capsys):
    gpath = tmp_path / "g.json"
    gpath.write_text(small_graph().dumps())
    # weights do not survive the JSON round trip: a clear error, not a traceback
    X = np.random.default_rng(0).normal(size=(20, 57)).astype(np.float32)
    xp = tmp_path / "X.npy"
    np.save(xp, X)
    assert main(["estimate", str(gpath), "--backend", "aimc", "--noise", "--data", str(xp)]) == 2
    assert capsys.readouterr().err.startswith("error:")
    bad = tmp_path / "bad.npy"
    bad.write_text("not numpy")
    assert main(["estimate", "jet-mlp", "--backend", "aimc", "--noise", "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --data") and len(err.strip().splitlines()) == 1
    assert main(["estimate", "jet-mlp", "--backend", "aimc", "--noise"]) == 2
    assert "--data" in capsys.readouterr().err


def test_cli_noise_on_zoo_model(tmp_path, capsys):
    zoo = pytest.importorskip("hwsim.frontends.zoo")
    if "jet-mlp" not in zoo.names():
        pytest.skip("zoo jet-mlp not present")
    xp, yp = tmp_path / "X.npy", tmp_path / "y.npy"
    np.save(xp, np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32))
    np.save(yp, np.random.default_rng(1).integers(0, 5, 40))
    argv = [
        "estimate",
        "jet-mlp",
        "--backend",
        "aimc",
        "--noise",
        "--data",
        str(xp),
        "--labels",
        str(yp),
        "--t-inference",
        "1h,1d",
        "--seeds",
        "2",
        "--format",
        "json",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["t"] for r in out["noise"]] == ["1h", "1d"]
    assert out["noise"][0]["metric"] == "accuracy" and out["noise"][0]["n_seeds"] == 2
    assert out["totals"]["tiles"] >= 1


@pytest.mark.slow
def test_digits_accuracy_after_one_day():
    from hwsim.backends.aimc.digits import run

    res = run(seeds=5)
    digital = res["comp"]["digital"]
    assert digital > 0.95
    day = next(r for r in res["comp"]["rows"] if r["t"] == "1d")
    assert digital - day["mean"] <= 0.015
    year_c = next(r for r in res["comp"]["rows"] if r["t"] == "1y")
    year_n = next(r for r in res["nocomp"]["rows"] if r["t"] == "1y")
    assert year_c["mean"] >= year_n["mean"] - 0.005  # compensation does not hurt
