"""Report parsers, tested on the raw files shipped under calibration/reports (hls4ml's own
report fixture, its CI baselines, the wa-hls4ml table) and on damaged copies of them.

Expected numbers are read off the raw report text (quoted in comments), and the parsers are
cross-checked against hls4ml's own ``parse_vivado_report`` on the same files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hwsim.calibration.parsers import (
    parse_csynth_rpt,
    parse_csynth_xml,
    parse_design_csv,
    parse_hls4ml_json,
    parse_layer_csv,
    parse_report,
    parse_report_dir,
    parse_vivado_utilization,
    records_from_hls4ml_dict,
)
from hwsim.errors import ReportError

ROOT = Path(__file__).resolve().parent.parent / "calibration" / "reports"
FIX = ROOT / "hls4ml-report-fixture"
CI = ROOT / "hls4ml-ci-baselines"
WA = ROOT / "wa-hls4ml" / "dense_2layer_sample.csv"


def test_csynth_xml_vivado_top() -> None:
    r = parse_csynth_xml(FIX / "myproject_csynth.xml")
    # <Best-caseLatency>10, <Interval-min>8, <DSP48E>73, <FF>7969, <LUT>2532, <BRAM_18K>0
    assert (r.latency_best, r.latency_worst, r.interval_min, r.interval_max) == (10, 10, 8, 8)
    assert (r.DSP, r.LUT, r.FF, r.BRAM_18K, r.URAM) == (73, 2532, 7969, 0, 0)
    assert r.part == "xc7z020-clg400-1" and r.model == "myproject"
    assert r.clock_target_ns == 5.0 and r.clock_estimated_ns == pytest.approx(4.049)
    assert r.tool == "Vivado HLS" and r.tool_version == "2020.1"
    assert r.kind == "hls_estimate"
    assert r.available["DSP"] == 220 and r.available["LUT"] == 53200
    assert r.metric("ii_cycles") == 8 and r.metric_range("latency_cycles") == (10, 10)


def test_csynth_xml_vitis_dsp_tag(tmp_path: Path) -> None:
    """Vitis HLS names the DSP count <DSP>, not <DSP48E>."""
    text = (FIX / "myproject_csynth.xml").read_text().replace("DSP48E>", "DSP>").replace("<Version>2020.1", "<Version>2023.2")
    text = text.replace("<DSP>73</DSP>", "<DSP>41</DSP>")
    (tmp_path / "myproject_csynth.xml").write_text(text)
    r = parse_csynth_xml(tmp_path / "myproject_csynth.xml")
    assert r.DSP == 41 and r.tool == "Vitis HLS" and r.tool_version == "2023.2"


def test_csynth_rpt_per_instance_rows() -> None:
    r = parse_csynth_rpt(FIX / "myproject_csynth.rpt")
    assert (r.latency_best, r.interval_min, r.DSP, r.FF, r.LUT) == (10, 8, 73, 7969, 2532)
    assert r.tool == "Vivado HLS" and r.part == "xc7z020-clg400-1" and r.extra["pipeline_type"] == "dataflow"
    by = {m.instance.split("_")[0]: m for m in r.modules}
    assert set(by) == {"dense", "relu"}
    d, a = by["dense"], by["relu"]
    # |dense...U0 | ... | 7| 7| 35.000 ns | 35.000 ns | 7| 7| none |  and  | 0| 73| 7860| 2134| 0|
    assert (d.latency_best, d.latency_worst, d.interval_min, d.pipeline_type) == (7, 7, 7, "none")
    assert (d.DSP, d.FF, d.LUT, d.BRAM_18K) == (73, 7860, 2134, 0)
    assert (a.latency_best, a.interval_min, a.FF, a.LUT) == (2, 1, 84, 256)
    # independent check: the report's own "Instance" row of the utilization summary
    assert sum(m.FF for m in r.modules) == 7944 and sum(m.LUT for m in r.modules) == 2390


def test_xml_and_rpt_agree() -> None:
    x, t = parse_csynth_xml(FIX / "myproject_csynth.xml"), parse_csynth_rpt(FIX / "myproject_csynth.rpt")
    for f in (
        "latency_best",
        "latency_worst",
        "interval_min",
        "interval_max",
        "DSP",
        "LUT",
        "FF",
        "BRAM_18K",
        "part",
        "clock_target_ns",
    ):
        assert getattr(x, f) == getattr(t, f), f


def test_vivado_synth_report_7series() -> None:
    r = parse_vivado_utilization(FIX / "vivado_synth.rpt")
    # | Slice LUTs* | 1526 |, | Slice Registers | 2428 |, | Block RAM Tile | 0 |, | DSPs | 66 |
    assert (r.LUT, r.FF, r.DSP, r.BRAM_18K) == (1526, 2428, 66, 0)
    assert r.kind == "post_synthesis" and r.tool == "Vivado" and r.tool_version == "2020.1"
    assert r.available["LUT"] == 53200 and r.available["BRAM_18K"] == 280  # 140 tiles
    assert r.latency_best is None  # post-synthesis has no cycle counts


def test_vivado_synth_ultrascale_bram_tiles(tmp_path: Path) -> None:
    """UltraScale names rows 'CLB LUTs'/'CLB Registers'; Block RAM Tile counts 36 Kb tiles,
    halves allowed: 3.5 tiles = 7 BRAM_18K."""
    text = (FIX / "vivado_synth.rpt").read_text()
    text = text.replace("| Slice LUTs*                | 1526 |", "| CLB LUTs*                  | 9100 |")
    text = text.replace("| Slice Registers            | 2428 |", "| CLB Registers              | 8000 |")
    text = text.replace("| Block RAM Tile |    0 |", "| Block RAM Tile |  3.5 |")
    p = tmp_path / "vivado_synth.rpt"
    p.write_text(text)
    r = parse_vivado_utilization(p)
    assert (r.LUT, r.FF, r.BRAM_18K, r.DSP) == (9100, 8000, 7.0, 66)


def test_hierarchical_util_rpt(tmp_path: Path) -> None:
    text = """Copyright 1986-2020 Xilinx, Inc. All Rights Reserved.
