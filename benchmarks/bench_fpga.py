"""Speed of the fpga backend: time per estimate of a lowered, prepared graph.

    python benchmarks/bench_fpga.py [--repeats N]

Writes reports/fpga/bench.md. Each zoo model is lowered and prepared once; then
``cost_graph(graph, backend, params, prepared=True)`` is timed with time.perf_counter over
many repeats, (a) warm: the backend's per-layer cost cache filled (what a search that
revisits layer shapes sees), (b) cold: the cache cleared before every estimate.
Target (issue 3): the jet tagger 16-64-32-32-5 in <= 1 ms.

With ``--baseline DIR`` (an export of an older tree, e.g. ``git archive HEAD``) the same
script of that tree runs first in the same invocation; its figures are shown side by side.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from hwsim._paths import reports_dir
from hwsim.api import cost_graph
from hwsim.backends.fpga import FpgaBackend
from hwsim.frontends import zoo


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--baseline", type=Path, default=None, help="an older tree (git archive export) to measure first")
    args = ap.parse_args()
    before: dict[str, tuple[float, float]] = {}
    if args.baseline is not None:
        base = args.baseline.resolve()
        subprocess.run(
            [sys.executable, str(base / "benchmarks" / "bench_fpga.py"), "--repeats", str(args.repeats)],
            cwd=str(base),
            env=dict(os.environ, PYTHONPATH=str(base)),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for ln in (base / "reports" / "fpga" / "bench.md").read_text().splitlines():
            m = re.match(r"\| (\S+) \| \d+ \| ([\d.]+) \| [\d,]+ \| ([\d.]+) \|", ln)
            if m:
                before[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    be = FpgaBackend()
    params = be.resolve_params(None, {"part": "xcu250-figd2104-2L-e"}, profile={})
    rows = []
    for name in zoo.names():
        g = be.prepare(zoo.load(name), params)
        cost_graph(g, be, params, prepared=True)  # warm-up (imports, caches)
        warm = _time(lambda g=g: cost_graph(g, be, params, prepared=True), args.repeats)

        def cold(g=g) -> None:  # type: ignore[no-untyped-def]
            be._cost_cache.clear()
            be._op_cache.clear()
            params_cfg = be._ctx(params)[0]
            params_cfg.__dict__.pop("_plan_memo", None)
            cost_graph(g, be, params, prepared=True)

        cold_t = _time(cold, max(30, args.repeats // 5))
        rows.append((name, len(g), statistics.median(warm), statistics.median(cold_t)))
    lines = [
        "# fpga backend: estimate speed",
        "",
        f"`python benchmarks/bench_fpga.py --repeats {args.repeats}"
        + (f" --baseline {args.baseline}" if args.baseline else "")
        + f"` on {platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "(shared 2-core machine; medians of time.perf_counter over the repeats). Graph lowered and prepared",
        "once (BN folded, identities dropped); the timed call is `cost_graph(graph, FpgaBackend(), params, prepared=True)`:",
        "hls4ml plan (RF snapping, precision inference, pipeline style) + per-layer costs + top-level composition.",
        "",
        "| model | layers | warm: ms / estimate | warm: estimates/s | cold cache: ms / estimate | cold: estimates/s |"
        + (" before: warm ms | before: cold ms |" if before else ""),
        "|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if before else ""),
    ]
    for name, n, w, c in rows:
        b = before.get(name)
        extra = (f" {b[0]:.3f} | {b[1]:.3f} |" if b else " n/a | n/a |") if before else ""
        lines.append(f"| {name} | {n} | {w * 1e3:.3f} | {1 / w:,.0f} | {c * 1e3:.3f} | {1 / c:,.0f} |" + extra)
    jet = next(r for r in rows if r[0] == "jet-mlp")
    lines += ["", f"Jet tagger (jet-mlp): {jet[2] * 1e3:.3f} ms warm, {jet[3] * 1e3:.3f} ms cold; target <= 1 ms."]
    if before:
        lines += [
            "",
            f"'before' columns: the same script of the previous tree (`--baseline {args.baseline}`), run first in this",
            "invocation on the same machine. 'layers' are this tree's (the previous tree does not cost LayerNorm or",
            "matmul, so transformer-block had fewer costed layers before).",
        ]
    out = reports_dir() / "fpga"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
