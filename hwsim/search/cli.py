"""``hwsim search``: NSGA-II (Optuna) over a search space with hwsim as the hardware objective."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("space")
@click.option(
    "--backend",
    "-b",
    default="fpga",
    show_default=True,
    help="Hardware backend for the cost objectives (fpga, bops, aimc, cpu, gpu).",
)
@click.option(
    "--objectives",
    default="accuracy,latency",
    show_default=True,
    help="Comma list: accuracy (the task metric) and costs: latency, ii, dsp, lut, ff, bram, bops, params, energy, or any totals key.",
)
@click.option("--trials", "n_trials", default=20, show_default=True, type=int, help="Trials in the study (all workers together).")
@click.option(
    "--storage",
    default=None,
    help="Shared storage: journal:PATH (file) or a database URL (sqlite:///s.db, postgresql://...). Enables resume and parallel workers.",
)
@click.option("--study", "study_name", default=None, help="Study name in the storage (default: SPACE-BACKEND-OBJECTIVES).")
@click.option(
    "--train",
    default=None,
    metavar="MODULE:FUNCTION",
    help="Task metric: FUNCTION(torch_module, sample) -> float (imported from MODULE; the current directory is on the path).",
)
@click.option(
    "--proxy",
    type=click.Choice(["capacity", "synthetic"]),
    default="capacity",
    show_default=True,
    help="Without --train: a labelled PROXY metric (capacity = log10 params; synthetic = short training on a synthetic teacher task).",
)
@click.option("--proxy-steps", default=60, show_default=True, type=int, help="Training steps of the synthetic proxy.")
@click.option("--seed", default=None, type=int, help="Sampler seed (give each parallel worker its own).")
@click.option("--config", "config_path", default=None, help="Backend configuration file (fpga: an hls4ml config).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Backend option (repeatable), e.g. --set reuse_factor=4.")
@click.option(
    "--constraint",
    "constraints",
    multiple=True,
    metavar="METRIC<=VALUE",
    help="Constraint (repeatable), e.g. latency_s<=100e-9, ii_s<=25e-9, DSP_pct<=10.",
)
@click.option("--population", default=20, show_default=True, type=int, help="NSGA-II population size.")
@click.option(
    "--stale-after",
    default=None,
    type=float,
    help="Reclaim RUNNING trials older than this many seconds (workers on other hosts that died).",
)
@click.option("--out", "out_dir", default=None, help="Directory for trials.csv, pareto.csv, pareto.png.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def search(
    space: str,
    backend: str,
    objectives: str,
    n_trials: int,
    storage: str | None,
    study_name: str | None,
    train: str | None,
    proxy: str,
    proxy_steps: int,
    seed: int | None,
    config_path: str | None,
    sets: tuple[str, ...],
    constraints: tuple[str, ...],
    population: int,
    stale_after: float | None,
    out_dir: str | None,
    no_progress: bool,
) -> None:
    """Search SPACE (a YAML file or a shipped space: braggnn, deepsets...) with NSGA-II.

    Every worker started with the same --storage and --study works on one study of --trials
    trials; a killed run continues when started again.
    """
    from hwsim.cli import load_config_file, parse_sets, print_table
    from hwsim.search.runner import SearchRunner, pareto_rows, write_outputs
    from hwsim.search.spaces import SearchSpace

    sp = SearchSpace.load(space)
    runner = SearchRunner(
        sp,
        backend,
        objectives,
        n_trials,
        storage=storage,
        study_name=study_name,
        train=train,
        proxy=proxy,
        proxy_steps=proxy_steps,
        seed=seed,
        config=load_config_file(config_path),
        overrides=parse_sets(sets),
        constraints=constraints,
        population_size=population,
        stale_after_s=stale_after,
    )
    if runner.metric.is_proxy and any(o.cost_key is None for o in runner.objectives):
        click.echo(f"note: the task metric is a {runner.metric.description}", err=True)
    res = runner.run(progress=not no_progress)
    rows = pareto_rows(res.study)
    names = [o.name for o in res.objectives]
    title = f"Pareto front: {sp.name} on {res.backend} ({runner.metric.kind} metric {runner.metric.name}); this worker ran {res.ran}, {res.failed} failed"
    print_table(title, [{"trial": r["trial"], **{n: r[n] for n in names}, "fingerprint": r["fingerprint"]} for r in rows])
    complete = [t for t in res.study.trials if t.state.name == "COMPLETE"]
    if not rows and complete:
        worst = min(complete, key=lambda t: sum(max(0.0, v) for v in t.constraints.values()))
        viol = ", ".join(f"{k} = {v:+.3g}" for k, v in worst.constraints.items() if v > 0)
        click.echo(
            f"no trial satisfies the constraints ({len(complete)} complete); least violating: trial {worst.number} ({viol})",
            err=True,
        )
    if out_dir:
        files = write_outputs(res.study, Path(out_dir))
        click.echo("wrote " + ", ".join(files))
