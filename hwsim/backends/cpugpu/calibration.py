"""Calibrating the cpu backend's kernel constants from measurements (``hwsim measure`` files).

What is fitted, per (device, runtime, precision) — the constants of the model in
:mod:`.backend`::

    t = t_call + sum_ops [ t_op + max( flops / (eff_class * shape * peak * p),
                                       sum_f n_f * t_elem_f / p,
                                       bytes / bw ) ]

* ``peak_fp32_per_core``: the highest FLOP rate any single-GEMM measurement reached (the
  measured peak; only when the measurements contain GEMM microbenchmarks), so that the
  efficiencies are relative to a measured number, not to a nominal clock;
* ``t_call_s``, ``t_op_s``, ``t_op_conv_s`` (per library convolution call), ``t_im2col_s``
  (per element of a convolution's unfolded input, added to the op), ``1/eff_dense``, ``1/eff_conv``, ``1/eff_matmul`` and every
  ``t_elem_<class>_s``: non-negative least squares on the relative error (rows weighted 1/t),
  iterated because the ``max`` makes the model piecewise linear: each round assigns every op
  to the term that bounds it under the current constants, solves the linear problem, and
  repeats until the assignment stops changing;
* the GEMM half-performance lengths (``gemm_m_half``, ``gemm_n_half``, ``gemm_k_half``) by a
  grid search around that linear fit (they enter non-linearly).

Bandwidths and cache sizes stay at their catalog values (the measurements here are too small
to be memory-bound often enough to fit them).

:func:`fit_gpu_profile` / :class:`GpuAdapter` do the same for the gpu backend from GPU
measurement files (``hwsim measure --device cuda``): launch/call overheads and GEMM
efficiencies by bounded non-linear least squares with the backend as the model.

:func:`fit_profile` returns a profile (``hwsim.calibration.profile`` format). :class:`CpuAdapter`
is the calibration-engine adapter (``hwsim.calibration.engine.ADAPTERS['cpu']``); its
``fit_profile(paths, ...)`` is what ``hwsim calibrate --backend cpu`` should call, because the
engine's generic linear fitter cannot fit ``eff`` (it enters as 1/eff).
"""

from __future__ import annotations

import datetime as _dt
import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.backends.base import Params, get_backend
from hwsim.backends.cpugpu.backend import RUNTIME_PASSES, CpuCtx, cpu_ctx, shape_factor, speedup
from hwsim.backends.cpugpu.devices import PRECISION_BYTES
from hwsim.backends.cpugpu.work import ELEM_CLASSES, Work, op_work
from hwsim.errors import ConfigError, ReportError
from hwsim.ir import Op, OpGraph

log = logging.getLogger(__name__)

LINEAR_CLASSES = ("dense", "conv", "matmul")
#: the unknowns of the linear problem, in time-linear form
UNKNOWNS = (
    ("t_call_s", "t_op_s", "t_op_linear_s", "t_op_conv_s", "t_im2col_s")
    + tuple(f"inv_eff_{c}" for c in LINEAR_CLASSES)
    + tuple(f"t_elem_{c}_s" for c in ELEM_CLASSES)
)
#: upper bound of a fitted efficiency: eff is the large-size limit of the Hockney form, so it
#: may exceed the best measured GEMM rate (which has a shape factor < 1) a little
EFF_MAX = 1.5
HALF_GRID = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


@dataclass(frozen=True)
class Point:
    """One measured point: a graph (prepared for the runtime) at one batch size."""

    model: str
    runtime: str
    batch: int
    t: float  # measured min per call (s)
    graph: OpGraph
    works: tuple[Work, ...]
    tags: tuple[str, ...] = ()


def points_from_measurements(measurements: Sequence[Mapping[str, Any]], precision: str = "fp32") -> list[Point]:
    """Measured points (one per file and batch), graphs prepared with the runtime's passes."""
    from hwsim.passes import run_passes

    eb = PRECISION_BYTES[precision]
    out: list[Point] = []
    for m in measurements:
        rt = str(m["runtime"])
        if rt not in RUNTIME_PASSES:
            raise ReportError(f"{m.get('path', m.get('model'))}: unknown runtime {rt!r}")
        g = run_passes(OpGraph.from_json(m["graph"]), RUNTIME_PASSES[rt]).graph
        for r in m["results"]:
            b = int(r["batch"])
            works = tuple(op_work(op, b, eb, rt) for op in g.ops())
            out.append(Point(str(m["model"]), rt, b, float(r["min_s"]), g, works, tuple(m.get("tags", ()))))
    return out


