"""Timing real runs: onnxruntime or PyTorch, pinned threads, warm-up, many short samples.

Method (cpu-gpu.md, "Measuring here"): the thread count is pinned (``torch.set_num_threads``
/ ``SessionOptions.intra_op_num_threads``; oversubscribing busy cores made runs 380-750x
slower), every batch size is warmed up, then timed as many short samples, each a loop of
``inner`` calls sized to last at least ``min_sample_s`` (timer resolution); the report gives
the minimum and the median per call (the minimum is the least disturbed by a shared machine)
and the throughput ``batch / min``. On CUDA every sample ends with a synchronize.

Energy: RAPL (``/sys/class/powercap/intel-rapl:*/energy_uj``) on a CPU, NVML total energy on
a GPU, over a steady loop of at least ``energy_s`` seconds (NVML updates every 10-100 ms).
Where neither exists (this project's VMs) the result says so and carries no energy.

The measurement file (``hwsim-measurement/1``) embeds the lowered IR graph, so calibration
needs no frontend and no model file.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.errors import ConfigError, ModelError, OptionalDependencyError, ReportError
from hwsim.ir import OpGraph

log = logging.getLogger(__name__)

SCHEMA = "hwsim-measurement/1"
RUNTIMES = ("onnxruntime", "torch")

Runner = Callable[[Any], Any]


# ---------------------------------------------------------------------------------------------
# energy counters
# ---------------------------------------------------------------------------------------------


def rapl_domains() -> list[Path]:
    """Readable RAPL package counters (empty when absent or unreadable)."""
    base = Path("/sys/class/powercap")
    out = []
    if base.is_dir():
        for d in sorted(base.glob("intel-rapl:*")):
            f = d / "energy_uj"
            if f.is_file() and ":" not in d.name.split("intel-rapl:")[1]:
                try:
                    int(f.read_text())
                    out.append(f)
                except (OSError, ValueError):
                    continue
    return out


def energy_support(device: str) -> tuple[bool, str]:
    """(available, how or why not)."""
    if device == "cpu":
        doms = rapl_domains()
        if doms:
            return True, f"RAPL package counters {', '.join(str(d) for d in doms)} (CPU packages only, not DRAM/board)"
        return (
            False,
            "no readable RAPL counters (/sys/class/powercap absent or unreadable, as in VMs): energy cannot be measured here",
        )
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
        return True, "NVML total energy counter of GPU 0 (board power; updates every 10-100 ms)"
    except Exception as exc:  # pynvml missing or counter unsupported
        return False, f"NVML energy counter unavailable ({type(exc).__name__}: {exc})"


def _read_energy_j(device: str) -> float:
    if device == "cpu":
        return sum(int(p.read_text()) for p in rapl_domains()) * 1e-6
    import pynvml

    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    return float(pynvml.nvmlDeviceGetTotalEnergyConsumption(h)) * 1e-3


# ---------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------


def time_runner(
    run: Runner,
    x: Any,
    sync: Callable[[], None] | None = None,
    samples: int = 30,
    max_time_s: float = 1.0,
    min_sample_s: float = 2e-4,
    warmup_s: float = 0.05,
) -> dict[str, Any]:
    """Time ``run(x)``: warm-up, then up to ``samples`` samples of ``inner`` calls each within
    ``max_time_s``. Returns per-call min, median, p10, p90 (s) and the counts."""
    do_sync = sync or (lambda: None)
    t0 = time.perf_counter()
    n_warm = 0
    while n_warm < 3 or time.perf_counter() - t0 < warmup_s:
        run(x)
        n_warm += 1
        if n_warm >= 1000:
            break
    do_sync()
    t1 = (time.perf_counter() - t0) / n_warm
    inner = max(1, math.ceil(min_sample_s / max(t1, 1e-9)))
    n = int(max(5, min(samples, max_time_s / max(t1 * inner, 1e-9))))
    per_call: list[float] = []
    for _ in range(n):
        s = time.perf_counter()
        for _ in range(inner):
            run(x)
        do_sync()
        per_call.append((time.perf_counter() - s) / inner)
    per_call.sort()
    q = statistics.quantiles(per_call, n=10) if len(per_call) >= 2 else [per_call[0]] * 9
    return {
        "min_s": per_call[0],
        "median_s": statistics.median(per_call),
        "p10_s": q[0],
        "p90_s": q[-1],
        "n_samples": n,
        "inner": inner,
        "warmup_calls": n_warm,
    }


def measure_energy(run: Runner, x: Any, device: str, sync: Callable[[], None] | None, energy_s: float) -> float:
    """Energy (J) per call over a steady loop of at least ``energy_s`` seconds."""
    do_sync = sync or (lambda: None)
    do_sync()
    e0 = _read_energy_j(device)
    t0 = time.perf_counter()
    calls = 0
    while time.perf_counter() - t0 < energy_s:
        run(x)
        calls += 1
    do_sync()
    e1 = _read_energy_j(device)
    if e1 < e0:  # counter wrapped
        raise ReportError("energy counter wrapped during the measurement; rerun")
    return (e1 - e0) / max(calls, 1)


# ---------------------------------------------------------------------------------------------
# runners
# ---------------------------------------------------------------------------------------------


class Target:
    """What to run: an ONNX file (or bytes), an optional torch module, input maker, IR graph."""

    def __init__(
        self,
        name: str,
        graph: OpGraph,
        make_input: Callable[[int], np.ndarray],
        onnx_model: str | bytes | None = None,
        torch_module: Any = None,
    ) -> None:
        self.name = name
        self.graph = graph
        self.make_input = make_input
        self.onnx_model = onnx_model
        self.torch_module = torch_module


def target_for(model: str) -> Target:
    """A zoo name or a path to an ``.onnx`` file."""
    from hwsim.frontends import load_model, zoo

    if zoo.exists(model):
        info = zoo.info(model)
        shape = tuple(int(s) for s in info.get("input_shape", ()))
        kind = str(info.get("input_kind", "float"))
        graph = zoo.load(model)
        if not shape:
            shape = graph.inputs[0].shape
        return Target(model, graph, _input_maker(shape, kind), str(zoo.path(model)), ("zoo", model))
    p = Path(model)
    if not p.is_file():
        raise ModelError(f"{model}: no such file, and not a bundled model")
    graph = load_model(p)
    if len(graph.inputs) != 1:
        raise ModelError(f"{model}: measure supports models with one input, this one has {len(graph.inputs)}")
    return Target(p.stem, graph, _input_maker(graph.inputs[0].shape, "float"), str(p), None)


def _input_maker(shape: tuple[int, ...], kind: str) -> Callable[[int], np.ndarray]:
    def make(batch: int) -> np.ndarray:
        rng = np.random.default_rng(1234)
        if kind == "spins":
            return (rng.integers(0, 2, size=(batch, *shape)) * 2 - 1).astype(np.float32)
        return rng.standard_normal((batch, *shape)).astype(np.float32)

    return make


def _ort_runner(target: Target, threads: int, device: str) -> tuple[Runner, Callable[[Any], Any], None, str]:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise OptionalDependencyError("onnxruntime is not installed (pip install 'hwsim[measure]')") from exc
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    providers = ["CPUExecutionProvider"] if device == "cpu" else ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device != "cpu" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise OptionalDependencyError("onnxruntime has no CUDAExecutionProvider here (install onnxruntime-gpu)")
    if target.onnx_model is None:
        raise ModelError(f"{target.name}: no ONNX model to run in onnxruntime")
    sess = ort.InferenceSession(target.onnx_model, sess_options=so, providers=providers)
    in_name = sess.get_inputs()[0].name

    def run(x: Any) -> Any:
        return sess.run(None, {in_name: x})

    return run, (lambda a: a), None, f"onnxruntime {ort.__version__} ({providers[0]})"


def _torch_runner(
    target: Target, threads: int, device: str
) -> tuple[Runner, Callable[[Any], Any], Callable[[], None] | None, str]:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        raise OptionalDependencyError("torch is not installed") from exc
    torch.set_num_threads(threads)
    mod = target.torch_module
    how = "module"
    if isinstance(mod, tuple) and mod[0] == "zoo":
        from hwsim.frontends import zoo

        mod, _ = zoo.module(mod[1])
        how = "zoo PyTorch definition"
    elif mod is None:
        try:
            from hwsim.executor import to_torch  # type: ignore[import-not-found,attr-defined,unused-ignore]
        except ImportError as exc:
            raise OptionalDependencyError(
                f"{target.name}: the torch runtime needs a PyTorch module: this is not a zoo model and hwsim.executor.to_torch is not available ({exc})"
            ) from None
        mod = to_torch(target.graph)
        how = "hwsim.executor.to_torch(IR graph)"
    if device != "cpu" and not torch.cuda.is_available():
        raise OptionalDependencyError("torch has no CUDA device here")
    dev = torch.device("cuda" if device != "cpu" else "cpu")
    mod = mod.eval().to(dev)
    sync = torch.cuda.synchronize if device != "cpu" else None

    def run(x: Any) -> Any:
        with torch.inference_mode():
            return mod(x)

    def convert(a: np.ndarray) -> Any:
        return torch.from_numpy(a).to(dev)

    return run, convert, sync, f"torch {torch.__version__} ({how}, {dev.type}, eager)"


# ---------------------------------------------------------------------------------------------
# the measurement
# ---------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    from hwsim.backends.cpugpu.devices import local_cpu

    f = local_cpu()
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = (math.nan,) * 3
    return {
        "host": platform.node(),
        "cpu": str(f["label"].value),
        "cores": int(f["cores"].value),
        "isa": list(f["isa"].value),
        "clock_hz_cpuinfo": float(f["clock_hz"].value),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def _gpu_name() -> str | None:
    """CUDA device 0's name (what :class:`~.calibration.GpuAdapter` matches against the
    catalog's GPU labels), or None when torch cannot tell."""
    try:
        import torch

        return str(torch.cuda.get_device_name(0)) if torch.cuda.is_available() else None
    except Exception:  # pragma: no cover - torch missing or broken CUDA
        return None


