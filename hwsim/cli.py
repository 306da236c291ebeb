"""The ``hwsim`` command line: a thin layer over the library.

Every subcommand beyond the core ones lives in its own module and is imported only when
called (``_LAZY``), so ``hwsim estimate`` starts fast. Bad input ends in one ``error:`` line on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from hwsim.errors import ConfigError, HwsimError

# subcommand name -> "module:attribute" of a click command, imported on first use
_LAZY: dict[str, str] = {
    "check-hls4ml": "hwsim.backends.fpga.cli:check_hls4ml",
    "calibrate": "hwsim.calibration.cli:calibrate",
    "validate": "hwsim.calibration.cli:validate",
    "measure": "hwsim.backends.cpugpu.cli:measure",
    "search": "hwsim.search.cli:search",
}

# options of `hwsim estimate` that only some backends read; each hook is "module:function"
# called as hook(graph, backend, params, options) -> dict merged into the JSON output
_ESTIMATE_HOOKS: dict[str, str] = {
    "noise": "hwsim.backends.aimc.noise:cli_hook",
}


def fail(message: str) -> None:
    """Raise the exception the CLI turns into ``error: message`` / exit 2."""
    raise click.exceptions.Exit(_print_error(message))


def _print_error(message: str) -> int:
    click.echo(f"error: {message}", err=True)
    return 2


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_LAZY))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            return cmd
        target = _LAZY.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise HwsimError(f"command {cmd_name!r} is not available: {exc}") from exc
        return getattr(module, attr)  # type: ignore[no-any-return]


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hwsim")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """hwsim: what will this network cost on that hardware?"""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def parse_sets(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def load_config_file(path: str | None) -> dict[str, Any] | None:
    """A YAML or JSON configuration file (an hls4ml config for the fpga backend)."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    text = p.read_text()
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml/json errors have many types
        raise ConfigError(f"{path}: not valid YAML/JSON: {str(exc).splitlines()[0]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping, not {type(data).__name__}")
    return data


def load_profile_file(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    from hwsim.calibration.profile import load_profile

    return load_profile(path)


def _fmt(v: Any) -> str:
    """Human-friendly number formatting for tables (JSON/CSV keep full precision)."""
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v == 0:
            return "0"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        if abs(v) >= 1000:
            return f"{v:.0f}"
        if abs(v) >= 0.01:
            return f"{v:.4g}"
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def print_table(title: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    if columns is None:
        seen: dict[str, None] = {}
        for r in rows:
            for k in r:
                seen.setdefault(k, None)
        columns = list(seen)
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, no_wrap=True)
    for row in cells:
        table.add_row(*row)
    Console(width=min(sum(w + 3 for w in widths) + 1, 400)).print(table)


def emit(data: Mapping[str, Any], fmt: str, layers_key: str = "layers") -> None:
    """Print a result dict as json, csv (its layers) or a table."""
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, default=str))
        return
    if fmt == "csv":
        import csv

        rows = list(data.get(layers_key, []))
        cols: dict[str, None] = {}
        for r in rows:
            for k in r:
                cols.setdefault(k, None)
        w = csv.DictWriter(sys.stdout, fieldnames=list(cols), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in cols})
        return
    print_table(f"{data.get('backend', '')}: {data.get('model', '')} — per layer", list(data.get(layers_key, [])))
    totals = data.get("totals", {})
    if totals:
        print_table("totals", [{"metric": k, "value": v} for k, v in totals.items()], ["metric", "value"])
    for key in ("unsupported",):
        if data.get(key):
            print_table(key, list(data[key]))
    for w in data.get("warnings", []):
        click.echo(f"warning: {w}")
    for k, v in data.items():
        if (
            k not in ("backend", "model", "totals", "layers", "unsupported", "params", "warnings", "fingerprint")
            and isinstance(v, list)
            and v
            and isinstance(v[0], dict)
        ):
            print_table(k, v)


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------

FORMATS = click.Choice(["table", "json", "csv"])


