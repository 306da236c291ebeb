"""CLI behaviour: contract output, formats, and one `error:` line + exit 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import mlp_graph

from hwsim.cli import main


@pytest.fixture
def graph_file(tmp_path):
    p = tmp_path / "mlp.json"
    p.write_text(mlp_graph().dumps())
    return p


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    assert "Traceback" not in err[0]
    return err[0]


def test_estimate_json(graph_file, capsys):
    assert main(["estimate", str(graph_file), "--backend", "bops", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["totals"]["macs"] == 16 * 64 + 64 * 32 + 32 * 32 + 32 * 5
    assert d["params"]["weight_bits"]["source"]


def test_estimate_csv_and_table(graph_file, capsys):
    assert main(["estimate", str(graph_file), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("name,op")
    assert len(lines) == 1 + 8
    assert main(["estimate", str(graph_file)]) == 0
    assert "totals" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, culprit",
    [
        (["estimate", "does/not/exist.onnx"], "does/not/exist.onnx"),
        (["estimate", "{graph}", "--backend", "nosuch"], "nosuch"),
        (["estimate", "{graph}", "--set", "weight_bits=abc"], "weight_bits"),
        (["estimate", "{graph}", "--set", "bogus=1"], "bogus"),
        (["estimate", "{graph}", "--set", "novalue"], "novalue"),
        (["estimate", "{graph}", "--config", "missing.yaml"], "missing.yaml"),
        (["estimate", "{graph}", "--format", "xml"], "xml"),
        (["inspect", "{graph}", "--passes", "nosuchpass"], "nosuchpass"),
        (["estimate", "{graph}", "--profile", "nope.json"], "nope.json"),
    ],
)
def test_bad_input_one_error_line(args, culprit, graph_file, capsys):
    args = [a.replace("{graph}", str(graph_file)) for a in args]
    assert main(args) == 2
    line = _one_error_line(capsys)
    assert culprit in line


def test_corrupt_graph_json(tmp_path, capsys):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    assert main(["estimate", str(p)]) == 2
    assert str(p) in _one_error_line(capsys)


def test_strict_unsupported(tmp_path, capsys):
    from conftest import graph_with_opaque

    p = tmp_path / "o.json"
    p.write_text(graph_with_opaque().dumps())
    assert main(["estimate", str(p), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["unsupported"][0]["name"] == "weird"
    assert main(["estimate", str(p), "--strict"]) == 2
    assert "weird" in _one_error_line(capsys)


def test_inspect_json_and_passes(graph_file, capsys):
    assert main(["inspect", str(graph_file), "--format", "json", "--passes", "fuse_activations"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["ops"]) == 5  # 4 dense (3 relu fused) + softmax
    assert len(d["passes"]) == 3


def test_backends_lists_registered(capsys):
    assert main(["backends", "--format", "json"]) == 0
    names = {b["name"] for b in json.loads(capsys.readouterr().out)}
    assert "bops" in names


def test_console_script_no_traceback(tmp_path):
    p = tmp_path / "x.onnx"
    p.write_bytes(b"\x00\x01garbage")
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "estimate", str(p)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error:") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