def measure_target(
    target: Target,
    runtime: str,
    batches: Sequence[int],
    threads: int = 1,
    device: str = "cpu",
    samples: int = 30,
    max_time_s: float = 1.0,
    min_sample_s: float = 2e-4,
    energy_s: float = 2.0,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """Measure ``target`` at each batch size; returns the measurement dict (``SCHEMA``)."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"--runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"--device {device!r}: expected cpu or cuda")
    if threads < 1:
        raise ConfigError(f"--threads {threads}: must be >= 1")
    if not batches or any(int(b) < 1 for b in batches):
        raise ConfigError(f"--batch {list(batches)}: sizes must be >= 1")
    if samples < 1:
        raise ConfigError(f"--samples {samples}: must be >= 1")
    build = _ort_runner if runtime == "onnxruntime" else _torch_runner
    run, convert, sync, rt_label = build(target, threads, device)
    e_ok, e_how = energy_support(device)
    results = []
    for b in batches:
        x = convert(target.make_input(int(b)))
        r = time_runner(run, x, sync, samples, max_time_s, min_sample_s)
        r = {"batch": int(b), **r, "throughput_per_s": int(b) / r["min_s"], "throughput_median_per_s": int(b) / r["median_s"]}
        if e_ok:
            e = measure_energy(run, x, device, sync, energy_s)
            r["energy_per_call_j"] = e
            r["energy_per_inference_j"] = e / int(b)
        else:
            r["energy_per_inference_j"] = None
        results.append(r)
        log.info("%s %s batch %d: min %.3g s, median %.3g s", target.name, runtime, b, r["min_s"], r["median_s"])
    return {
        "schema": SCHEMA,
        "model": target.name,
        "model_file": str(target.onnx_model) if isinstance(target.onnx_model, str) else None,
        "fingerprint": target.graph.fingerprint(),
        "runtime": runtime,
        "runtime_version": rt_label,
        "device": device,
        "threads": threads,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "machine": {**machine_info(), **({"gpu": _gpu_name()} if device == "cuda" else {})},
        "method": {
            "timer": "time.perf_counter",
            "warmup_s": 0.05,
            "samples": samples,
            "max_time_s_per_batch": max_time_s,
            "min_sample_s": min_sample_s,
            "statistic": "per-call time = sample time / inner calls; min and median over samples",
        },
        "energy": {"available": e_ok, "how": e_how} if e_ok else {"available": False, "reason": e_how},
        "tags": list(tags),
        "results": results,
        "graph": target.graph.to_json(),
    }


def measure(
    model: str,
    runtime: str,
    batches: Sequence[int],
    threads: int = 1,
    device: str = "cpu",
    samples: int = 30,
    max_time_s: float = 1.0,
    energy_s: float = 2.0,
) -> dict[str, Any]:
    """Measure a zoo model or an ONNX file (see :func:`measure_target`)."""
    return measure_target(target_for(model), runtime, batches, threads, device, samples, max_time_s, energy_s=energy_s)


def load_measurement(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a measurement file; raises ReportError naming the file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{p}: not a readable measurement JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ReportError(f"{p}: not a {SCHEMA} file")
    for key in ("model", "runtime", "threads", "results", "graph"):
        if key not in data:
            raise ReportError(f"{p}: measurement lacks {key!r}")
    try:
        OpGraph.from_json(data["graph"])
        for r in data["results"]:
            if float(r["min_s"]) <= 0 or int(r["batch"]) < 1:
                raise ValueError(f"bad result {r}")
    except (ValueError, KeyError, TypeError, ModelError) as exc:
        raise ReportError(f"{p}: malformed measurement: {exc}") from None
    data.setdefault("path", str(p))
    return data


def save_json_atomic(path: str | os.PathLike[str], data: Any) -> Path:
    """Write a measurement/result JSON atomically (hwsim._io)."""
    from hwsim._io import atomic_write_json

    return atomic_write_json(path, data, indent=1)