| Tool Version : Vivado v.2020.1 (lin64) Build 2902540
| Command      : report_utilization -hierarchical -file util.rpt
| Design       : design_1_wrapper
| Device       : xcu250figd2104-2L
| Design State : Routed
1. Utilization by Hierarchy
+-----------+--------+------------+------------+---------+------+-------+--------+--------+------+--------------+
|  Instance |  Module| Total LUTs | Logic LUTs | LUTRAMs | SRLs |  FFs  | RAMB36 | RAMB18 | URAM | DSP48 Blocks |
+-----------+--------+------------+------------+---------+------+-------+--------+--------+------+--------------+
| (top)     | design | 12000(0.69%) | 11000(0.64%) | 500(0.1%) | 500(0.1%) | 9000(0.26%) | 3(0.1%) | 5(0.1%) | 0(0.0%) | 250(2.0%) |
+-----------+--------+------------+------------+---------+------+-------+--------+--------+------+--------------+
"""
    p = tmp_path / "util.rpt"
    p.write_text(text)
    r = parse_vivado_utilization(p)
    assert r.kind == "post_implementation"
    assert (r.LUT, r.FF, r.BRAM_18K, r.DSP, r.URAM) == (12000, 9000, 2 * 3 + 5, 250, 0)


def test_report_dir_keeps_estimates_and_synthesis_apart() -> None:
    recs = parse_report_dir(FIX)
    kinds = {r.kind: r for r in recs}
    assert set(kinds) == {"hls_estimate", "post_synthesis"}
    est, syn = kinds["hls_estimate"], kinds["post_synthesis"]
    assert est.LUT == 2532 and syn.LUT == 1526  # different quantities, never merged
    assert est.modules and not syn.modules
    assert syn.part == est.part == "xc7z020-clg400-1"  # Vivado's '7z020clg400-1' recognised


def test_ci_baseline_json_tool_from_layout() -> None:
    (r,) = parse_hls4ml_json(
        CI / "Vitis" / "2024.1" / "test_keras_api_test_conv2d_io_parallel-Vitis-Resource-same-channels_last.json"
    )
    # "BestLatency": "52", "IntervalMin": "53", "DSP": "792", "FF": "33150", "LUT": "75413"
    assert (r.latency_best, r.interval_min, r.DSP, r.FF, r.LUT, r.BRAM_18K) == (52, 53, 792, 33150, 75413, 0)
    assert r.tool == "Vitis HLS" and r.tool_version == "2024.1" and r.kind == "hls_estimate"


def test_every_ci_baseline_parses() -> None:
    files = sorted(CI.glob("*/*/*.json"))
    assert len(files) == 81
    for f in files:
        recs = parse_hls4ml_json(f)
        assert len(recs) == 1
        if "oneAPI" in f.parts:
            assert recs[0].LUT is None and "intel_alut" in recs[0].extra  # Intel units kept apart
        else:
            assert recs[0].LUT is not None and recs[0].latency_best is not None


def test_hls4ml_dict_vivado_synth_bram_is_tiles() -> None:
    d = {
        "CSynthesisReport": {
            "BestLatency": "5",
            "WorstLatency": "6",
            "IntervalMin": "1",
            "IntervalMax": "1",
            "DSP": "10",
            "LUT": "900",
            "FF": "800",
            "BRAM_18K": "4",
            "URAM": "0",
        },
        "VivadoSynthReport": {"LUT": "700", "FF": "600", "BRAM_18K": "2.5", "DSP48E": "9", "URAM": "0"},
    }
    recs = {r.kind: r for r in records_from_hls4ml_dict(d, "x.json", "x")}
    assert recs["hls_estimate"].BRAM_18K == 4
    assert recs["post_synthesis"].BRAM_18K == 5.0  # 2.5 Block RAM Tiles
    assert recs["post_synthesis"].DSP == 9 and recs["post_synthesis"].LUT == 700
    assert recs["hls_estimate"].id != recs["post_synthesis"].id


def _fake_hls4ml_project(tmp_path: Path) -> Path:
    prj = tmp_path / "prj"
    sol = prj / "myproject_prj" / "solution1" / "syn" / "report"
    sol.mkdir(parents=True)
    (prj / "project.tcl").write_text('set project_name "myproject"\nset backend "vivado"\n')
    shutil.copy(FIX / "vivado_hls.app", prj / "myproject_prj" / "vivado_hls.app")
    shutil.copy(FIX / "myproject_csynth.xml", sol / "myproject_csynth.xml")
    shutil.copy(FIX / "myproject_csynth.rpt", sol / "myproject_csynth.rpt")
    shutil.copy(FIX / "vivado_synth.rpt", prj / "vivado_synth.rpt")
    return prj


def test_agrees_with_hls4ml_parse_vivado_report(tmp_path: Path) -> None:
    """hls4ml's own parser on the same files gives the same numbers (BRAM: tiles x 2)."""
    report = pytest.importorskip("hls4ml.report")
    prj = _fake_hls4ml_project(tmp_path)
    d = report.parse_vivado_report(str(prj))
    via_hls4ml = {r.kind: r for r in records_from_hls4ml_dict(json.loads(json.dumps(d)), "d", "d")}
    direct = {r.kind: r for r in parse_report_dir(prj)}
    for kind in ("hls_estimate", "post_synthesis"):
        for f in ("latency_best", "interval_max", "DSP", "LUT", "FF", "BRAM_18K"):
            assert getattr(via_hls4ml[kind], f) == getattr(direct[kind], f), (kind, f)


