"""Accuracy under analog PCM noise and conductance drift, with aihwkit's pure-PyTorch tiles.

The graph is executed by :func:`hwsim.executor.to_torch`; aihwkit's ``convert_to_analog``
maps its dense/conv layers onto simulated PCM tiles configured like the chip description
(:func:`rpu_config`): tile size = ``tile_rows`` x ``tile_cols`` (aihwkit splits larger
layers into tiles with digital partial sums, as the cost model does), DAC/ADC resolution from
``dac_bits``/``adc_bits``, additive output noise ``out_noise``, ``PCMLikeNoiseModel(g_max)``
(programming noise, drift ``g(t) = g_prog ((t + t0)/t0)^-nu``, 1/f read noise; Nandakumar
2019, Joshi 2020), optional ``GlobalDriftCompensation``, digital bias, weights scaled per
column to the conductance range (``weight_scaling_omega = 1``).

For each seed: ``torch.manual_seed(seed)``; ``program_analog_weights()`` (fresh programming
noise); then for each time ``drift_analog_weights(t)`` and a noisy forward pass over the data.
Results are deterministic for a given seed list. The metric is the accuracy when labels are
given (argmax of the last axis), else the mean squared error and the relative RMS error of the
outputs against the digital (float32) network.

Only the MVMs are analog: every other op (LDPU bias/ReLU, DPU look-ups, reductions, and
activation x activation matmuls, which the cost model lists as unsupported) runs in float32;
the low-precision arithmetic of the LDPU/DPU is not modelled.

aihwkit 1.1.0 is installed with ``pip install --no-deps aihwkit==1.1.0`` (its compiled tiles do
not load with torch 2.13; the torch tiles used here do).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.backends.base import Params
from hwsim.errors import ConfigError, OptionalDependencyError
from hwsim.ir import OpGraph

log = logging.getLogger(__name__)

INSTALL = "pip install --no-deps aihwkit==1.1.0 && pip install scipy scikit-learn tqdm requests protobuf"
#: seconds per unit suffix of --t-inference (a year is 365.25 days)
_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 365.25 * 86400.0}
DEFAULT_TIMES = (3600.0, 86400.0, 365.25 * 86400.0)


def parse_times(text: str | Sequence[float | str]) -> list[float]:
    """``"25s,1h,1d,1y"`` -> seconds (suffixes s, m/min, h, d, w, y; bare numbers are seconds)."""
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else [str(t).strip() for t in text]
    out: list[float] = []
    for item in items:
        if not item:
            continue
        m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)", item)
        unit = m.group(2).lower() if m else ""
        if not m or (unit and unit not in _UNITS):
            raise ConfigError(f"--t-inference: cannot read {item!r} (use e.g. 25s, 10m, 1h, 1d, 1y)")
        out.append(float(m.group(1)) * _UNITS.get(unit, 1.0))
    if not out:
        raise ConfigError("--t-inference: no times given")
    return out


def label_time(t: float) -> str:
    """A short label for a time in seconds (3600 -> '1h')."""
    for unit in ("y", "d", "h", "m"):
        v = t / _UNITS[unit]
        if v >= 1 and abs(v - round(v)) < 1e-9:
            return f"{int(round(v))}{unit}"
    return f"{t:g}s"


def _require_aihwkit() -> None:
    try:
        import aihwkit  # noqa: F401
    except ImportError as exc:
        raise OptionalDependencyError(f"--noise needs aihwkit ({exc}); install it with: {INSTALL}") from None


def rpu_config(params: Params | Mapping[str, Any], drift_compensation: bool = True) -> Any:
    """A ``TorchInferenceRPUConfig`` for the chip in ``params`` (see the module docstring)."""
    _require_aihwkit()
    from aihwkit.inference import GlobalDriftCompensation, PCMLikeNoiseModel
    from aihwkit.simulator.configs import TorchInferenceRPUConfig

    def v(key: str) -> Any:
        return params.value(key) if isinstance(params, Params) else params[key]

    c = TorchInferenceRPUConfig()
    c.mapping.max_input_size = int(v("tile_rows"))
    c.mapping.max_output_size = int(v("tile_cols"))
    c.mapping.weight_scaling_omega = 1.0
    c.mapping.digital_bias = True  # the bias is added in the LDPU (Kösters 2022)
    # signed DAC: 2^b - 2 steps over [-1, 1]; ADC: two unsigned b-bit outputs (+ and -)
    c.forward.inp_res = 1.0 / (2 ** int(v("dac_bits")) - 2)
    c.forward.out_res = 1.0 / (2 * (2 ** int(v("adc_bits")) - 1))
    c.forward.out_noise = float(v("out_noise"))
    c.noise_model = PCMLikeNoiseModel(g_max=float(v("g_max")))
    c.drift_compensation = GlobalDriftCompensation() if drift_compensation else None
    return c


def _metric(out: np.ndarray, ref: np.ndarray, y: np.ndarray | None) -> dict[str, float]:
    if y is not None:
        return {"accuracy": float(np.mean(np.argmax(out.reshape(len(out), -1), axis=1) == y))}
    d = (out - ref).reshape(len(out), -1)
    mse = float(np.mean(d**2))
    scale = float(np.sqrt(np.mean(ref.reshape(len(ref), -1) ** 2))) or 1.0
    return {"mse": mse, "rel_rmse": math.sqrt(mse) / scale, "mean_distance": float(np.mean(np.linalg.norm(d, axis=1)))}


def _forward(model: Any, X: np.ndarray, batch_size: int) -> np.ndarray:
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            y = model(torch.from_numpy(X[i : i + batch_size]))
            outs.append((y[0] if isinstance(y, tuple) else y).detach().cpu().numpy())
    return np.concatenate(outs, axis=0)


def evaluate_noise(
    graph: OpGraph,
    params: Params | Mapping[str, Any],
    X: np.ndarray,
    y: np.ndarray | None = None,
    t_inference: Sequence[float] = DEFAULT_TIMES,
    seeds: int | Sequence[int] = 5,
    drift_compensation: bool = True,
    batch_size: int = 2048,
) -> dict[str, Any]:
    """Evaluate ``graph`` on PCM tiles at each drift time (seconds after programming).

    ``params``: the aimc backend's resolved parameters (or a mapping with the same keys).
    ``X``: inputs ``(N, *input_shape)``; ``y``: integer labels ``(N,)`` or None.
    ``seeds``: a count (seeds 0..n-1) or explicit seeds. Returns ``{"metric", "digital",
    "rows": [{t_inference_s, t, mean, std, min, max, n_seeds, drift_compensation}, ...],
    "analog_tiles", "per_seed"}``; ``mean``/``std`` are over seeds of the metric (accuracy,
    or MSE against the digital network without labels).
    """
    _require_aihwkit()
    import torch
    from aihwkit.nn.conversion import convert_to_analog

    from hwsim.executor import to_torch

    if len(graph.inputs) != 1:
        raise ConfigError(f"{graph.name}: --noise supports single-input graphs (this one has {len(graph.inputs)})")
    shape = graph.inputs[0].shape
    X = np.asarray(X, dtype=np.float32)
    if X.ndim >= 1 and tuple(X.shape[1:]) != tuple(shape):
        if X.ndim >= 2 and int(np.prod(X.shape[1:])) == int(np.prod(shape)):
            X = X.reshape(len(X), *shape)
        else:
            raise ConfigError(
                f"--data: inputs have shape {X.shape}, the model {graph.name} expects (N, {', '.join(map(str, shape))})"
            )
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if len(y) != len(X):
            raise ConfigError(f"--labels: {len(y)} labels for {len(X)} inputs")
        if not np.issubdtype(y.dtype, np.integer):
            if np.all(np.mod(y, 1) == 0):
                y = y.astype(np.int64)
            else:
                raise ConfigError("--labels: labels must be integer class indices")
    seed_list = list(range(int(seeds))) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not seed_list:
        raise ConfigError("--seeds: need at least one seed")
    times = [float(t) for t in t_inference]
    if any(t < 0 for t in times):
        raise ConfigError("--t-inference: times must be >= 0")

    digital = to_torch(graph)
    ref = _forward(digital, X, batch_size)
    digital_metric = _metric(ref, ref, y)
    metric = "accuracy" if y is not None else "mse"

    analog = convert_to_analog(to_torch(graph), rpu_config(params, drift_compensation))
    analog.eval()
    n_tiles = len(list(analog.analog_tiles()))
    per_seed: dict[float, list[dict[str, float]]] = {t: [] for t in times}
    with torch.random.fork_rng():
        for s in seed_list:
            torch.manual_seed(s)
            analog.program_analog_weights()
            for t in times:
                analog.drift_analog_weights(t)
                per_seed[t].append(_metric(_forward(analog, X, batch_size), ref, y))
    rows = []
    for t in times:
        vals = np.array([m[metric] for m in per_seed[t]])
        row: dict[str, Any] = {
            "t": label_time(t),
            "t_inference_s": t,
            "metric": metric,
            "digital": digital_metric[metric],
            "mean": float(vals.mean()),
            "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
            "min": float(vals.min()),
            "max": float(vals.max()),
            "n_seeds": len(vals),
            "drift_compensation": bool(drift_compensation),
        }
        if y is None:
            row["rel_rmse_mean"] = float(np.mean([m["rel_rmse"] for m in per_seed[t]]))
            row["mean_distance"] = float(np.mean([m["mean_distance"] for m in per_seed[t]]))
        rows.append(row)
    return {
        "metric": metric,
        "digital": digital_metric[metric],
        "rows": rows,
        "analog_tiles": n_tiles,
        "seeds": seed_list,
        "n_samples": len(X),
        "per_seed": {label_time(t): [m[metric] for m in per_seed[t]] for t in times},
    }


def _load_npy(path: str, what: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} {path}: file not found")
    try:
        arr: np.ndarray = np.asarray(np.load(p, allow_pickle=False))
        return arr
    except Exception as exc:  # numpy raises ValueError/OSError/UnpicklingError variants
        raise ConfigError(
            f"{what} {path}: not a readable .npy array ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from None


def cli_hook(graph: OpGraph, backend: Any, params: Params, options: Mapping[str, Any]) -> dict[str, Any]:
    """``hwsim estimate MODEL --backend aimc --noise --data X.npy [--labels y.npy]
    [--t-inference 1h,1d,1y] [--seeds 5]``: returns ``{"noise": [rows], "noise_summary": {...}}``
    for the JSON output (the table printer prints the rows)."""
    if not options.get("data"):
        raise ConfigError("--noise needs --data X.npy (inputs, N x input shape)")
    times = parse_times(str(options.get("t_inference") or "1h,1d,1y"))
    seeds = int(options.get("seeds") or 5)
    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: need at least 1")
    X = _load_npy(str(options["data"]), "--data")
    y = _load_npy(str(options["labels"]), "--labels") if options.get("labels") else None
    res = evaluate_noise(graph, params, X, y, t_inference=times, seeds=seeds)
    summary = {k: res[k] for k in ("metric", "digital", "analog_tiles", "n_samples", "seeds")}
    return {"noise": res["rows"], "noise_summary": summary}


__all__ = ["DEFAULT_TIMES", "cli_hook", "evaluate_noise", "label_time", "parse_times", "rpu_config"]
