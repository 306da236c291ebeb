"""CPU microbenchmarks for calibrating the cpu backend: GEMM sizes, element-wise
transcendental functions, small-op overhead chains and convolutions, in onnxruntime and in
PyTorch, one pinned thread.

Each benchmark is a tiny PyTorch module, exported to ONNX with hwsim's exporter
(``hwsim.frontends.torch.export_onnx``) and lowered by the ONNX frontend, so the IR graph in
the measurement file is exactly what the backend costs. Results go to
``calibration/measurements/local/microbench/<runtime>/<name>.json`` (``hwsim-measurement/1``).

    python benchmarks/cpugpu_microbench.py [--runtime onnxruntime,torch] [--max-time 0.6]

Shared-machine note: the 2 vCPUs of the project machine are shared with other jobs; each
point is the minimum of many short samples, and the load average at start is recorded.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "calibration" / "measurements" / "local" / "microbench"


def benchmarks() -> list[tuple[str, Callable[[], object], tuple[int, ...], list[int], str, str]]:
    """(name, module factory, per-inference input shape, batches, input kind, tag)."""
    import torch
    from torch import nn

    from hwsim.frontends import zoo

    onnx_cosh = zoo._defs().onnx_cosh

    class F(nn.Module):
        def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
            super().__init__()
            self.fn = fn

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fn(x)

    out: list[tuple[str, Callable[[], object], tuple[int, ...], list[int], str, str]] = []
    for k, n, batches in [
        (1024, 1024, [64, 256]),
        (256, 256, [1, 16, 256, 2048]),
        (64, 64, [1, 64, 1024]),
        (16, 64, [1, 64, 4096]),
        (57, 8, [64, 4096]),
        (256, 1, [4096]),
        (512, 128, [8, 512]),
    ]:
        out.append((f"gemm-{k}x{n}", (lambda k=k, n=n: nn.Linear(k, n)), (k,), batches, "float", "gemm"))
    funcs: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "cosh": onnx_cosh,
        "exp": torch.exp,
        "log": lambda x: torch.log(x),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "erf": torch.erf,
        "relu": torch.relu,
        "add": lambda x: x + 1.0,
        "div": lambda x: x / 3.0,
        "softmax": lambda x: torch.softmax(x, dim=-1),
        "sqrt": torch.sqrt,
    }
    for fname, fn in funcs.items():
        kind = "positive" if fname in ("log", "sqrt") else "float"
        out.append((f"elem-{fname}", (lambda fn=fn: F(fn)), (256,), [1, 64, 1024], kind, "elem"))
    out.append(("chain-relu20", lambda: nn.Sequential(*[nn.ReLU() for _ in range(20)]), (8,), [1, 64], "float", "overhead"))
    out.append(
        ("chain-linear20", lambda: nn.Sequential(*[nn.Linear(8, 8) for _ in range(20)]), (8,), [1, 64], "float", "overhead")
    )
    out.append(("matmul-2x16x16", lambda: F(lambda x: torch.matmul(x, x)), (2, 16, 16), [1, 64, 1024], "float", "matmul"))
    out.append(("softmax-16x16", lambda: F(lambda x: torch.softmax(x, dim=-1)), (16, 16), [1, 64, 1024], "float", "elem"))
    out.append(("conv-3to16-32x32", lambda: nn.Conv2d(3, 16, 3), (3, 32, 32), [1, 16, 128], "float", "conv"))
    out.append(("pool-max2-16x30x30", lambda: nn.MaxPool2d(2), (16, 30, 30), [1, 16, 128], "float", "elem"))
    out.append(("bn2d-16x30x30", lambda: nn.BatchNorm2d(16).eval(), (16, 30, 30), [1, 16, 128], "float", "elem"))
    out.append(("bn1d-8x8", lambda: nn.BatchNorm1d(8).eval(), (8, 8), [1, 64, 1024], "float", "elem"))
    out.append(("bn-feature-8x8", lambda: zoo._defs().FeatureBatchNorm(8).eval(), (8, 8), [1, 64, 1024], "float", "elem"))
    out.append(("layernorm-16x16", lambda: nn.LayerNorm(16), (16, 16), [1, 64, 1024], "float", "elem"))
    out.append(("conv-1to8-11x11", lambda: nn.Conv2d(1, 8, 3, padding=1), (1, 11, 11), [1, 64, 512], "float", "conv"))
    out.append(("conv-16to16-16x16", lambda: nn.Conv2d(16, 16, 3, padding=1), (16, 16, 16), [1, 16, 128], "float", "conv"))
    # convolutions with few channels (skinny im2col GEMMs: N = C_out of 2..8, K = 9 C_in small),
    # added by H7b: the zoo's PyTorch/onnxruntime errors were largest on such layers, and the
    # microbenchmarks had none with C_out < 8 to fit the conv shape constants on. Shapes are
    # a grid over (C_in, C_out) in {2, 4, 8, 16}, not copies of any zoo layer.
    for cin, cout, hw in [(2, 2, 16), (4, 2, 12), (16, 2, 8), (2, 8, 12), (4, 4, 16), (8, 4, 12)]:
        out.append(
            (
                f"conv-{cin}to{cout}-{hw}x{hw}",
                (lambda cin=cin, cout=cout: nn.Conv2d(cin, cout, 3)),
                (cin, hw, hw),
                [1, 16, 256, 2048],
                "float",
                "conv",
            )
        )
    return out


def build_target(name: str, factory: Callable[[], object], shape: tuple[int, ...], kind: str):  # type: ignore[no-untyped-def]
    import numpy as np
    import onnx
    import torch

    from hwsim.backends.cpugpu.measure import Target
    from hwsim.frontends.onnx import from_proto
    from hwsim.frontends.torch import export_onnx

    torch.manual_seed(0)
    mod = factory().eval()  # type: ignore[attr-defined]
    buf = io.BytesIO()
    export_onnx(mod, torch.randn(1, *shape), buf)
    data = buf.getvalue()
    graph = from_proto(onnx.load_from_string(data), name=name)

    def make(batch: int) -> np.ndarray:
        rng = np.random.default_rng(7)
        x = rng.standard_normal((batch, *shape)).astype(np.float32)
        return np.abs(x) + 0.5 if kind == "positive" else x

    return Target(name, graph, make, data, mod)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runtime", default="onnxruntime,torch")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-time", type=float, default=0.6)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--only", default="", help="comma list of benchmark names")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from hwsim.backends.cpugpu.measure import measure_target, save_json_atomic

    only = {s for s in args.only.split(",") if s}
    t0 = time.time()
    for runtime in [r.strip() for r in args.runtime.split(",") if r.strip()]:
        for name, factory, shape, batches, kind, tag in benchmarks():
            if only and name not in only:
                continue
            target = build_target(name, factory, shape, kind)
            data = measure_target(
                target, runtime, batches, args.threads, "cpu", args.samples, args.max_time, tags=["microbench", tag]
            )
            data["model_file"] = None
            data["command"] = "python benchmarks/cpugpu_microbench.py " + " ".join(argv if argv is not None else sys.argv[1:])
            path = OUT / runtime / f"{name}.json"
            save_json_atomic(path, data)
            best = ", ".join(f"b{r['batch']}: {r['min_s']:.3g}s" for r in data["results"])
            print(f"{runtime:12s} {name:22s} {best}", flush=True)
    print(f"done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
