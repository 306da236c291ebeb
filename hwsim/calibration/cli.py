"""``hwsim calibrate`` and ``hwsim validate``.

``hwsim calibrate MANIFESTS... --backend fpga --out PROFILE.json [--holdout 0.3 --seed 0]``
fits the backend's free constants on a fit split of the paired reports (whole architectures
are held out together) and writes a profile atomically; a corrupt or unpaired report stops
with one ``error:`` line naming the file, and nothing is written.

``hwsim validate --reports MANIFESTS... [--profile P|none] [--folds k | --by-source]``
compares predictions with reports per metric and data source: MAPE, median APE, max APE,
bias, exact-match percentage; with ``--folds``/``--by-source`` every prediction comes from a
fit that did not see its report (k-fold grouped by architecture, or leave-one-source-out).
Writes a Markdown table, a JSON file and one predicted-vs-reported scatter PNG per metric
under ``--out-dir`` (default ``reports/calibration``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from hwsim.errors import ConfigError

log = logging.getLogger(__name__)

METRIC_LABEL = {
    "latency_cycles": "latency (cycles)",
    "ii_cycles": "II (cycles)",
    "DSP": "DSP",
    "LUT": "LUT",
    "FF": "FF",
    "BRAM_18K": "BRAM_18K",
}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("hwsim")
    except Exception:  # pragma: no cover
        return "unknown"


def _fmt(v: Any, pct: bool = True) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}" if pct else f"{v:.4g}"
    return str(v)


def stats_rows(stats: Mapping[str, Mapping[str, Any]], label: str = "") -> list[dict[str, Any]]:
    rows = []
    for metric, s in stats.items():
        if not isinstance(s, Mapping):
            continue
        src, _, kind = label.partition(" [")
        rows.append(
            {
                "source": src,
                "kind": kind.rstrip("]"),
                "metric": metric,
                "n": s.get("n"),
                "MAPE %": _fmt(s.get("mape")),
                "median APE %": _fmt(s.get("median_ape")),
                "max APE %": _fmt(s.get("max_ape")),
                "bias %": _fmt(s.get("bias")),
                "exact %": _fmt(s.get("exact_pct")),
            }
        )
    return rows


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "(no rows)\n"
    cols = list(rows[0].keys())
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(out) + "\n"


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--backend", "-b", default="fpga", show_default=True, help="Backend whose constants are fitted.")
@click.option("--out", "out_path", required=True, help="Profile JSON to write (atomically).")
@click.option("--holdout", default=0.3, show_default=True, type=float, help="Fraction of architectures held out of the fit.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--kind",
    default="hls_estimate",
    show_default=True,
    help="Which reports to fit: hls_estimate | post_synthesis | post_implementation.",
)
@click.option("--loss", default="soft_l1", show_default=True, type=click.Choice(["soft_l1", "huber", "linear", "cauchy"]))
@click.option(
    "--f-scale",
    "f_scale",
    default=0.05,
    show_default=True,
    type=float,
    help="Relative residual where the robust loss turns linear.",
)
@click.option("--id", "profile_id", default=None, help="Profile id (default: backend-part-tool-sources).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def calibrate(
    inputs: tuple[str, ...],
    backend: str,
    out_path: str,
    holdout: float,
    seed: int,
    kind: str,
    loss: str,
    f_scale: float,
    profile_id: str | None,
    fmt: str,
) -> None:
    """Fit a backend's constants to synthesis reports (manifests pair them with models)."""
    from hwsim.calibration.engine import calibrate as run_calibrate
    from hwsim.calibration.engine import get_adapter
    from hwsim.calibration.profile import save_profile

    if not 0.0 <= holdout < 1.0:
        raise ConfigError(f"--holdout {holdout}: expected a fraction in [0, 1)")
    if f_scale <= 0:
        raise ConfigError(f"--f-scale {f_scale}: must be positive")
    adapter = get_adapter(backend)
    own_fit = getattr(adapter, "fit_profile", None)
    if callable(own_fit):
        # the backend ships its own (non-linear) fitter: hold out whole input files
        import numpy as np

        files = list(inputs)
        n_hold = int(round(holdout * len(files))) if len(files) > 1 else 0
        order = list(np.random.default_rng(seed).permutation(len(files)))
        held = [files[i] for i in order[:n_hold]]
        fit_files = [f for f in files if f not in held]
        profile = dict(own_fit(fit_files, held, profile_id))
        profile.setdefault(
            "split", {"holdout": holdout, "seed": seed, "grouped_by": "input file", "fit": fit_files, "held_out": held}
        )
        profile.setdefault("hwsim_version", _version())
        profile.setdefault("evaluated_on", "held_out" if held else "fit")
        profile.setdefault("error_before", {})
        profile.setdefault("error_after", {})
    else:
        samples = adapter.load(list(inputs))  # raises ReportError naming the file before anything is written
        profile = run_calibrate(adapter, samples, holdout, seed, kind, loss, f_scale, profile_id, _version(), list(inputs))
    save_profile(out_path, profile)
    if fmt == "json":
        click.echo(
            json.dumps({k: profile[k] for k in ("id", "constants", "error_before", "error_after", "evaluated_on")}, indent=2)
        )
        return
    from hwsim.cli import print_table

    print_table(
        f"fitted constants -> {out_path}", [{"constant": k, "value": v["value"]} for k, v in profile["constants"].items()]
    )
    on = profile["evaluated_on"]
    rows = stats_rows(profile["error_before"], f"{on}, before") + stats_rows(profile["error_after"], f"{on}, after")
    split = profile.get("split", {})
    print_table(
        f"error on the {on} split ({len(split.get('held_out' if on == 'held_out' else 'fit', []))} reports or files)", rows
    )
    if profile.get("skipped"):
        click.echo(f"warning: {len(profile['skipped'])} report(s) could not be costed and were skipped (listed in the profile)")