def _ctx_from(values: Mapping[str, Any], device: str, runtime: str, precision: str, threads: int) -> CpuCtx:
    return cpu_ctx(values.__getitem__, device, runtime, precision, threads)


def base_values(device: str, runtime: str, precision: str = "fp32", profile: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Resolved parameter values of the cpu backend (catalog, or a profile's) as a dict."""
    be = get_backend("cpu")
    prof = dict(profile) if profile else None
    if prof is not None:
        prof = {**prof, "applies_to": {}}
    params: Params = be.resolve_params(None, {"device": device, "runtime": runtime, "precision": precision, "threads": "1"}, prof)
    return {k: p.value for k, p in params.items()}


def _row(point: Point, c: CpuCtx, inv_eff: Mapping[str, float]) -> tuple[np.ndarray, float, list[str]]:
    """Coefficients of the unknowns (time-linear form), fixed part, bounds of one point."""
    x = np.zeros(len(UNKNOWNS))
    idx = {n: i for i, n in enumerate(UNKNOWNS)}
    x[idx["t_call_s"]] = 1.0
    fixed = 0.0
    bounds = []
    for w in point.works:
        x[idx["t_op_s"]] += 1.0 + w.extra_ops
        if w.view:
            bounds.append("overhead")
            continue
        comp = 0.0
        cls = ""
        if w.gemm is not None:
            x[idx["t_op_linear_s"]] += 1.0
        x[idx["t_op_conv_s"]] += w.conv_calls
        x[idx["t_im2col_s"]] += w.im2col * c.elem_factor
        if w.gemm is not None and w.flops > 0:
            p = max(1, min(c.threads, math.floor(w.flops / c.grain_flops))) if c.grain_flops > 0 else c.threads
            comp = w.flops / (shape_factor(w.gemm, c.conv_halves if w.linear == "conv" else c.halves) * c.peak_core * p)
            cls = w.linear
        n = w.n_elem
        pe = max(1, min(c.threads, math.floor(n / c.grain_elems))) if n and c.grain_elems > 0 else 1
        ecoef = {k: v * c.elem_factor / speedup(pe, c.sigma) for k, v in w.elem.items()}
        t_c = comp * inv_eff.get(cls, 0.0) if cls else 0.0
        t_e = sum(ecoef[k] * c.t_elem[k] for k in ecoef)
        ws = w.bytes
        pp = 1
        if ws <= c.l1 * pp:
            bw = c.bw1
        elif ws <= c.l2 * pp:
            bw = c.bw2
        elif ws <= c.l3:
            bw = c.bw3
        else:
            bw = min(c.bw_dram_core, c.bw_dram)
        t_m = ws / bw if ws else 0.0
        m = max(t_c, t_e, t_m)
        if m == 0.0:
            bounds.append("overhead")
        elif m == t_c:
            x[idx[f"inv_eff_{cls}"]] += comp
            bounds.append("compute")
        elif m == t_e:
            for k, v in ecoef.items():
                x[idx[f"t_elem_{k}_s"]] += v
            bounds.append("element")
        else:
            fixed += t_m
            bounds.append("memory")
    return x, fixed, bounds


def _solve(
    points: Sequence[Point], values: dict[str, Any], device: str, precision: str, threads: int, iters: int = 12
) -> tuple[dict[str, float], float]:
    """Iterated bound assignment + NNLS on relative residuals. Returns unknowns, rms relative error."""
    from scipy.optimize import nnls

    runtime = points[0].runtime
    theta = {
        "t_call_s": float(values["t_call_s"]),
        "t_op_s": float(values["t_op_s"]),
        "t_op_linear_s": float(values["t_op_linear_s"]),
        "t_op_conv_s": float(values["t_op_conv_s"]),
        "t_im2col_s": float(values["t_im2col_s"]),
        **{f"inv_eff_{c}": 1.0 / float(values[f"eff_{c}"]) for c in LINEAR_CLASSES},
        **{f"t_elem_{c}_s": float(values[f"t_elem_{c}_s"]) for c in ELEM_CLASSES},
    }
    prev: list[list[str]] | None = None
    err = math.inf
    for _ in range(iters):
        vals = dict(values)
        vals.update({k: theta[k] for k in ("t_call_s", "t_op_s", "t_op_linear_s", "t_op_conv_s", "t_im2col_s")})
        vals.update({f"t_elem_{c}_s": theta[f"t_elem_{c}_s"] for c in ELEM_CLASSES})
        c = _ctx_from(vals, device, runtime, precision, threads)
        inv = {cl: theta[f"inv_eff_{cl}"] for cl in LINEAR_CLASSES}
        rows, fixed, bnds = [], [], []
        for pt in points:
            x, f, b = _row(pt, c, inv)
            rows.append(x)
            fixed.append(f)
            bnds.append(b)
        X = np.array(rows)
        y = np.array([pt.t for pt in points])
        F = np.array(fixed)
        active = np.flatnonzero(np.any(X != 0, axis=0))
        A = X[:, active] / y[:, None]
        rhs = (y - F) / y
        sol, _ = nnls(A, rhs, maxiter=2000)
        for j, i in enumerate(active):
            name = UNKNOWNS[i]
            v = float(sol[j])
            if name.startswith("inv_eff_"):
                v = max(v, 1.0 / EFF_MAX)
            elif v <= 0.0:
                v = 1e-12  # keep strictly positive (a zero would change the bound logic)
            theta[name] = v
        pred = F + X @ np.array([theta[n] for n in UNKNOWNS])
        err = float(np.sqrt(np.mean(((pred - y) / y) ** 2)))
        if prev == bnds:
            break
        prev = bnds
    return theta, err


def measured_peak(measurements: Sequence[Mapping[str, Any]]) -> tuple[float, str] | None:
    """Highest FLOP/s per thread of single-GEMM measurements tagged ``gemm`` (min time)."""
    best: tuple[float, str] | None = None
    for m in measurements:
        if "gemm" not in m.get("tags", ()):
            continue
        g = OpGraph.from_json(m["graph"])
        for r in m["results"]:
            flops = sum(2.0 * op.macs * int(r["batch"]) for op in g.ops())
            rate = flops / float(r["min_s"]) / int(m.get("threads", 1))
            if best is None or rate > best[0]:
                best = (rate, f"{m['model']} batch {r['batch']} ({m['runtime_version']})")
    return best


def fit_constants(
    measurements: Sequence[Mapping[str, Any]],
    device: str = "local",
    precision: str = "fp32",
    grid: Sequence[float] = HALF_GRID,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Fit the constants of one runtime; returns (param values, diagnostics)."""
    runtimes = {str(m["runtime"]) for m in measurements}
    if len(runtimes) != 1:
        raise ReportError(f"a cpu profile is fitted per runtime; the measurements mix {sorted(runtimes)}")
    runtime = runtimes.pop()
    threads = {int(m.get("threads", 1)) for m in measurements}
    if len(threads) != 1:
        raise ReportError(f"the measurements mix thread counts {sorted(threads)}; fit one thread count at a time")
    th = threads.pop()
    values = base_values(device, runtime, precision)
    values["threads"] = th
    peak = measured_peak(measurements)
    if peak is not None:
        values["peak_fp32_per_core"] = peak[0]
    points = points_from_measurements(measurements, precision)
    if len(points) < 3:
        raise ReportError(f"only {len(points)} measured point(s): too few to fit")
    best: tuple[float, dict[str, float], tuple[float, float, float]] | None = None
    for mh, nh, kh in itertools.product(grid, grid, grid):
        vals = dict(values, gemm_m_half=mh, gemm_n_half=nh, gemm_k_half=kh)
        theta, err = _solve(points, vals, device, precision, th, iters=6)
        if best is None or err < best[0]:
            best = (err, theta, (mh, nh, kh))
    assert best is not None
    mh, nh, kh = best[2]
    cn, ck = float(values["conv_n_half"]), float(values["conv_k_half"])
    if any(w.linear == "conv" for p in points for w in p.works):
        best_c: tuple[float, float, float] | None = None
        for cn_, ck_ in itertools.product(grid, grid):
            vals = dict(values, gemm_m_half=mh, gemm_n_half=nh, gemm_k_half=kh, conv_n_half=cn_, conv_k_half=ck_)
            _, err = _solve(points, vals, device, precision, th, iters=6)
            if best_c is None or err < best_c[0]:
                best_c = (err, cn_, ck_)
        assert best_c is not None
        cn, ck = best_c[1], best_c[2]
    vals = dict(values, gemm_m_half=mh, gemm_n_half=nh, gemm_k_half=kh, conv_n_half=cn, conv_k_half=ck)
    theta, err = _solve(points, vals, device, precision, th)
    out: dict[str, float] = {
        "t_call_s": theta["t_call_s"],
        "t_op_s": theta["t_op_s"],
        "t_op_linear_s": theta["t_op_linear_s"],
        "t_op_conv_s": theta["t_op_conv_s"],
        "t_im2col_s": theta["t_im2col_s"],
        "gemm_m_half": mh,
        "gemm_n_half": nh,
        "gemm_k_half": kh,
        "conv_n_half": cn,
        "conv_k_half": ck,
    }
    for c in LINEAR_CLASSES:
        out[f"eff_{c}"] = 1.0 / theta[f"inv_eff_{c}"]
    for c in ELEM_CLASSES:
        out[f"t_elem_{c}_s"] = theta[f"t_elem_{c}_s"]
    if peak is not None:
        out["peak_fp32_per_core"] = peak[0]
    # which constants the data actually constrained (a column that never bound any op keeps its start value)
    used = _used_unknowns(points, vals | {k: v for k, v in out.items()}, device, precision, th)
    diag = {
        "runtime": runtime,
        "threads": th,
        "n_points": len(points),
        "models": sorted({p.model for p in points}),
        "rms_rel_error_fit": err,
        "peak": {"value": peak[0], "from": peak[1]} if peak else None,
        "constrained": sorted(used),
    }
    return out, diag


def _used_unknowns(points: Sequence[Point], values: Mapping[str, Any], device: str, precision: str, threads: int) -> set[str]:
    c = _ctx_from(values, device, points[0].runtime, precision, threads)
    inv = {cl: 1.0 / float(values[f"eff_{cl}"]) for cl in LINEAR_CLASSES}
    used: set[str] = set()
    for pt in points:
        x, _, _ = _row(pt, c, inv)
        used |= {UNKNOWNS[i] for i in np.flatnonzero(x)}
    names = set()
    for u in used:
        names.add(u.replace("inv_eff_", "eff_"))
    return names


def fit_profile(
    measurements: Sequence[Mapping[str, Any]],
    device: str = "local",
    precision: str = "fp32",
    profile_id: str | None = None,
    held_out: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A profile (``hwsim-profile/1``) for the cpu backend fitted on ``measurements``; if
    ``held_out`` measurements are given, the error before/after is reported on them."""
    from hwsim import __version__ as hv

    if not measurements:
        raise ReportError("no measurements to fit")
    consts, diag = fit_constants(measurements, device, precision)
    constrained = set(diag["constrained"]) | {"gemm_m_half", "gemm_n_half", "gemm_k_half", "peak_fp32_per_core"}
    if "eff_conv" in constrained:
        constrained |= {"conv_n_half", "conv_k_half"}
    runtime = diag["runtime"]
    machine = dict(measurements[0].get("machine", {}))
    versions = sorted({str(m.get("runtime_version", "")) for m in measurements})
    files = [str(m.get("path", m.get("model"))) for m in measurements]
    src = f"fit: NNLS on relative error, {diag['n_points']} points of {len(files)} measurement files ({', '.join(versions)}, {diag['threads']} thread(s), {machine.get('cpu', 'unknown cpu')})"
    constants: dict[str, dict[str, Any]] = {}
    for k, v in consts.items():
        if k not in constrained:
            continue
        s = src
        if k == "peak_fp32_per_core" and diag.get("peak"):
            s = f"measured: highest single-GEMM rate, {diag['peak']['from']}"
        elif k.startswith(("gemm_", "conv_")):
            s = src + "; grid search over " + ", ".join(f"{g:g}" for g in HALF_GRID)
        constants[k] = {"value": float(v), "source": s}
    pid = profile_id or f"cpu-{device}-{runtime}-{precision}"
    prof: dict[str, Any] = {
        "schema": "hwsim-profile/1",
        "id": pid,
        "backend": "cpu",
        "applies_to": {
            "device": device,
            "runtime": runtime,
            "precision": precision,
            "threads": diag["threads"],
            "cpu": machine.get("cpu"),
            "runtime_version": versions,
        },
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "hwsim_version": hv,
        "reports": files,
        "constants": constants,
        "fit_diagnostics": diag,
    }
    if held_out:
        prof["split"] = {"fit": files, "held_out": [str(m.get("path", m.get("model"))) for m in held_out]}
        prof["error_before"] = {"latency_s": _errors(held_out, None, device, precision)}
        prof["error_after"] = {"latency_s": _errors(held_out, prof, device, precision)}
    return prof


def predict_points(
    measurements: Sequence[Mapping[str, Any]], profile: Mapping[str, Any] | None, device: str = "local", precision: str = "fp32"
) -> list[dict[str, Any]]:
    """Predicted vs measured latency for every (file, batch) with the cpu backend."""
    from hwsim.api import cost_graph

    be = get_backend("cpu")
    out = []
    for m in measurements:
        g = OpGraph.from_json(m["graph"])
        for r in m["results"]:
            ov = {
                "device": device,
                "runtime": str(m["runtime"]),
                "precision": precision,
                "threads": str(int(m.get("threads", 1))),
                "batch": str(int(r["batch"])),
            }
            prof = None
            if profile:
                prof = {**profile, "applies_to": {}}
            params = be.resolve_params(None, ov, prof)
            est = cost_graph(g, be, params)
            pred = float(est.totals["latency_s"])
            out.append(
                {
                    "model": m["model"],
                    "runtime": m["runtime"],
                    "batch": int(r["batch"]),
                    "measured_s": float(r["min_s"]),
                    "predicted_s": pred,
                    "rel_error": pred / float(r["min_s"]) - 1.0,
                    "bound": est.totals["bound"],
                }
            )
    return out


def _errors(
    measurements: Sequence[Mapping[str, Any]], profile: Mapping[str, Any] | None, device: str, precision: str
) -> dict[str, Any]:
    rows = predict_points(measurements, profile, device, precision)
    signed = np.array([r["rel_error"] for r in rows])
    e = np.abs(signed)
    ratio = np.array([max(r["predicted_s"] / r["measured_s"], r["measured_s"] / r["predicted_s"]) for r in rows])
    return {
        "n": len(rows),
        "median_ape": float(np.median(e) * 100),
        "mape": float(np.mean(e) * 100),
        "max_ape": float(e.max() * 100),
        "bias": float(np.mean(signed) * 100),
        "max_ratio": float(ratio.max()),
    }


# ---------------------------------------------------------------------------------------------
# adapter for hwsim.calibration.engine
# ---------------------------------------------------------------------------------------------


class CpuAdapter:
    """Calibration-engine adapter of the cpu backend (measurement files -> samples).

    ``fittable`` lists the time-linear constants (overheads and per-element times) that the
    engine's generic linear fitter can fit; the efficiencies enter as 1/eff and the GEMM
    half-lengths non-linearly, so :meth:`fit_profile` (this module's fitter) is the complete
    calibration and the one ``hwsim calibrate --backend cpu`` should call when present.
    """

    backend = "cpu"
    metrics = ("latency_s",)

    def __init__(self, device: str = "local", precision: str = "fp32") -> None:
        self.device = device
        self.precision = precision

    def load(self, paths: Sequence[str]) -> list[Any]:
        from hwsim.backends.cpugpu.measure import load_measurement
        from hwsim.calibration.engine import Sample

        out = []
        for p in paths:
            m = load_measurement(p)
            for r in m["results"]:
                sid = f"{m['model']}/{m['runtime']}/t{m.get('threads', 1)}/b{r['batch']}"
                out.append(
                    Sample(
                        sid,
                        f"measure:{m['runtime']}",
                        str(m["model"]),
                        "measurement",
                        {"latency_s": float(r["min_s"])},
                        {},
                        self.device,
                        str(m.get("runtime_version")),
                        (m, int(r["batch"])),
                    )
                )
        return out

    def fittable(self) -> dict[str, list[str]]:
        return {
            "latency_s": ["t_call_s", "t_op_s", "t_op_linear_s", "t_op_conv_s", "t_im2col_s"]
            + [f"t_elem_{c}_s" for c in ELEM_CLASSES]
        }

    def _params(self, m: Mapping[str, Any], batch: int, profile: Mapping[str, Any] | None) -> Params:
        prof = {**profile, "applies_to": {}} if profile else None
        ov = {
            "device": self.device,
            "runtime": str(m["runtime"]),
            "precision": self.precision,
            "threads": str(int(m.get("threads", 1))),
            "batch": str(batch),
        }
        return get_backend("cpu").resolve_params(None, ov, prof)

    def constants(self, profile: Mapping[str, Any] | None) -> dict[str, float]:
        params = get_backend("cpu").resolve_params(
            None, {"device": self.device}, {**profile, "applies_to": {}} if profile else None
        )
        return {n: float(params[n].value) for n in self.fittable()["latency_s"]}

    def evaluate(self, sample: Any, profile: Mapping[str, Any] | None) -> Any:
        from hwsim.api import cost_graph
        from hwsim.calibration.engine import Evaluation

        m, batch = sample.payload
        be = get_backend("cpu")
        params = self._params(m, batch, profile)
        g = be.prepare(OpGraph.from_json(m["graph"]), params)
        est = cost_graph(g, be, params, prepared=True)
        feats: dict[str, float] = {"t_call_s": 1.0}
        for op in g.ops():
            for k, v in op_features(op, params).items():
                feats[k] = feats.get(k, 0.0) + v
        return Evaluation({"latency_s": float(est.totals["latency_s"])}, {"latency_s": feats}, tuple(est.warnings))

    def fit_profile(self, paths: Sequence[str], held_out: Sequence[str] = (), profile_id: str | None = None) -> dict[str, Any]:
        from hwsim.backends.cpugpu.measure import load_measurement

        return fit_profile(
            [load_measurement(p) for p in paths], self.device, self.precision, profile_id, [load_measurement(p) for p in held_out]
        )


def op_features(op: Op, params: Params) -> dict[str, float]:
    """Coefficients of the time-linear constants in one op's time under the current bound
    (``t_op_s`` always 1; ``t_elem_<c>_s`` = elements / threads when element-bound)."""
    from hwsim.backends.cpugpu.backend import _ctx_cached, cpu_op_terms

    be = get_backend("cpu")
    if params.value("device") is None:
        raise ConfigError("unresolved parameters")
    c = _ctx_cached(be, params)  # type: ignore[arg-type]
    w = op_work(op, int(params.value("batch")), PRECISION_BYTES[str(params.value("precision"))], str(params.value("runtime")))
    feats = {"t_op_s": 1.0 + w.extra_ops}
    if w.gemm is not None:
        feats["t_op_linear_s"] = 1.0
    if w.conv_calls:
        feats["t_op_conv_s"] = float(w.conv_calls)
    if w.im2col:
        feats["t_im2col_s"] = w.im2col * c.elem_factor
    if w.view:
        return feats
    terms = cpu_op_terms(w, c)
    if terms["t_elem"] > 0 and terms["t_elem"] >= max(terms["t_compute"], terms["t_mem"]):
        pe = max(1, min(c.threads, math.floor(w.n_elem / c.grain_elems))) if c.grain_elems > 0 else c.threads
        for k, v in w.elem.items():
            feats[f"t_elem_{k}_s"] = v * c.elem_factor / speedup(pe, c.sigma)
    return feats


# ---------------------------------------------------------------------------------------------
# gpu: fitting the launch/copy overheads and GEMM efficiencies from GPU measurements
# ---------------------------------------------------------------------------------------------

#: constants the gpu fit may change (the device figures - peaks, bandwidths, SM count - stay
#: at their datasheet values; the measurements are too few to separate them). ``t_copy_s``
#: stays at the catalog value too: every measured call makes one host-to-device and one
#: device-to-host copy, so its fixed part is not separable from ``t_call_s``.
GPU_FITTED = ("t_call_s", "t_launch_s", "t_min_kernel_s", "eff_dense", "eff_conv", "eff_matmul")
_GPU_BOUNDS = {"eff": (0.01, 1.5), "t": (1e-8, 1e-2)}


def gpu_device_for(m: Mapping[str, Any]) -> str:
    """The catalog GPU a measurement was taken on: its ``gpu_device`` key (a catalog name)
    or the CUDA device name in ``machine.gpu`` (written by ``hwsim measure --device cuda``)
    matched against the catalog names (``NVIDIA H200`` -> ``h200``)."""
    from hwsim.backends.cpugpu.devices import gpu_names

    where = m.get("path", m.get("model"))
    if m.get("device") != "cuda":
        raise ReportError(
            f"{where}: measured on device {m.get('device', 'cpu')!r}; GPU calibration needs measurements "
            "taken on a GPU with `hwsim measure --device cuda`"
        )
    name = m.get("gpu_device")
    if name:
        if str(name) not in gpu_names():
            raise ReportError(f"{where}: gpu_device {name!r} is not a catalog GPU ({', '.join(gpu_names())})")
        return str(name)
    label = str((m.get("machine") or {}).get("gpu") or "")
    norm = label.lower().replace(" ", "").replace("-", "").replace("_", "")
    hits = [n for n in gpu_names() if n in norm]
    if len(hits) != 1:
        raise ReportError(
            f"{where}: cannot tell which catalog GPU ({', '.join(gpu_names())}) the measurement's device "
            f'{label or "(unrecorded)"!r} is; add "gpu_device": "<name>" to the file'
        )
    return hits[0]


def _gpu_predict(
    measurements: Sequence[Mapping[str, Any]], device: str, precision: str, constants: Mapping[str, float]
) -> list[dict[str, Any]]:
    from hwsim.api import cost_graph

    be = get_backend("gpu")
    prof = {"id": "gpu-fit", "constants": {k: {"value": float(v), "source": "fit"} for k, v in constants.items()}}
    out = []
    for m in measurements:
        g = OpGraph.from_json(m["graph"])
        for r in m["results"]:
            ov = {"device": device, "runtime": str(m["runtime"]), "precision": precision, "batch": str(int(r["batch"]))}
            est = cost_graph(g, be, be.resolve_params(None, ov, prof if constants else None))
            pred = float(est.totals["latency_s"])
            meas = float(r["min_s"])
            out.append(
                {
                    "model": m["model"],
                    "batch": int(r["batch"]),
                    "measured_s": meas,
                    "predicted_s": pred,
                    "rel_error": pred / meas - 1,
                }
            )
    return out


def _gpu_stats(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    e = np.array([abs(r["rel_error"]) for r in rows])
    ratio = np.array([max(r["predicted_s"] / r["measured_s"], r["measured_s"] / r["predicted_s"]) for r in rows])
    return {
        "n": len(rows),
        "median_ape": float(np.median(e) * 100),
        "mape": float(np.mean(e) * 100),
        "max_ape": float(e.max() * 100),
        "bias": float(np.mean([r["rel_error"] for r in rows]) * 100),
        "max_ratio": float(ratio.max()),
    }


def fit_gpu_profile(
    measurements: Sequence[Mapping[str, Any]],
    precision: str = "fp32",
    profile_id: str | None = None,
    held_out: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A gpu-backend profile fitted on GPU measurement files (``hwsim measure --device cuda``).

    Fitted: ``t_call_s``, ``t_launch_s``, ``t_min_kernel_s`` and the GEMM
    efficiencies of the op classes present (``eff_dense``/``eff_conv``/``eff_matmul``), by
    bounded non-linear least squares (scipy ``least_squares``, soft-L1 loss) on
    log(predicted / measured) with the gpu backend itself as the model (the launch-vs-kernel
    ``max`` makes it piecewise, so no linear solve). Device figures stay at the catalog's."""
    from scipy.optimize import least_squares

    from hwsim import __version__ as hv

    if not measurements:
        raise ReportError("no measurements to fit")
    devices = {gpu_device_for(m) for m in measurements}
    for m in held_out:
        gpu_device_for(m)
    if len(devices) != 1:
        raise ReportError(f"a gpu profile is fitted per device; the measurements mix {sorted(devices)}")
    device = devices.pop()
    runtimes = {str(m["runtime"]) for m in measurements}
    if len(runtimes) != 1:
        raise ReportError(f"a gpu profile is fitted per runtime; the measurements mix {sorted(runtimes)}")
    runtime = runtimes.pop()
    n_points = sum(len(m["results"]) for m in measurements)
    classes: set[str] = set()
    for m in measurements:
        for op in OpGraph.from_json(m["graph"]).ops():
            if op.kind in ("dense", "conv", "matmul"):
                classes.add(op.kind)
    names = [n for n in GPU_FITTED if not n.startswith("eff_") or n[4:] in classes]
    if n_points < len(names):
        raise ReportError(f"only {n_points} measured point(s) for {len(names)} constants: too few to fit")
    start = get_backend("gpu").resolve_params(None, {"device": device, "runtime": runtime, "precision": precision})
    x0, lo, hi = [], [], []
    for n in names:
        b_lo, b_hi = _GPU_BOUNDS["eff" if n.startswith("eff_") else "t"]
        v = min(max(float(start[n].value), b_lo * 1.01), b_hi / 1.01)
        x0.append(math.log(v))
        lo.append(math.log(b_lo))
        hi.append(math.log(b_hi))
    meas = np.array([float(r["min_s"]) for m in measurements for r in m["results"]])

    def resid(x: np.ndarray) -> np.ndarray:
        rows = _gpu_predict(measurements, device, precision, dict(zip(names, np.exp(x))))
        out: np.ndarray = np.log(np.array([r["predicted_s"] for r in rows]) / meas)
        return out

    sol = least_squares(resid, np.array(x0), bounds=(np.array(lo), np.array(hi)), loss="soft_l1", f_scale=0.1, diff_step=0.05)
    fitted = {n: float(v) for n, v in zip(names, np.exp(sol.x))}
    rms = float(np.sqrt(np.mean(resid(sol.x) ** 2)))
    versions = sorted({str(m.get("runtime_version", "")) for m in measurements})
    files = [str(m.get("path", m.get("model"))) for m in measurements]
    gpu_label = str((measurements[0].get("machine") or {}).get("gpu") or device)
    src = (
        f"fit: bounded least squares (soft-L1) on log(predicted/measured), {n_points} points of {len(files)} "
        f"measurement files ({', '.join(versions)}, {gpu_label})"
    )
    prof: dict[str, Any] = {
        "schema": "hwsim-profile/1",
        "id": profile_id or f"gpu-{device}-{runtime}-{precision}",
        "backend": "gpu",
        "applies_to": {
            "device": device,
            "runtime": runtime,
            "precision": precision,
            "gpu": gpu_label,
            "runtime_version": versions,
        },
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "hwsim_version": hv,
        "reports": files,
        "constants": {k: {"value": v, "source": src} for k, v in fitted.items()},
        "fit_diagnostics": {
            "runtime": runtime,
            "device": device,
            "n_points": n_points,
            "models": sorted({str(m["model"]) for m in measurements}),
            "rms_log_error_fit": rms,
            "optimizer": {"status": int(sol.status), "message": str(sol.message), "nfev": int(sol.nfev)},
        },
    }
    if held_out:
        prof["split"] = {"fit": files, "held_out": [str(m.get("path", m.get("model"))) for m in held_out]}
        prof["error_before"] = {"latency_s": _gpu_stats(_gpu_predict(held_out, device, precision, {}))}
        prof["error_after"] = {"latency_s": _gpu_stats(_gpu_predict(held_out, device, precision, fitted))}
    return prof


class GpuAdapter:
    """Calibration-engine adapter of the gpu backend (``hwsim calibrate --backend gpu``).

    Its :meth:`fit_profile` is the complete calibration (:func:`fit_gpu_profile`); the
    engine's generic linear path is not offered (``fittable`` is empty: every gpu constant
    enters through a ``max`` or as 1/eff)."""

    backend = "gpu"
    metrics = ("latency_s",)

    def __init__(self, precision: str = "fp32") -> None:
        self.precision = precision

    def load(self, paths: Sequence[str]) -> list[Any]:
        from hwsim.backends.cpugpu.measure import load_measurement
        from hwsim.calibration.engine import Sample

        out = []
        for p in paths:
            m = load_measurement(p)
            device = gpu_device_for(m)
            for r in m["results"]:
                out.append(
                    Sample(
                        f"{m['model']}/{m['runtime']}/{device}/b{r['batch']}",
                        f"measure:{m['runtime']}",
                        str(m["model"]),
                        "measurement",
                        {"latency_s": float(r["min_s"])},
                        {},
                        device,
                        str(m.get("runtime_version")),
                        (m, int(r["batch"]), device),
                    )
                )
        return out

    def fittable(self) -> dict[str, list[str]]:
        return {"latency_s": []}

    def constants(self, profile: Mapping[str, Any] | None) -> dict[str, float]:
        return {}

    def evaluate(self, sample: Any, profile: Mapping[str, Any] | None) -> Any:
        from hwsim.api import cost_graph
        from hwsim.calibration.engine import Evaluation

        m, batch, device = sample.payload
        be = get_backend("gpu")
        ov = {"device": device, "runtime": str(m["runtime"]), "precision": self.precision, "batch": str(batch)}
        prof = {**profile, "applies_to": {}} if profile else None
        est = cost_graph(OpGraph.from_json(m["graph"]), be, be.resolve_params(None, ov, prof))
        return Evaluation({"latency_s": float(est.totals["latency_s"])}, {"latency_s": {}}, tuple(est.warnings))

    def fit_profile(self, paths: Sequence[str], held_out: Sequence[str] = (), profile_id: str | None = None) -> dict[str, Any]:
        from hwsim.backends.cpugpu.measure import load_measurement

        return fit_gpu_profile(
            [load_measurement(p) for p in paths], self.precision, profile_id, [load_measurement(p) for p in held_out]
        )
