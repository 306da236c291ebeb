"""``hwsim measure``: time a model for real in onnxruntime or PyTorch (see :mod:`.measure`)."""

from __future__ import annotations

import click

from hwsim.errors import ConfigError


def _batches(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            v = int(part)
        except ValueError:
            raise ConfigError(f"--batch {text!r}: {part!r} is not an integer") from None
        if v < 1:
            raise ConfigError(f"--batch {text!r}: sizes must be >= 1")
        out.append(v)
    if not out:
        raise ConfigError(f"--batch {text!r}: expected one or more sizes")
    return out


@click.command()
@click.argument("model")
@click.option("--runtime", type=click.Choice(["onnxruntime", "torch"]), default="onnxruntime", show_default=True)
@click.option("--batch", "batch", default="1,64,4096", show_default=True, help="Comma list of batch sizes.")
@click.option("--threads", default=1, show_default=True, type=int, help="Pinned thread count (intra-op threads).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--samples", default=30, show_default=True, type=int, help="Samples per batch size (each a loop of short calls).")
@click.option(
    "--max-time", "max_time", default=1.0, show_default=True, type=float, help="Seconds of sampling per batch size at most."
)
@click.option(
    "--energy-time",
    "energy_time",
    default=2.0,
    show_default=True,
    type=float,
    help="Seconds of steady loop per batch for RAPL/NVML energy.",
)
@click.option("--out", "out", default=None, help="Write the measurement JSON here (for `hwsim calibrate --backend cpu`).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def measure(
    model: str,
    runtime: str,
    batch: str,
    threads: int,
    device: str,
    samples: int,
    max_time: float,
    energy_time: float,
    out: str | None,
    fmt: str,
) -> None:
    """Run MODEL (zoo name or .onnx) for real and report min/median latency per batch."""
    import json

    from hwsim.backends.cpugpu.measure import measure as run_measure
    from hwsim.backends.cpugpu.measure import save_json_atomic
    from hwsim.cli import print_table

    if max_time <= 0 or energy_time <= 0:
        raise ConfigError("--max-time and --energy-time must be positive")
    data = run_measure(model, runtime, _batches(batch), threads, device, samples, max_time, energy_time)
    if out:
        save_json_atomic(out, data)
    if fmt == "json":
        slim = {k: v for k, v in data.items() if k != "graph"}
        click.echo(json.dumps(slim, indent=2))
        return
    rows = [
        {
            "batch": r["batch"],
            "min_s": r["min_s"],
            "median_s": r["median_s"],
            "throughput_per_s": r["throughput_per_s"],
            "energy_per_inference_j": "n/a" if r["energy_per_inference_j"] is None else r["energy_per_inference_j"],
            "samples": f"{r['n_samples']}x{r['inner']}",
        }
        for r in data["results"]
    ]
    print_table(f"{model}: {data['runtime_version']}, {threads} thread(s)", rows)
    en = data["energy"]
    click.echo(f"energy: {en.get('how') if en['available'] else en['reason']}")
    click.echo(
        f"load average at start: {data['machine']['loadavg_at_start']} (shared machine: timings are noisy; min is reported)"
    )
    if out:
        click.echo(f"wrote {out}")
