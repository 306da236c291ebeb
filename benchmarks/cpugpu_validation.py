"""Validate the cpu backend on this machine: measure the zoo, fit, leave-one-model-out.

Steps (each reproducible on its own):

1. ``--measure``: time every zoo model in onnxruntime and in PyTorch (one pinned thread,
   batches 1, 16, 256, 4096; batches whose estimated call exceeds ~0.2 s are skipped) into
   ``calibration/measurements/local/zoo/<runtime>/<model>.json``. The microbenchmarks come
   from ``benchmarks/cpugpu_microbench.py``.
2. Uncalibrated error: the backend with its catalog constants for ``device=local``.
3. Leave-one-model-out: for every zoo model M, fit the constants on the microbenchmarks plus
   every *other* zoo model of the same runtime, predict M's measured batches. The model
   family (rbm, svdd, deepsets, braggnn) of M stays in the fit: LOMO, as the task defines it.
4. Stricter split: fit on the microbenchmarks only, predict every zoo model.
5. The final profile (microbenchmarks + all zoo models) is written to
   ``calibration/profiles/cpu/local-<runtime>.json``.

Writes ``reports/cpugpu/validation.md``, ``validation.json`` and ``validation.png``.

    python benchmarks/cpugpu_validation.py [--measure] [--runtime onnxruntime,torch]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MEAS = ROOT / "calibration" / "measurements" / "local"
REPORT = ROOT / "reports" / "cpugpu"
PROFILES = ROOT / "calibration" / "profiles" / "cpu"
BATCHES = [1, 16, 256, 4096]


def family(model: str) -> str:
    return model.split("-")[0]


def measure_zoo(runtimes: Sequence[str], max_time: float) -> None:
    from hwsim.api import estimate
    from hwsim.backends.cpugpu.measure import measure, save_json_atomic
    from hwsim.frontends import zoo

    for rt in runtimes:
        for name in zoo.names():
            batches = []
            for b in BATCHES:
                est = estimate(name, "cpu", overrides={"device": "local", "runtime": rt, "threads": "1", "batch": str(b)})
                if float(est.totals["latency_s"]) < 0.2 or b == 1:
                    batches.append(b)
            data = measure(name, rt, batches, threads=1, samples=20, max_time_s=max_time)
            data["command"] = "python benchmarks/cpugpu_validation.py --measure"
            save_json_atomic(MEAS / "zoo" / rt / f"{name}.json", data)
            print(f"{rt:12s} {name:20s} " + ", ".join(f"b{r['batch']}: {r['min_s']:.3g}s" for r in data["results"]), flush=True)


def load_dir(d: Path) -> list[dict[str, Any]]:
    from hwsim.backends.cpugpu.measure import load_measurement

    return [load_measurement(p) for p in sorted(d.glob("*.json"))]


def stats(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    import numpy as np

    if not rows:
        return {"n": 0}
    e = np.array([abs(r["rel_error"]) for r in rows])
    ratio = np.array([max(r["predicted_s"] / r["measured_s"], r["measured_s"] / r["predicted_s"]) for r in rows])
    worst = rows[int(np.argmax(ratio))]
    return {
        "n": len(rows),
        "median_ape_pct": float(np.median(e) * 100),
        "mean_ape_pct": float(np.mean(e) * 100),
        "p90_ape_pct": float(np.quantile(e, 0.9) * 100),
        "worst_ratio": float(ratio.max()),
        "worst": f"{worst['model']} b{worst['batch']} (pred {worst['predicted_s']:.3g} s, meas {worst['measured_s']:.3g} s)",
        "within_25pct": float(np.mean(e <= 0.25) * 100),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--measure", action="store_true", help="(re)measure the zoo first")
    ap.add_argument("--runtime", default="onnxruntime,torch")
    ap.add_argument("--max-time", type=float, default=1.0)
    ap.add_argument("--report-only", action="store_true", help="rewrite validation.md/png from validation.json")
    args = ap.parse_args(argv)
    if args.report_only:
        data = json.loads((REPORT / "validation.json").read_text())
        plot(data["rows"], REPORT / "validation.png")
        write_md(data, REPORT / "validation.md")
        return 0
    logging.basicConfig(level=logging.WARNING)
    runtimes = [r.strip() for r in args.runtime.split(",") if r.strip()]
    from hwsim.backends.cpugpu.calibration import fit_profile, predict_points
    from hwsim.backends.cpugpu.measure import save_json_atomic
    from hwsim.calibration.profile import save_profile

    t0 = time.time()
    if args.measure:
        measure_zoo(runtimes, args.max_time)
    results: dict[str, Any] = {
        "runtimes": {},
        "command": "python benchmarks/cpugpu_validation.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    all_rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for rt in runtimes:
        micro = load_dir(MEAS / "microbench" / rt)
        zoo_m = load_dir(MEAS / "zoo" / rt)
        if not micro or not zoo_m:
            print(f"{rt}: missing measurements (microbench {len(micro)}, zoo {len(zoo_m)})")
            continue
        uncal = predict_points(zoo_m, None)
        micro_only = fit_profile(micro, profile_id=f"cpu-local-{rt}-microbench-only")
        strict = predict_points(zoo_m, micro_only)
        lomo: list[dict[str, Any]] = []
        for i, held in enumerate(zoo_m):
            fit_set = micro + [m for j, m in enumerate(zoo_m) if j != i]
            prof = fit_profile(fit_set, profile_id=f"cpu-local-{rt}-lomo-{held['model']}")
            lomo.extend(predict_points([held], prof))
        final = fit_profile(micro + zoo_m, profile_id=f"cpu-local-{rt}")
        final["split"] = {
            "fit": "all microbenchmarks + all zoo measurements of this runtime",
            "validated_by": "reports/cpugpu/validation.md (leave-one-model-out)",
        }
        final["error_lomo"] = stats(lomo)
        # keep the profile small: file names relative to the repository
        final["reports"] = [str(Path(r).relative_to(ROOT)) if str(r).startswith(str(ROOT)) else r for r in final["reports"]]
        save_profile(PROFILES / f"local-{rt}.json", final)
        all_rows[rt] = {"uncalibrated": uncal, "microbench_only": strict, "lomo": lomo}
        results["runtimes"][rt] = {
            "n_microbench_files": len(micro),
            "n_zoo_files": len(zoo_m),
            "uncalibrated": stats(uncal),
            "microbench_only": stats(strict),
            "lomo": stats(lomo),
            "lomo_by_family": {
                f: stats([r for r in lomo if family(r["model"]) == f]) for f in sorted({family(r["model"]) for r in lomo})
            },
            "final_profile": str((PROFILES / f"local-{rt}.json").relative_to(ROOT)),
            "final_constants": {k: v["value"] for k, v in final["constants"].items()},
        }
        print(
            f"{rt}: uncal {stats(uncal)['median_ape_pct']:.1f} %, micro-only {stats(strict)['median_ape_pct']:.1f} %, LOMO {stats(lomo)['median_ape_pct']:.1f} % (worst x{stats(lomo)['worst_ratio']:.2f})",
            flush=True,
        )
    results["elapsed_s"] = time.time() - t0
    results["rows"] = all_rows
    REPORT.mkdir(parents=True, exist_ok=True)
    save_json_atomic(REPORT / "validation.json", results)
    plot(all_rows, REPORT / "validation.png")
    write_md(results, REPORT / "validation.md")
    print(f"done in {time.time() - t0:.0f} s")
    return 0


def plot(all_rows: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(all_rows), 1)
    fig, axes = plt.subplots(2, n, figsize=(6 * n, 10), squeeze=False)
    colors = {
        "jet": "C0",
        "deepsets": "C1",
        "braggnn": "C2",
        "rbm": "C3",
        "svdd": "C4",
        "bitnet": "C5",
        "transformer": "C6",
        "cnn": "C7",
    }
    for j, (rt, sets) in enumerate(all_rows.items()):
        ax = axes[0][j]
        for r in sets["uncalibrated"]:
            ax.scatter(r["measured_s"], r["predicted_s"], marker="x", color="0.7", s=14)
        for r in sets["lomo"]:
            ax.scatter(r["measured_s"], r["predicted_s"], color=colors.get(family(r["model"]), "k"), s=16)
        lo = min(min(r["measured_s"], r["predicted_s"]) for r in sets["lomo"] + sets["uncalibrated"]) / 1.5
        hi = max(max(r["measured_s"], r["predicted_s"]) for r in sets["lomo"] + sets["uncalibrated"]) * 1.5
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.plot([lo, hi], [2 * lo, 2 * hi], "k:", lw=0.6)
        ax.plot([lo, hi], [lo / 2, hi / 2], "k:", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("measured latency per call (s, min of samples)")
        ax.set_ylabel("predicted latency (s)")
        ax.set_title(f"{rt}, 1 thread: LOMO (colour), uncalibrated (grey x)", fontsize=10)
        for fam, col in colors.items():
            ax.scatter([], [], color=col, label=fam)
        ax.legend(fontsize=7, loc="upper left")
        ax2 = axes[1][j]
        for r in sets["lomo"]:
            ax2.scatter(r["batch"], 100 * r["rel_error"], color=colors.get(family(r["model"]), "k"), s=16)
        ax2.axhline(25, color="k", ls=":", lw=0.6)
        ax2.axhline(-25, color="k", ls=":", lw=0.6)
        ax2.axhline(0, color="k", lw=0.6)
        ax2.set_xscale("log")
        ax2.set_xlabel("batch")
        ax2.set_ylabel("LOMO error (%) = predicted/measured - 1")
        ax2.set_title(f"{rt}: error vs batch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


NOTES = [
    "## Reading these numbers",
    "",
    "* What was held out: the fitted *constants* never saw the held-out model. The *form* of the model was refined",
    "  during development after looking at onnxruntime/PyTorch profiles of zoo models (per-row costs of softmax,",
    "  normalisation and reductions; per-matrix cost of batched MatMul; the separate bias Add onnxruntime runs after a",
    "  MatMul on a rank-3 input; the two transposes around a feature-axis BatchNorm; per-image convolution cost), so",
    "  LOMO measures how well the constants transfer, not a blind test of the model form. The microbench-only row is",
    "  the stricter test of transfer from microbenchmarks to whole networks.",
    "* Convolutions (form changed by H7b, after the first validation missed BraggNN's 2- and 4-channel convs by up to",
    "  2.4x): a conv that unfolds its input pays `t_im2col_s` per element of the M x K im2col buffer, *added* to its",
    "  GEMM (MLAS 'Expand then GEMM' for every non-pointwise conv; PyTorch's THNN slow_conv2d at batch 1 on small",
    "  inputs, and oneDNN's gemm_convolution fallback when C_in or C_out is not a multiple of 8), and every library",
    "  conv call pays `t_op_conv_s` (PyTorch: oneDNN from batch 2, per ATen's use_mkldnn rule). The form was chosen",
    "  after timing standalone convs on this machine, BraggNN-small's three layer shapes among them (they showed a",
    "  ~40 us oneDNN cost per conv from batch 2 and ~0.45 ns per im2col element whatever C_out); those probe timings",
    "  are not in any fit. Six conv microbenchmarks with 2-16 channels (a (C_in, C_out) grid, no zoo layer copied) were",
    "  added to the fit data. The two constants are fitted like the others (LOMO: never on the held-out model).",
    "* Where it still misses: onnxruntime's fitted `eff_conv` sits at its upper bound (1.5): im2col and GEMM time both",
    "  scale with M x K and differ only by C_out, so the data split them only loosely. PyTorch's batch-1 THNN convs with",
    "  many channels (BraggNN-large b1: 0.51x) are slower than the model; hwsim has no separate THNN efficiency.",
    "* Noise: the first zoo run under a load average of 3-4 from other jobs gave large-batch times up to 2.4x slower",
    "  than the rerun used here (transformer-block b4096: 56 ms vs 23 ms); the files keep the load average at start.",
    "* Not validated here: multi-thread scaling (2 shared vCPUs), energy (no RAPL), GPUs (no device), other",
    "  precisions than fp32.",
]


def write_md(results: Mapping[str, Any], path: Path) -> None:
    lines = [
        "# cpu backend: validation on this machine",
        "",
        "Commands: `python benchmarks/cpugpu_microbench.py` (microbenchmarks, ~1 min), "
        "`python benchmarks/cpugpu_validation.py --measure` (zoo measurements, ~2 min, then the fits), "
        f"this evaluation: `{results['command'].strip()}`. "
        f"Evaluation took {results['elapsed_s']:.0f} s.",
        "",
        "Machine: the project's 2-vCPU AMD EPYC VM (shared with other jobs: timings carry that noise; every "
        "point is the minimum per call over many short samples). One pinned thread. No RAPL here: energy is "
        "not validated, only latency.",
        "",
        "Error = predicted / measured - 1 of the latency of one call (one batch). Splits:",
        "",
        "* **uncalibrated**: catalog constants for `device=local` (nominal peak from /proc/cpuinfo, "
        "runtime constants of cpu-gpu.md), no fit;",
        "* **microbench-only**: fitted on the microbenchmarks only, evaluated on every zoo model (no zoo data in the fit);",
        "* **LOMO**: for each zoo model, fitted on the microbenchmarks + all *other* zoo models, evaluated on the held-out model.",
        "",
        "| runtime | split | points | median abs err | mean abs err | p90 | worst ratio | within 25 % | worst point |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rt, d in results["runtimes"].items():
        for split in ("uncalibrated", "microbench_only", "lomo"):
            s = d[split]
            lines.append(
                f"| {rt} | {split} | {s['n']} | {s['median_ape_pct']:.1f} % | {s['mean_ape_pct']:.1f} % | {s['p90_ape_pct']:.1f} % | "
                f"{s['worst_ratio']:.2f}x | {s['within_25pct']:.0f} % | {s['worst']} |"
            )
    lines += [
        "",
        "LOMO by model family:",
        "",
        "| runtime | family | points | median abs err | worst ratio |",
        "|---|---|---|---|---|",
    ]
    for rt, d in results["runtimes"].items():
        for fam, s in d["lomo_by_family"].items():
            lines.append(f"| {rt} | {fam} | {s['n']} | {s['median_ape_pct']:.1f} % | {s['worst_ratio']:.2f}x |")
    lines += ["", "Target: median |error| <= 25 %, worst <= 2x.", ""]
    lines += NOTES
    lines += ["", "## Fitted constants (final profiles: all data)", ""]
    for rt, d in results["runtimes"].items():
        lines.append(
            f"* {rt} -> `{d['final_profile']}`: " + ", ".join(f"{k} = {v:.3g}" for k, v in sorted(d["final_constants"].items()))
        )
    lines += ["", "![validation](validation.png)", ""]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
