"""Speed of the ONNX and PyTorch frontends.

Usage: python benchmarks/bench_frontend.py [--repeats 20] [--out reports/bench_frontend.md]

Measures, on this machine:

1. a fresh interpreter that imports ``hwsim.frontends.onnx`` and lowers a 16-64-32-32-5 MLP
   ONNX file (what ``hwsim estimate model.onnx`` pays for the frontend), against a bare
   ``python -c pass`` and ``python -c "import onnx"`` in the same run;
2. in-process lowering time of that MLP and of every bundled ``models/onnx/*.onnx`` file;
3. ``export_onnx`` (TorchScript exporter, the one hwsim uses) against the dynamo exporter
   (``torch.onnx.export(dynamo=True)``) on a Conv2d+BN+ReLU+MaxPool+Linear net, and the total
   ``from_torch`` time (export + lowering).

Writes a Markdown table to ``--out`` and the raw numbers beside it as JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _mlp_onnx(path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    widths = (16, 64, 32, 32, 5)
    nodes, inits = [], []
    cur = "x"
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        inits += [
            numpy_helper.from_array(rng.normal(size=(b, a)).astype(np.float32), f"W{i}"),
            numpy_helper.from_array(np.zeros(b, np.float32), f"B{i}"),
        ]
        nodes.append(helper.make_node("Gemm", [cur, f"W{i}", f"B{i}"], [f"h{i}"], name=f"fc{i}", transB=1))
        act = "Softmax" if i == len(widths) - 2 else "Relu"
        nodes.append(helper.make_node(act, [f"h{i}"], [f"a{i}"], name=f"act{i}"))
        cur = f"a{i}"
    g = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 16])],
        [onnx.ValueInfoProto(name=cur)],
        initializer=inits,
    )
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), path)


def _wall(cmd: list[str], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        out.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return out


def _timeit(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", default="reports/bench_frontend.md")
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}

    def record(name: str, times: list[float]) -> None:
        results[name] = {"min_s": min(times), "median_s": statistics.median(times), "n": len(times)}

    with tempfile.TemporaryDirectory() as tmp:
        mlp = Path(tmp) / "mlp.onnx"
        _mlp_onnx(mlp)
        n = max(3, args.repeats // 4)
        record("python -c pass", _wall([sys.executable, "-c", "pass"], n))
        record("python -c 'import onnx'", _wall([sys.executable, "-c", "import onnx"], n))
        code = f"from hwsim.frontends.onnx import load_onnx; load_onnx({str(mlp)!r})"
        record("fresh interpreter: import + load_onnx(MLP)", _wall([sys.executable, "-c", code], n))

        from hwsim.frontends.onnx import load_onnx

        load_onnx(mlp)
        record("in-process load_onnx(MLP 16-64-32-32-5)", _timeit(lambda: load_onnx(mlp), args.repeats))
        for f in sorted((ROOT / "models" / "onnx").glob("*.onnx")):
            record(f"in-process load_onnx({f.name})", _timeit(lambda f=f: load_onnx(f), max(3, args.repeats // 4)))

    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None:
        from hwsim.frontends.torch import OPSET, export_onnx, from_torch

        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1),
            torch.nn.BatchNorm2d(8),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(8 * 5 * 5, 5),
        ).eval()
        x = torch.zeros(1, 1, 11, 11)
        t0 = time.perf_counter()
        export_onnx(net, x, io.BytesIO())
        record("export_onnx first call (TorchScript exporter)", [time.perf_counter() - t0])
        record("export_onnx (TorchScript exporter)", _timeit(lambda: export_onnx(net, x, io.BytesIO()), args.repeats))
        record("from_torch (export + lowering)", _timeit(lambda: from_torch(net, x), args.repeats))

        def dynamo() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import logging

                logging.getLogger("torch").setLevel(logging.ERROR)
                torch.onnx.export(net, (x,), dynamo=True, opset_version=OPSET, verbose=False)

        t0 = time.perf_counter()
        dynamo()
        record("dynamo exporter first call", [time.perf_counter() - t0])
        record("dynamo exporter (torch.export + onnxscript)", _timeit(dynamo, 3))

    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Frontend speed",
        "",
        f"Machine: {sys.platform}, Python {sys.version.split()[0]}; command: `python benchmarks/bench_frontend.py --repeats {args.repeats}`.",
        "",
        "| what | min (ms) | median (ms) | runs |",
        "|---|---:|---:|---:|",
    ]
    for k, v in results.items():
        lines.append(f"| {k} | {1e3 * v['min_s']:.1f} | {1e3 * v['median_s']:.1f} | {v['n']} |")
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