def test_design_csv_wa_hls4ml() -> None:
    recs = parse_design_csv(WA, part="xcu250-figd2104-2L-e", tool="Vitis HLS", tool_version="2023.2")
    assert len(recs) == 938 and len({r.id for r in recs}) == 938
    r = recs[0]
    # first data row: 80-24-120, 6 bit, rf 1024: 1923,1925,1923,1925,BRAM 1,DSP 0,FF 10075,LUT 15596
    assert r.model == "80-24-120" and r.identity["prec"] == 6 and r.identity["rf"] == 1024
    assert (r.latency_best, r.latency_worst, r.interval_min, r.DSP, r.FF, r.LUT, r.BRAM_18K) == (
        1923,
        1925,
        1923,
        0,
        10075,
        15596,
        1,
    )
    assert r.part == "xcu250-figd2104-2L-e" and r.kind == "hls_estimate"
    sub = parse_design_csv(WA, rows=[1, 2])
    assert [x.identity["row"] for x in sub] == [1, 2]


def test_layer_csv_tutorial() -> None:
    r = parse_layer_csv(ROOT / "tutorial-cnn" / "tutorial-cnn-16bit.csv")
    # top,32x32,3,10,1044,5414,52549,245466
    assert (r.latency_best, r.DSP, r.FF, r.LUT) == (1044, 5414, 52549, 245466)
    assert len(r.modules) == 13 and r.modules[0].instance == "conv_0" and r.modules[0].DSP == 208


