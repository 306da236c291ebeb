"""hwsim's fpga backend and the peer rule4ml 0.2.0, side by side, against real csynth results.

    python benchmarks/fpga_vs_rule4ml.py          # -> reports/fpga/vs_rule4ml.md

rule4ml is not installed with hwsim (GPL-3.0, a TensorFlow environment): its predictions were
made once by ``benchmarks/rule4ml_predict.py`` in a separate virtual environment and are kept
in ``benchmarks/data/rule4ml_predictions.csv`` (provenance: ``benchmarks/data/RULE4ML_PROVENANCE.md``).
hwsim runs live here. Truth: the wa-hls4ml sample (Vitis HLS 2023.2 csynth, xcu250,
Resource, io_parallel; ``calibration/reports/wa-hls4ml``).

hwsim's cycles and DSP are rules; its LUT/FF/BRAM_18K use the shipped calibration profile,
which was fitted on the profile's fit split, so those three metrics are compared on the
**held-out split** (architectures the fit never saw). rule4ml was trained on its own data
set; neither tool saw the held-out rows here.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PRED = ROOT / "benchmarks" / "data" / "rule4ml_predictions.csv"
TRUTH = ROOT / "calibration" / "reports" / "wa-hls4ml" / "dense_2layer_sample.csv"
PROFILE = ROOT / "calibration" / "profiles" / "fpga" / "xcu250-figd2104-2L-e.json"
OUT = ROOT / "reports" / "fpga" / "vs_rule4ml.md"

METRICS = (
    ("latency_cycles", "BestLatency_hls", "pred_latency_cycles"),
    ("ii_cycles", "IntervalMin_hls", "pred_ii_cycles"),
    ("DSP", "DSP_hls", "pred_DSP"),
    ("LUT", "LUT_hls", "pred_LUT"),
    ("FF", "FF_hls", "pred_FF"),
    ("BRAM_18K", "BRAM_18K_hls", "pred_BRAM_18K"),
)


def _num(s: str | None) -> float | None:
    if s is None or str(s).strip() == "":
        return None
    v = float(s)
    return v if math.isfinite(v) else None


def _ape(pred: float, true: float) -> float | None:
    return None if true == 0 else abs(pred - true) / abs(true) * 100.0


def _stats(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    """exact % (rounded prediction equals the report), median APE over reports > 0, n."""
    if not pairs:
        return {"n": 0}
    exact = sum(1 for p, t in pairs if round(p) == round(t))
    apes = [a for p, t in pairs if (a := _ape(p, t)) is not None]
    return {
        "n": len(pairs),
        "exact_pct": 100.0 * exact / len(pairs),
        "median_ape": statistics.median(apes) if apes else float("nan"),
        "n_ape": len(apes),
    }


def _hwsim_rows(rows: list[dict[str, str]]) -> tuple[dict[str, dict[str, float]], float]:
    """hwsim's estimate per wa-hls4ml row id, built exactly as the calibration builds them
    (``calibration/manifests/wa-hls4ml.yml``: weights ap_fixed<prec,1>, data path
    ap_fixed<16,6>) and costed with the shipped profile; and the median time in ms to build,
    configure and cost each design of ``rows`` (the wa-hls4ml csv rows) once."""
    from hwsim.api import cost_graph
    from hwsim.backends.fpga import FpgaBackend
    from hwsim.backends.fpga.graphs import mlp
    from hwsim.calibration.engine import evaluate_all, get_adapter

    adapter = get_adapter("fpga")
    samples = adapter.load([str(ROOT / "calibration" / "manifests" / "wa-hls4ml.yml")])
    prof = json.loads(PROFILE.read_text())
    out: dict[str, dict[str, float]] = {}
    for ev in evaluate_all(adapter, samples, prof):
        if ev.evaluation is not None:
            out[ev.sample.id.split(":", 1)[1]] = {m: float(ev.evaluation.predicted[m]) for m, _, _ in METRICS}
    # time: every wa-hls4ml design once (distinct designs: no cached op costs), building the
    # graph and the parameters and costing it, i.e. what one search candidate costs
    from hwsim.backends.fpga.validate_rules import wa_config

    be = FpgaBackend()
    times: list[float] = []
    for r in rows:
        t0 = time.perf_counter()
        g = mlp([int(x) for x in r["model_string"].split("-")], activation=None)
        cost_graph(g, be, be.resolve_params(wa_config(int(r["prec"]), int(r["rf"])), {}))
        times.append((time.perf_counter() - t0) * 1e3)
    return out, statistics.median(times)


def _conv_section(preds: list[dict[str, str]]) -> list[str]:
    """Conv nets with csynth truth in the repo: the hls4ml CI Conv2D (Resource, RF 1) and the
    tutorial CNN (Latency, io_stream), hwsim uncalibrated, as validate_rules/the manifests build them."""
    from hwsim.backends.fpga import FpgaBackend
    from hwsim.backends.fpga.graphs import hls4ml_ci_design
    from hwsim.backends.fpga.validate_rules import _est  # uncalibrated estimate, as validate_rules
    from hwsim.calibration.engine import evaluate_all, get_adapter

    by = {p.get("design"): p for p in preds}
    be = FpgaBackend()
    keys = (("latency_cycles", "pred_latency_cycles"), ("DSP", "pred_DSP"), ("LUT", "pred_LUT"), ("FF", "pred_FF"))
    lines = [
        "## Conv nets",
        "",
        "Truth: hls4ml CI Conv2D baseline (32 filters 4x4, stride 4, on 28x28x3; Resource, RF 1, io_parallel, xcvu13p) and",
        "the tutorial CNN (csynth, Vivado 2020.1). hwsim uncalibrated; rule4ml with Vivado version 2020.1.",
        "",
        "| design | metric | csynth | hwsim | rule4ml |",
        "|---|---|---:|---:|---:|",
    ]
    stem = "test_keras_api_test_conv2d_io_parallel-{b}-Resource-same-channels_last"
    base = ROOT / "calibration" / "reports" / "hls4ml-ci-baselines"
    p = by.get("hls4ml-ci-conv2d")
    for tool in ("Vivado/2020.1", "Vitis/2024.1"):
        b = tool.split("/")[0]
        f = base / tool / f"{stem.format(b=b)}.json"
        case = hls4ml_ci_design(stem.format(b=b), b)
        if not f.is_file() or case is None:
            continue
        rep = json.loads(f.read_text())["CSynthesisReport"]
        g, ov = case
        e = _est(be, g, None, ov)
        rk = {"latency_cycles": "BestLatency", "DSP": "DSP", "LUT": "LUT", "FF": "FF"}
        for m, pcol in keys:
            v = _num(p.get(pcol)) if p else None
            lines.append(f"| Conv2D ({tool}) | {m} | {rep[rk[m]]} | {e[m]:g} | {'rejected' if p is None else f'{v:.0f}'} |")
    adapter = get_adapter("fpga")
    tut = [s for s in adapter.load([str(ROOT / "calibration" / "manifests" / "tutorial-cnn.yml")]) if s.kind == "hls_estimate"]
    p = by.get("tutorial-cnn")
    for ev in evaluate_all(adapter, tut, None):
        if ev.evaluation is None:
            continue
        for m, pcol in keys:
            t = ev.sample.reported.get(m)
            v = _num(p.get(pcol)) if p else None
            lines.append(
                f"| tutorial CNN | {m} | {'-' if t is None else f'{t:g}'} | {ev.evaluation.predicted[m]:g} |"
                f" {'rejected' if p is None else f'{v:.0f}'} |"
            )
    lines.append("")
    if p is None:
        lines += [
            "'rejected': rule4ml 0.2.0 could not cost the tutorial CNN (its message is in `benchmarks/data/RULE4ML_PROVENANCE.md`).",
            "",
        ]
    return lines


def main() -> int:
    if not PRED.is_file():
        print(f"error: {PRED.relative_to(ROOT)} is missing (run benchmarks/rule4ml_predict.py in a rule4ml environment)")
        return 2
    with TRUTH.open() as fh:
        truth = list(csv.DictReader(fh))
    with PRED.open() as fh:
        preds = list(csv.DictReader(fh))
    r4 = {p["row_id"]: p for p in preds if str(p.get("design", "")).startswith("wa-hls4ml") and p.get("row_id")}
    held = {x.split(":", 1)[1] for x in json.loads(PROFILE.read_text())["split"]["held_out"]}
    hw, hw_ms = _hwsim_rows(truth)

    def table(sel: list[dict[str, str]], title: str) -> list[str]:
        lines = [
            f"### {title} ({len(sel)} rows)",
            "",
            "| metric | hwsim exact % | rule4ml exact % | hwsim median APE % | rule4ml median APE % | rows (hwsim / rule4ml) |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for m, tcol, pcol in METRICS:
            hp = [(hw[i][m], float(r[tcol])) for r in sel if (i := r["model_file"].removesuffix(".tar.gz")) in hw]
            rp = []
            for r in sel:
                p = r4.get(r["model_file"].removesuffix(".tar.gz"))
                v = _num(p.get(pcol)) if p else None
                if v is not None:
                    rp.append((v, float(r[tcol])))
            hs, rs = _stats(hp), _stats(rp)

            def f(s: dict[str, Any], k: str) -> str:
                return "-" if not s.get("n") or k not in s or (isinstance(s[k], float) and math.isnan(s[k])) else f"{s[k]:.1f}"

            lines.append(
                f"| {m} | {f(hs, 'exact_pct')} | {f(rs, 'exact_pct')} | {f(hs, 'median_ape')} | {f(rs, 'median_ape')} | {hs['n']} / {rs['n']} |"
            )
        return lines + [""]

    held_rows = [r for r in truth if r["model_file"].removesuffix(".tar.gz") in held]
    # rule4ml's DSP on designs that use few DSPs
    few = [r for r in truth if 0 < float(r["DSP_hls"]) <= 8]
    r4_zero = sum(
        1
        for r in few
        if (p := r4.get(r["model_file"].removesuffix(".tar.gz")))
        and _num(p.get("pred_DSP")) is not None
        and round(_num(p["pred_DSP"]) or 0) == 0
    )
    hw_exact_few = sum(1 for r in few if round(hw[r["model_file"].removesuffix(".tar.gz")]["DSP"]) == round(float(r["DSP_hls"])))

    # rule4ml's CYCLES target is the mean of csynth best/worst latency: count it right when it
    # falls in the reported [best, worst] range (rounded), the criterion most in its favour
    def in_range(v: float | None, r: dict[str, str]) -> bool:
        return v is not None and float(r["BestLatency_hls"]) - 0.5 <= v < float(r["WorstLatency_hls"]) + 0.5

    r4_rng = sum(
        1
        for r in held_rows
        if (p := r4.get(r["model_file"].removesuffix(".tar.gz"))) and in_range(_num(p.get("pred_latency_cycles")), r)
    )
    hw_rng = sum(1 for r in held_rows if in_range(hw[r["model_file"].removesuffix(".tar.gz")]["latency_cycles"], r))
    r4_ms = [v for p in preds if (v := _num(p.get("wall_ms"))) is not None]
    jet = [p for p in preds if p.get("design") == "jet-tagger"]
    lines = [
        "# fpga: hwsim vs rule4ml 0.2.0 on real csynth results",
        "",
        "Reproduce: `python benchmarks/fpga_vs_rule4ml.py` (rule4ml's predictions: `benchmarks/data/rule4ml_predictions.csv`,",
        "made by `benchmarks/rule4ml_predict.py`, provenance in `benchmarks/data/RULE4ML_PROVENANCE.md`).",
        "",
        "Truth: wa-hls4ml sample (938 csynth reports, Vitis HLS 2023.2, xcu250, Resource, io_parallel, arXiv:2511.05615,",
        "CC-BY-NC-4.0). hwsim: cycles and DSP from rules; LUT/FF/BRAM_18K from the shipped profile, fitted on the fit",
        "split — so the **held-out** table is the fair one for those. Exact = the rounded prediction equals the report.",
        "Median APE over reports > 0. rule4ml was run with board alveo-u250 (the same part), Vitis 2023.2 and its",
        "hls4ml-version input 1.1.0; its authors co-authored wa-hls4ml, so its default estimators may have been trained",
        "on these very rows (not verified) — its figures here may be in-sample, hwsim's held-out ones are not.",
        "",
    ]
    lines += table(held_rows, "Held-out split (30 % of the architectures; hwsim never fitted on them)")
    lines += [
        f"Latency inside the reported [best, worst] range on the held-out rows (rule4ml predicts the mean of best and worst):"
        f" hwsim {hw_rng} / {len(held_rows)}, rule4ml {r4_rng} / {len(held_rows)}.",
        "",
    ]
    lines += table(truth, "All rows (hwsim LUT/FF/BRAM saw 70 % of these architectures in its fit)")
    lines += [
        f"Designs using 1-8 DSPs ({len(few)} rows): rule4ml predicts 0 DSP on {r4_zero}; hwsim is exact on {hw_exact_few}.",
        "",
        f"Speed: hwsim {hw_ms:.2f} ms per design (median over the 938 distinct designs, this run: graph built, parameters"
        " resolved and costed);"
        + (
            f" rule4ml {statistics.median(r4_ms):.1f} ms per prediction (median of {len(r4_ms)}, recorded when the"
            " predictions were made, in its own environment)."
            if r4_ms
            else " rule4ml timing not recorded."
        ),
        "",
    ]
    if jet:
        from hwsim.api import cost_graph
        from hwsim.backends.fpga import FpgaBackend
        from hwsim.frontends import zoo

        be = FpgaBackend()
        ov = {"precision": "ap_fixed<16,6>", "reuse_factor": "1", "strategy": "Latency", "part": "xcu250-figd2104-2L-e"}
        e = cost_graph(zoo.load("jet-mlp"), be, be.resolve_params(None, ov))
        p = jet[0]
        lines += [
            "## Jet tagger 16-64-32-32-5, ap_fixed<16,6>, RF 1, Latency (no synthesis report in the repo: predictions only)",
            "",
            "| metric | hwsim | rule4ml |",
            "|---|---:|---:|",
        ]
        for m, _, pcol in METRICS:
            v = _num(p.get(pcol))
            lines.append(f"| {m} | {e[m]:g} | {'-' if v is None else f'{v:g}'} |")
        # the issue quotes rule4ml's errors on this network against a real synthesis it does not
        # give: +98 % cycles, -69 % DSP, -50 % LUT, +309 % FF. If those errors belong to these
        # predictions, the synthesis had about pred / (1 + err); derived, not measured.
        quoted = {"latency_cycles": 0.98, "DSP": -0.69, "LUT": -0.50, "FF": 3.09}
        implied = {m: _num(p.get(f"pred_{m}")) for m in quoted}
        if all(v is not None for v in implied.values()):
            cells = []
            for m, err in quoted.items():
                t = (implied[m] or 0.0) / (1.0 + err)
                cells.append(f"{m} ~{t:.0f} (hwsim {100 * (float(e[m]) - t) / t:+.0f} %)")
            lines += [
                "",
                "No synthesis report of this design is in the repository. The issue quotes rule4ml's errors on it against a real",
                "synthesis (+98 % cycles, -69 % DSP, -50 % LUT, +309 % FF); if they belong to the predictions above, that",
                "synthesis had about " + ", ".join(cells) + ". That is derived, not measured, and assumes",
                "the same model and types: hwsim costs hls4ml 1.3.0's 'auto' accumulators (37-39 bits here), a 16-bit",
                "accumulator build would be narrower. Taken at face value hwsim is closer on cycles and DSP and not on LUT/FF:",
                "its LUT/FF constants for Latency-strategy designs are unfitted defaults (the shipped profile covers",
                "Resource/io_parallel only).",
            ]
        lines.append("")
    ci = [p for p in preds if str(p.get("design", "")).startswith("hls4ml-ci-activation-")]
    if ci:
        from hwsim.backends.fpga import FpgaBackend
        from hwsim.backends.fpga.graphs import hls4ml_ci_design
        from hwsim.backends.fpga.validate_rules import _est  # uncalibrated estimate, as validate_rules

        be = FpgaBackend()
        base = ROOT / "calibration" / "reports" / "hls4ml-ci-baselines" / "Vitis"
        lines += [
            "## hls4ml CI designs: Dense(64) on one input + activation, ap_fixed<16,6>, RF 1, Latency, io_parallel",
            "",
            "Truth: hls4ml's CI csynth baselines (Vitis HLS 2023.1 / 2024.1, xcvu13p). hwsim uncalibrated (the profile",
            "is for Resource designs); rule4ml board alveo-u250 (same UltraScale+ DSP48E2 fabric).",
            "",
            "| design | metric | Vitis 2023.1 | Vitis 2024.1 | hwsim | rule4ml |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for p in ci:
            act = p["design"].rsplit("-", 1)[1]
            stem = f"test_keras_api_test_activations_io_parallel-Vitis-{act}"
            reps = []
            for ver in ("2023.1", "2024.1"):
                f = base / ver / f"{stem}.json"
                reps.append(json.loads(f.read_text())["CSynthesisReport"] if f.is_file() else {})
            case = hls4ml_ci_design(stem, "Vitis")
            if case is None:
                continue
            g, ov = case
            e = _est(be, g, None, ov)
            for m, key, pcol in (
                ("latency_cycles", "BestLatency", "pred_latency_cycles"),
                ("DSP", "DSP", "pred_DSP"),
                ("LUT", "LUT", "pred_LUT"),
                ("FF", "FF", "pred_FF"),
            ):
                v = _num(p.get(pcol))
                cells = " | ".join(str(r.get(key, "-")) for r in reps)
                lines.append(f"| {act} | {m} | {cells} | {e[m]:g} | {'-' if v is None else f'{v:.0f}'} |")
        lines.append("")
    lines += _conv_section(preds)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