@cli.command()
@click.argument("model")
@click.option("--backend", "-b", default="bops", show_default=True, help="bops, fpga, aimc, cpu, gpu (see `hwsim backends`).")
@click.option(
    "--config", "config_path", type=str, default=None, help="Backend configuration file (YAML/JSON; fpga: an hls4ml config)."
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one option (repeatable).")
@click.option("--profile", "profile_path", default=None, help="Calibration profile JSON (from `hwsim calibrate`).")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--strict", is_flag=True, help="Fail on the first op the frontend or backend cannot cost.")
@click.option("--batch", "batch", default=None, help="cpu/gpu: batch size, or a comma list to sweep (1,64,4096).")
@click.option("--noise", is_flag=True, help="aimc: evaluate accuracy under PCM noise and drift with aihwkit.")
@click.option("--data", "data_path", default=None, help="aimc --noise: inputs as .npy (N x input shape).")
@click.option("--labels", "labels_path", default=None, help="aimc --noise: integer labels .npy (accuracy), else MSE vs digital.")
@click.option(
    "--t-inference", "t_inference", default="1h,1d,1y", show_default=True, help="aimc --noise: drift times (s, m, h, d, y)."
)
@click.option("--seeds", default=5, show_default=True, type=int, help="aimc --noise: repetitions (programming noise seeds).")
def estimate(
    model: str,
    backend: str,
    config_path: str | None,
    sets: tuple[str, ...],
    profile_path: str | None,
    fmt: str,
    strict: bool,
    batch: str | None,
    noise: bool,
    data_path: str | None,
    labels_path: str | None,
    t_inference: str,
    seeds: int,
) -> None:
    """Estimate the cost of MODEL (an .onnx file or a bundled model name) on a backend."""
    from hwsim.api import cost_graph, lower, resolve

    overrides = parse_sets(sets)
    config = load_config_file(config_path)
    profile = load_profile_file(profile_path)
    graph = lower(model, strict=strict)
    batches: list[str] = []
    if batch is not None:
        batches = [b.strip() for b in batch.split(",") if b.strip()]
        if not batches:
            raise ConfigError(f"--batch {batch!r}: expected one or more sizes")
    if noise and backend != "aimc":
        raise ConfigError("--noise is an option of the aimc backend")
    runs: list[dict[str, Any]] = []
    for b in batches or [None]:  # type: ignore[list-item]
        ov = dict(overrides)
        if b is not None:
            ov["batch"] = b
        be, params = resolve(backend, config, ov, profile)
        est = cost_graph(graph, be, params, strict=strict)
        d = est.to_dict()
        d["model"] = model
        runs.append(d)
    result: dict[str, Any] = runs[0] if len(runs) == 1 else {"backend": backend, "model": model, "sweep": runs}
    if noise:
        module_name, _, attr = _ESTIMATE_HOOKS["noise"].partition(":")
        hook: Callable[..., dict[str, Any]] = getattr(importlib.import_module(module_name), attr)
        be, params = resolve(backend, config, overrides, profile)
        result.update(
            hook(
                graph,
                be,
                params,
                {"data": data_path, "labels": labels_path, "t_inference": t_inference, "seeds": seeds, "model": model},
            )
        )
    if len(runs) > 1 and fmt != "json":
        rows = []
        for r in runs:
            row = {"batch": r["params"].get("batch", {}).get("value")}
            row.update(r["totals"])
            rows.append(row)
        if fmt == "csv":
            emit({"layers": rows}, "csv")
        else:
            print_table(f"{backend}: {model} — batch sweep", rows)
        return
    emit(result, fmt)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def backends(fmt: str) -> None:
    """List the registered backends and what each supports."""
    from hwsim.backends.base import available_backends, get_backend

    rows = []
    for name in available_backends():
        try:
            rows.append(get_backend(name).describe())  # type: ignore[attr-defined]
        except HwsimError as exc:
            rows.append({"name": name, "description": f"(cannot load: {exc})", "claims": [], "totals": [], "options": {}})
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    import textwrap

    for r in rows:
        click.echo(f"{r['name']} — {r['description']}")
        for label, items in (("ops", r["claims"]), ("totals", r["totals"]), ("options", list(r["options"]))):
            text = ", ".join(items) or "-"
            click.echo(textwrap.fill(text, width=100, initial_indent=f"  {label + ':':9}", subsequent_indent=" " * 11))
        click.echo("")
    click.echo("Options and their defaults, units and sources: hwsim backends --format json")


@cli.command()
@click.argument("model")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--passes", default="", help="Comma list of passes to run first (fold_batchnorm,fuse_activations,drop_identities).")
@click.option("--strict", is_flag=True, help="Fail on the first op the frontend cannot read.")
def inspect(model: str, fmt: str, passes: str, strict: bool) -> None:
    """Print the lowered graph of MODEL: ops, shapes, precision, sparsity."""
    from hwsim.api import lower
    from hwsim.passes import run_passes

    graph = lower(model, strict=strict)
    messages: tuple[str, ...] = ()
    names = [p.strip() for p in passes.split(",") if p.strip()]
    if names:
        try:
            res = run_passes(graph, names)
        except ValueError as exc:
            raise ConfigError(f"--passes: {exc}") from None
        graph, messages = res.graph, res.messages
    if fmt == "json":
        d = graph.to_json()
        d["passes"] = list(messages)
        d["n_params"] = graph.n_params
        d["macs"] = graph.macs
        click.echo(json.dumps(d, indent=2))
        return
    rows = []
    for op in graph.ops():
        prec = op.precision
        rows.append(
            {
                "name": op.name,
                "op": op.kind + (f":{op.function}" if op.function else ""),
                "in": "x".join(map(str, op.input_shape)),
                "out": "x".join(map(str, op.output_shape)),
                "weight": str(prec.weight or "-") if op.n_weights else "-",
                "act": str(prec.output or "-"),
                "sparsity": f"{op.sparsity:.2f}" if op.n_weights else "-",
                "params": op.n_params,
                "macs": op.macs,
                "origin": ",".join(op.origin),
            }
        )
    print_table(f"{graph.name} (fingerprint {graph.fingerprint()})", rows)
    click.echo(f"inputs: {', '.join(t.name + ' ' + 'x'.join(map(str, t.shape)) for t in graph.inputs)}")
    click.echo(f"ops: {len(graph)}  params: {graph.n_params}  MACs: {graph.macs}")
    for m in messages:
        click.echo(f"pass: {m}")


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: run the CLI, map errors to ``error:`` + exit 2."""
    try:
        rv = cli.main(args=list(argv) if argv is not None else None, prog_name="hwsim", standalone_mode=False)
        # with standalone_mode=False click returns (not raises) the code of a command's Exit
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.exceptions.Abort:
        return _print_error("aborted")
    except click.ClickException as exc:
        # usage errors (unknown option, bad choice): one line, exit 2
        msg = exc.format_message().replace("\n", " ")
        return _print_error(msg)
    except HwsimError as exc:
        return _print_error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt:
        return _print_error("interrupted")
    except BrokenPipeError:
        return 0
    except Exception as exc:  # an internal bug: still no traceback for the user
        logging.getLogger("hwsim").debug("internal error", exc_info=True)
        return _print_error(
            f"internal error ({type(exc).__name__}): {str(exc).splitlines()[0] if str(exc) else ''} — rerun with -vv for details"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