@pytest.mark.parametrize(
    "name,content",
    [
        ("myproject_csynth.xml", None),  # truncated below
        ("broken_csynth.xml", "<profile><UserAssignments></UserAssignments></profile>"),
        ("myproject_csynth.rpt", "== Vivado HLS Report for 'x'\nnothing else\n"),
        ("vivado_synth.rpt", "| Tool Version : Vivado v.2020.1\nreport_utilization\n| Slice LUTs | 12 | 0 | 100 | 1 |\n"),
        ("report.json", "{not json"),
        ("report.json", '{"Other": {}}'),
        ("table.csv", "model_string,BestLatency_hls\n1-2,3\n"),
        ("notes.txt", "hello"),
    ],
)
def test_corrupt_reports_name_the_file(tmp_path: Path, name: str, content: str | None) -> None:
    p = tmp_path / name
    if content is None:
        text = (FIX / "myproject_csynth.xml").read_text()
        content = text[: len(text) // 3]
    p.write_text(content)
    with pytest.raises(ReportError) as ei:
        parse_report(p)
    assert str(p) in str(ei.value)


def test_truncated_csv_row(tmp_path: Path) -> None:
    lines = WA.read_text().splitlines()
    p = tmp_path / "wa.csv"
    p.write_text("\n".join(lines[:5] + [lines[5][:40]]) + "\n")
    with pytest.raises(ReportError, match="wa.csv"):
        parse_design_csv(p)


def test_missing_report(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="not found"):
        parse_report(tmp_path / "nope_csynth.xml")


def test_vitis_per_module_xml_attached(tmp_path: Path) -> None:
    """Vitis HLS writes <module>_csynth.xml beside the top report: they become module rows."""
    top = (FIX / "myproject_csynth.xml").read_text().replace("DSP48E>", "DSP>")
    (tmp_path / "hls.app").write_text("<project/>")
    (tmp_path / "myproject_csynth.xml").write_text(top)
    mod = top.replace("<TopModelName>myproject</TopModelName>", "<TopModelName>dense_layer2</TopModelName>")
    mod = mod.replace("<Best-caseLatency>10</Best-caseLatency>", "<Best-caseLatency>7</Best-caseLatency>").replace(
        "<LUT>2532</LUT>", "<LUT>2134</LUT>"
    )
    (tmp_path / "dense_layer2_csynth.xml").write_text(mod)
    (rec,) = parse_report_dir(tmp_path)
    assert rec.model == "myproject" and rec.tool == "Vitis HLS" and rec.LUT == 2532
    (m,) = rec.modules
    assert (m.module, m.latency_best, m.LUT) == ("dense_layer2", 7, 2134)
