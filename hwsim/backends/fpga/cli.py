"""``hwsim check-hls4ml``: the click command (the logic is in :mod:`.check_hls4ml`)."""

from __future__ import annotations

import json
from typing import Any

import click

from hwsim.errors import ConfigError


def _parse_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--input-range {text!r}: expected LO,HI (e.g. 0,1)") from None
    if not lo < hi:
        raise ConfigError(f"--input-range {text!r}: LO must be below HI")
    return lo, hi


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _print_result(result: Any, only_diff: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    rows = result.disagreements if only_diff else result.rows
    table = Table(title=f"check-hls4ml: {result.model} — hls4ml {result.hls4ml_version} vs hwsim fpga plan")
    for col in ("layer", "field", "hls4ml", "hwsim", "ok", "note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.layer, r.field, _fmt(r.hls4ml), _fmt(r.hwsim), "[green]yes[/]" if r.ok else "[bold red]NO[/]", r.note)
    if rows:
        console.print(table)
    if result.csim:
        c = result.csim
        t = Table(title=f"C simulation (hls4ml bit-accurate C++ vs float PyTorch, {c['n_samples']} inputs)")
        for col in ("output", "max |Δ|", "mean |Δ|", "rel. dev.", "mean |float|"):
            t.add_column(col)
        for o in c["outputs"]:
            t.add_row(
                str(o["output"]), _fmt(o["max_abs_dev"]), _fmt(o["mean_abs_dev"]), _fmt(o["rel_dev"]), _fmt(o["float_mean_abs"])
            )
        t.add_row("all", _fmt(c["max_abs_dev"]), _fmt(c["mean_abs_dev"]), _fmt(c["rel_dev"]), "")
        console.print(t)
        if "argmax_agreement" in c and c.get("classifier"):
            click.echo(
                f"argmax agreement (classifier outputs): {c['argmax_agreement']:.4f} "
                f"(median margin between the two largest float outputs: {c['float_top2_margin_median']:.4g})"
            )
        for w in c.get("warnings", []):
            click.echo(f"warning: {w}")
    click.echo(f"source: {result.source}")
    for n in result.notes:
        click.echo(f"note: {n}")
    for w in result.hls.warnings:
        click.echo(f"note: {w.removeprefix('hwsim: ')}" if w.startswith("hwsim:") else f"hls4ml: {w}")
    for w in result.hwsim_warnings:
        click.echo(f"hwsim: {w}")
    times = ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in result.timings_s.items())
    click.echo(f"timings: {times}")
    n_bad = len(result.disagreements)
    if n_bad:
        click.echo(f"DISAGREE: {n_bad} of {len(result.rows)} compared fields differ")
    else:
        click.echo(f"AGREE: all {len(result.rows)} compared fields match")


@click.command("check-hls4ml")
@click.argument("model")
@click.option(
    "--config", "config_path", default=None, help="hls4ml configuration (YAML/JSON). Default: hls4ml's own for the model."
)
@click.option(
    "--write-config",
    "write_path",
    default=None,
    help="Write hls4ml's configuration of MODEL (granularity 'name') to this YAML file, then check with it.",
)
@click.option("--precision", default="ap_fixed<16,6>", show_default=True, help="--write-config: default precision.")
@click.option("--reuse-factor", "reuse_factor", default=1, show_default=True, type=int, help="--write-config: reuse factor.")
@click.option(
    "--strategy",
    default="Latency",
    show_default=True,
    help="--write-config: Latency, Resource, resource_unrolled, distributed_arithmetic.",
)
@click.option("--part", default="xcvu13p-flga2577-2-e", show_default=True, help="--write-config: FPGA part.")
@click.option(
    "--clock-period", "clock_period", default=5.0, show_default=True, type=float, help="--write-config: clock period (ns)."
)
@click.option("--io-type", "io_type", default="io_parallel", show_default=True, help="--write-config: io_parallel or io_stream.")
@click.option(
    "--csim", is_flag=True, help="Also compile hls4ml's bit-accurate C++ model (g++) and compare its outputs with float PyTorch."
)
@click.option(
    "--data", "data_path", default=None, help="--csim: inputs as .npy (N x input shape). Default: seeded random inputs."
)
@click.option("--n-samples", "n_samples", default=1000, show_default=True, type=int, help="--csim: number of random inputs.")
@click.option("--seed", default=0, show_default=True, type=int, help="--csim: seed of the random inputs.")
@click.option(
    "--input-range",
    "input_range",
    default=None,
    help="--csim: uniform inputs in LO,HI instead of standard normal (e.g. 0,1 for images).",
)
@click.option("--keep-project", "keep_project", default=None, help="Keep the generated hls4ml project in this directory.")
@click.option("--only-diff", is_flag=True, help="Table: show only the fields that disagree.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def check_hls4ml(
    model: str,
    config_path: str | None,
    write_path: str | None,
    precision: str,
    reuse_factor: int,
    strategy: str,
    part: str,
    clock_period: float,
    io_type: str,
    csim: bool,
    data_path: str | None,
    n_samples: int,
    seed: int,
    input_range: str | None,
    keep_project: str | None,
    only_diff: bool,
    fmt: str,
) -> None:
    """Convert MODEL (zoo name or .onnx) with hls4ml, without synthesis, and compare each
    layer's class, multiplication size, reuse factor, strategy, multiplier limit, precisions
    and the pipeline style with what hwsim's fpga backend assumes. Exit 0 when all agree,
    1 on any disagreement, 2 on bad input."""
    from hwsim.backends.fpga.check_hls4ml import check, write_config
    from hwsim.cli import load_config_file

    if write_path and config_path:
        raise ConfigError("give either --config (check with a file) or --write-config (create one), not both")
    rng = _parse_range(input_range)
    if data_path and input_range:
        raise ConfigError("--data and --input-range exclude each other")
    if write_path:
        write_config(
            model,
            write_path,
            precision=precision,
            reuse_factor=reuse_factor,
            strategy=strategy,
            part=part,
            clock_period=clock_period,
            io_type=io_type,
        )
        if fmt != "json":
            click.echo(f"wrote {write_path}")
        config_path = write_path
    config = load_config_file(config_path)
    result = check(
        model,
        config,
        run_csim=csim,
        data=data_path,
        n_samples=n_samples,
        seed=seed,
        input_range=rng,
        keep_project=keep_project,
        config_source=config_path or "config",
    )
    if fmt == "json":
        d = result.to_dict()
        if write_path:
            d["wrote_config"] = write_path
        click.echo(json.dumps(d, indent=2, default=str))
    else:
        _print_result(result, only_diff)
    if not result.agree:
        raise click.exceptions.Exit(1)