@click.command()
@click.option("--reports", "reports", multiple=True, required=True, help="Manifest(s) pairing reports with models (repeatable).")
@click.option("--backend", "-b", default="fpga", show_default=True)
@click.option(
    "--profile",
    "profile_path",
    default=None,
    help="Profile JSON to apply; 'none' = the backend's rules without any profile. Default: what `hwsim estimate` uses.",
)
@click.option(
    "--folds",
    default=None,
    type=int,
    help="k-fold cross-validation (grouped by architecture): fit on k-1 folds, predict the held one.",
)
@click.option(
    "--by-source", "by_source", is_flag=True, help="Leave-one-source-out: fit on the other sources, predict the held one."
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--kind", default="hls_estimate", show_default=True, help="Reports the cross-validation fits on.")
@click.option(
    "--out-dir", "out_dir", default=None, help="Folder for the table, JSON and scatter plots (default reports/calibration)."
)
@click.option("--name", default="validate", show_default=True, help="File-name stem of the outputs.")
@click.option("--no-plots", is_flag=True, help="Skip the scatter PNGs.")
@click.option(
    "--exclude-fitted",
    "exclude_fitted",
    is_flag=True,
    help="Drop the reports the applied profile was fitted on (keep only data it did not see).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def validate(
    reports: tuple[str, ...],
    backend: str,
    profile_path: str | None,
    folds: int | None,
    by_source: bool,
    seed: int,
    kind: str,
    out_dir: str | None,
    name: str,
    no_plots: bool,
    exclude_fitted: bool,
    fmt: str,
) -> None:
    """Predicted vs reported, per metric and data source."""
    from hwsim._paths import reports_dir
    from hwsim.calibration.engine import cross_validate, evaluate_all, get_adapter, stats_by

    if folds is not None and by_source:
        raise ConfigError("--folds and --by-source are exclusive")
    if folds is not None and folds < 2:
        raise ConfigError(f"--folds {folds}: needs at least 2")
    adapter = get_adapter(backend)
    samples = adapter.load(list(reports))
    profile: Any
    if profile_path is None:
        # what `hwsim estimate` would use; adapters without a per-part default get None
        profile = "default" if getattr(adapter, "default_profile_aware", False) else None
    elif profile_path.lower() == "none":
        profile = None
    else:
        from hwsim.calibration.profile import load_profile

        profile = load_profile(profile_path)
    # reports the applied profile was fitted on: errors on them are in-sample
    fitted_ids: set[str] = set()
    if folds is None and not by_source and hasattr(adapter, "profiles_in_use"):
        for prof in adapter.profiles_in_use(samples, profile):
            fitted_ids |= set(prof.get("reports") or [])
    in_sample = [s.id for s in samples if s.id in fitted_ids]
    notes: list[str] = []
    if in_sample and exclude_fitted:
        samples = [s for s in samples if s.id not in fitted_ids]
        notes.append(f"{len(in_sample)} report(s) the profile was fitted on were left out (--exclude-fitted)")
    elif in_sample:
        notes.append(
            f"{len(in_sample)} of these reports were used to fit the applied profile: their errors are in-sample (use --exclude-fitted or --folds)"
        )
    mode = "as-is"
    summary: list[dict[str, Any]] = []
    if folds is not None or by_source:
        evaluated, summary = cross_validate(adapter, samples, folds, by_source, seed, kind)
        mode = "leave-one-source-out" if by_source else f"{folds}-fold (grouped by architecture)"
    else:
        evaluated = evaluate_all(adapter, samples, profile)
    metrics = adapter.metrics
    if summary:
        profile_path, profile = "per-fold", {"id": "fitted per fold on the other folds (from the backend rules)"}
    per_source = stats_by(evaluated, metrics, key=lambda s: f"{s.source} [{s.kind}]")
    rows: list[dict[str, Any]] = []
    for src in sorted(per_source):
        rows.extend(stats_rows(per_source[src], src))
    skipped = [{"id": e.sample.id, "reason": e.error} for e in evaluated if e.evaluation is None]
    out = Path(out_dir) if out_dir else reports_dir() / "calibration"
    out.mkdir(parents=True, exist_ok=True)
    prof_label = (
        ("none (backend rules)" if profile_path is not None else "backend default")
        if profile is None
        else ("backend default" if profile == "default" else str(profile.get("id")))
    )
    md = [
        f"# hwsim validate ({backend})\n",
        f"- inputs: {', '.join(reports)}",
        f"- profile: {prof_label}",
        f"- mode: {mode}",
        f"- reports: {len(samples)} ({len(skipped)} not costed)\n",
        markdown_table(rows),
    ]
    md.extend(f"- note: {n}" for n in notes)
    if skipped:
        md.append("\nNot costed:\n")
        md.extend(f"- {s['id']}: {s['reason']}" for s in skipped[:50])
    (out / f"{name}.md").write_text("\n".join(md) + "\n")
    payload = {
        "backend": backend,
        "profile": prof_label,
        "mode": mode,
        "stats": per_source,
        "folds": summary,
        "skipped": skipped,
        "predictions": [
            {
                "id": e.sample.id,
                "source": e.sample.source,
                "kind": e.sample.kind,
                "reported": dict(e.sample.reported),
                "predicted": dict(e.evaluation.predicted),
            }
            for e in evaluated
            if e.evaluation is not None
        ],
    }
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    plots = [] if no_plots else scatter_plots(evaluated, metrics, out, name)
    if fmt == "json":
        click.echo(
            json.dumps(
                {"stats": per_source, "mode": mode, "profile": prof_label, "skipped": skipped, "plots": [str(p) for p in plots]},
                indent=2,
                default=str,
            )
        )
        return
    from hwsim.cli import print_table

    print_table(f"predicted vs reported — {mode}, profile {prof_label}", rows)
    for n in notes:
        click.echo(f"note: {n}")
    if skipped:
        click.echo(f"warning: {len(skipped)} report(s) could not be costed (see {out / (name + '.md')})")
    click.echo(f"wrote {out / (name + '.md')}, {out / (name + '.json')}" + (f" and {len(plots)} plots" if plots else ""))


def scatter_plots(
    evaluated: Sequence[Any], metrics: Sequence[str], out: Path, name: str, label: Any = None, title: str = ""
) -> list[Path]:
    """One predicted-vs-reported scatter (log-log, colour = source/kind, or ``label(e)``) per
    metric; predictions of 0 are drawn at 0.5."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for m in metrics:
        pts: dict[str, tuple[list[float], list[float]]] = {}
        for e in evaluated:
            if e.evaluation is None or e.sample.reported.get(m) is None or m not in e.evaluation.predicted:
                continue
            xs, ys = pts.setdefault(label(e) if label else f"{e.sample.source} [{e.sample.kind}]", ([], []))
            xs.append(float(e.sample.reported[m]))
            ys.append(float(e.evaluation.predicted[m]))
        if not pts:
            continue
        fig, ax = plt.subplots(figsize=(5.2, 5.0))
        lo, hi = math_inf_bounds(pts)
        for lab, (xs, ys) in sorted(pts.items()):
            ax.scatter([max(x, 0.5) for x in xs], [max(y, 0.5) for y in ys], s=10, alpha=0.6, label=f"{lab} (n={len(xs)})")
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.plot([lo, hi], [lo * 1.1, hi * 1.1], "k:", lw=0.6)
        ax.plot([lo, hi], [lo / 1.1, hi / 1.1], "k:", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"reported {METRIC_LABEL.get(m, m)}")
        ax.set_ylabel(f"predicted {METRIC_LABEL.get(m, m)}")
        ax.set_title(f"{title}{m}: predicted vs reported (dotted: ±10 %)", fontsize=9)
        ax.legend(fontsize=6, loc="upper left")
        fig.tight_layout()
        p = out / f"{name}_{m}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def math_inf_bounds(pts: Mapping[str, tuple[list[float], list[float]]]) -> tuple[float, float]:
    vals = [max(v, 0.5) for xs, ys in pts.values() for v in xs + ys]
    return min(vals) * 0.8, max(vals) * 1.25
