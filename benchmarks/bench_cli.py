"""End-to-end time of `hwsim estimate` on an ONNX file, and which heavy modules it imports.

Usage: python benchmarks/bench_cli.py [--repeats 10] [--out reports/bench_cli.md]

Runs the console entry point in fresh interpreters (what a user pays per call), for each
backend on the bundled jet tagger ONNX file, and reports min / median wall time next to a bare
`python -c pass` start-up measured in the same run (the ratio is what matters on a shared,
noisy machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "hls4ml", "aihwkit", "onnxruntime", "optuna", "matplotlib", "scipy", "sklearn", "pandas")


def wall(cmd: list[str], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        out.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return out


def heavy_imports(model: str, backend: str) -> list[str]:
    code = (
        "import sys, io, contextlib\n"
        "from hwsim.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = main(['estimate', {model!r}, '--backend', {backend!r}, '--format', 'json'])\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    return [m for m in r.stdout.strip().split(",") if m]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--model", default="models/onnx/jet-mlp.onnx")
    ap.add_argument("--out", default="reports/bench_cli.md")
    args = ap.parse_args()
    base = wall([sys.executable, "-c", "pass"], args.repeats)
    rows = []
    from hwsim.backends.base import available_backends

    for backend in available_backends():
        t = wall(
            [sys.executable, "-m", "hwsim.cli", "estimate", args.model, "--backend", backend, "--format", "json"], args.repeats
        )
        rows.append((backend, min(t), statistics.median(t), heavy_imports(args.model, backend)))
    lines = [
        "# `hwsim estimate` end to end (fresh interpreter per call)",
        "",
        f"Command: `python benchmarks/bench_cli.py --repeats {args.repeats}`; model `{args.model}`; "
        f"{args.repeats} runs each, on a shared 2-core machine. Bare `python -c pass`: min {min(base) * 1e3:.0f} ms, "
        f"median {statistics.median(base) * 1e3:.0f} ms.",
        "",
        "| backend | min (ms) | median (ms) | median / bare python | heavy modules imported |",
        "|---|---|---|---|---|",
    ]
    for backend, tmin, tmed, heavy in rows:
        lines.append(
            f"| {backend} | {tmin * 1e3:.0f} | {tmed * 1e3:.0f} | {tmed / statistics.median(base):.1f}x | {', '.join(heavy) or 'none'} |"
        )
    text = "\n".join(lines) + "\n"
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(json.dumps({b: {"min_s": a, "median_s": m} for b, a, m, _ in rows}))


if __name__ == "__main__":
    main()
