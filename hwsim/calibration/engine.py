"""Calibration and validation: predict reported designs, fit a backend's free constants,
measure the error on data the fit did not see.

Backend-neutral core. What is backend-specific sits behind a small adapter
(:class:`CalibrationAdapter`), looked up by backend name in :data:`ADAPTERS` (or the
entry-point group ``hwsim.calibration``):

* ``load(paths)`` -> :class:`Sample` s (reported values per metric, a data-source label, a
  split group, and an adapter-specific ``payload``);
* ``fittable()`` -> ``{metric: [param, ...]}``: the constants a fit may change;
* ``constants(profile)`` -> current values of those constants;
* ``evaluate(sample, profile)`` -> (predicted ``{metric: value}``, features
  ``{metric: {param: coefficient}}``) with ``prediction = offset + sum(param * coefficient)``.

The fpga adapter (:class:`FpgaAdapter`) pairs reports with models through manifests and costs
them with the registered ``fpga`` backend. A cpu/gpu adapter (helper code in
``hwsim.backends.cpugpu.calibration``) plugs in under ``"cpu"``/``"gpu"`` with the same four
methods; the fitter (:func:`hwsim.calibration.fit.fit_linear`) and the statistics are shared.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hwsim.calibration.fit import error_stats, fit_linear, kfold_groups, split_ids
from hwsim.errors import BackendError, HwsimError, ReportError

log = logging.getLogger(__name__)

FPGA_METRICS = ("latency_cycles", "ii_cycles", "DSP", "LUT", "FF", "BRAM_18K")

#: an explicit empty profile: the backend's rule constants, no per-part default profile
NO_PROFILE: Mapping[str, Any] = {"schema": "hwsim-profile/1", "id": "none", "backend": "", "constants": {}}


@dataclass(frozen=True)
class Sample:
    """One reported design as the calibration core sees it."""

    id: str
    source: str  # data-source label (wa-hls4ml, hls4ml-ci...)
    group: str  # records of one group are always on the same side of a split
    kind: str  # hls_estimate | post_synthesis | post_implementation | measurement
    reported: Mapping[str, float | None]
    ranges: Mapping[str, tuple[float, float] | None] = field(default_factory=dict)
    part: str | None = None
    tool: str | None = None
    payload: Any = None


@dataclass(frozen=True)
class Evaluation:
    predicted: Mapping[str, float]
    features: Mapping[str, Mapping[str, float]]
    warnings: tuple[str, ...] = ()


class CalibrationAdapter(Protocol):
    backend: str
    metrics: tuple[str, ...]

    def load(self, paths: Sequence[str]) -> list[Sample]: ...

    def fittable(self) -> dict[str, list[str]]: ...

    def constants(self, profile: Mapping[str, Any] | None) -> dict[str, float]: ...

    def evaluate(self, sample: Sample, profile: Mapping[str, Any] | None) -> Evaluation: ...


#: backend name -> "module:attribute" of an adapter class (instantiated without arguments)
ADAPTERS: dict[str, str] = {
    "fpga": "hwsim.calibration.engine:FpgaAdapter",
    "cpu": "hwsim.backends.cpugpu.calibration:CpuAdapter",
    "gpu": "hwsim.backends.cpugpu.calibration:GpuAdapter",
}


def register_adapter(backend: str, target: str) -> None:
    """Register (or replace) the calibration adapter of a backend: ``"module:Class"``."""
    ADAPTERS[backend] = target


def get_adapter(backend: str) -> CalibrationAdapter:
    targets = dict(ADAPTERS)
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="hwsim.calibration"):
            targets.setdefault(ep.name, ep.value)
    except Exception:  # pragma: no cover
        pass
    target = targets.get(backend)
    if target is None:
        raise BackendError(f"no calibration adapter for backend {backend!r} (known: {', '.join(sorted(targets))})")
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise BackendError(f"calibration of backend {backend!r} is not available ({target}: {exc})") from None
    return cls()  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# fpga adapter
# ---------------------------------------------------------------------------------------------


class FpgaAdapter:
    """Reports paired through manifests, costed with the registered ``fpga`` backend.

    ``profile=None`` means *the backend's own constants, no profile*: the adapter passes an
    empty profile marker so that the backend does not load its per-part default profile
    (``calibration/profiles/fpga/<part>.json``), which would hide the uncalibrated error.
    """

    backend = "fpga"
    metrics = FPGA_METRICS
    default_profile_aware = True  # evaluate(profile="default") = what `hwsim estimate` uses

    def __init__(self) -> None:
        from hwsim.backends.base import get_backend

        self._be = get_backend("fpga")

    # -- loading ----------------------------------------------------------------------------
    def load(self, paths: Sequence[str]) -> list[Sample]:
        from hwsim.calibration.manifest import load_inputs

        out = []
        for p in load_inputs(paths):
            rec = p.record
            reported = {m: rec.metric(m) for m in self.metrics}
            ranges = {m: rec.metric_range(m) for m in self.metrics}
            tool = " ".join(x for x in (rec.tool, rec.tool_version) if x) or None
            out.append(Sample(p.id, p.source, p.group, rec.kind, reported, ranges, rec.part, tool, p))
        return out

    def domain(self, samples: Sequence[Sample]) -> dict[str, list[str]]:
        """The design regime of ``samples`` (hls4ml strategies and io types), recorded in a
        profile's ``applies_to`` so that nobody mistakes a Resource/io_parallel fit for a
        Latency/io_stream one."""
        strategies, ios = set(), set()
        for s in samples:
            cfg = s.payload.hls4ml
            strategies.add(str((cfg.get("Model") or {}).get("Strategy", "Latency")).lower())
            for layer in (cfg.get("LayerName") or {}).values():
                if isinstance(layer, Mapping) and layer.get("Strategy"):
                    strategies.add(str(layer["Strategy"]).lower())
            ios.add(str(cfg.get("IOType", "io_parallel")))
        return {"strategy": sorted(strategies), "io_type": sorted(ios)}

    def profiles_in_use(self, samples: Sequence[Sample], profile: Any) -> list[Mapping[str, Any]]:
        """The profile(s) that ``evaluate(sample, profile)`` applies: the given one, or for
        ``"default"`` the per-part files ``calibration/profiles/fpga/<part>.json`` that exist."""
        if isinstance(profile, Mapping):
            return [profile]
        if profile != "default":
            return []
        from hwsim._paths import profiles_dir
        from hwsim.calibration.profile import load_profile

        out: list[Mapping[str, Any]] = []
        for part in sorted({str(s.payload.hls4ml.get("Part") or s.part) for s in samples}):
            f = profiles_dir() / "fpga" / f"{part}.json"
            if f.is_file():
                out.append(load_profile(f))
        return out

    # -- constants ----------------------------------------------------------------------------
    def fittable(self) -> dict[str, list[str]]:
        f = getattr(self._be, "fittable", None)
        if not f:
            raise BackendError("the fpga backend declares no fittable constants (FpgaBackend.fittable)")
        return {str(m): [str(x) for x in names] for m, names in dict(f).items()}

    def _params(self, sample: Sample | None, profile: Mapping[str, Any] | None) -> Any:
        cfg = dict(sample.payload.hls4ml) if sample is not None else None
        overrides = dict(getattr(sample.payload, "overrides", None) or {}) if sample is not None else {}
        if isinstance(profile, str) and profile == "default":
            prof: Mapping[str, Any] | None = None  # the backend's own choice (its per-part default profile)
        else:
            prof = profile if profile is not None else NO_PROFILE
        if overrides:
            # a manifest `design:` entry: costed exactly as its validation script costs it
            # (no hls4ml config, --set overrides), not with the config they amount to
            return self._be.resolve_params(None, overrides, prof)
        return self._be.resolve_params(cfg, {}, prof)

    def constants(self, profile: Mapping[str, Any] | None) -> dict[str, float]:
        params = self._params(None, profile)
        out: dict[str, float] = {}
        for names in self.fittable().values():
            for n in names:
                if n not in params:
                    raise BackendError(f"fpga backend: fittable constant {n!r} is not one of its parameters")
                out[n] = float(params[n].value)
        return out

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, sample: Sample, profile: Mapping[str, Any] | None) -> Evaluation:
        from hwsim.api import cost_graph

        params = self._params(sample, profile)
        graph = sample.payload.graph
        prepared = self._be.prepare(graph, params)
        est = cost_graph(prepared, self._be, params, prepared=True)
        if est.unsupported:
            names = ", ".join(f"{u['name']} ({u['op']})" for u in est.unsupported)
            raise HwsimError(f"the fpga backend cannot cost {names}")
        predicted = {m: float(est.totals[m]) for m in self.metrics if m in est.totals and est.totals[m] is not None}
        feats: dict[str, dict[str, float]] = {}
        for op in prepared.ops():
            if not self._be.supports(op):
                continue
            for key, coef in dict(self._be.features(op, params)).items():
                metric, _, pname = str(key).partition(":")
                if not pname:
                    continue
                d = feats.setdefault(metric, {})
                d[pname] = d.get(pname, 0.0) + float(coef)
        return Evaluation(predicted, feats, tuple(est.warnings))


# ---------------------------------------------------------------------------------------------
# core
# ---------------------------------------------------------------------------------------------


@dataclass
class Evaluated:
    sample: Sample
    evaluation: Evaluation | None
    error: str | None = None


def evaluate_all(adapter: CalibrationAdapter, samples: Sequence[Sample], profile: Mapping[str, Any] | None) -> list[Evaluated]:
    """Evaluate every sample; a sample the backend cannot cost is kept with its reason."""
    out = []
    for s in samples:
        try:
            out.append(Evaluated(s, adapter.evaluate(s, profile)))
        except HwsimError as exc:
            log.warning("%s: not costed: %s", s.id, exc)
            out.append(Evaluated(s, None, str(exc)))
    return out


def fit_constants(
    adapter: CalibrationAdapter,
    evaluated: Sequence[Evaluated],
    base_profile: Mapping[str, Any] | None = None,
    loss: str = "soft_l1",
    f_scale: float = 0.05,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Fit every fittable metric's constants on ``evaluated`` (the fit split).

    Per metric: ``X[i, j]`` = coefficient of constant j in design i, ``offset_i`` = the
    prediction minus the fitted part at the current constants, ``y_i`` = the report.
    Returns (new constant values, per-metric fit diagnostics).
    """
    current = adapter.constants(base_profile)
    values = dict(current)
    diag: dict[str, Any] = {}
    for metric, names in adapter.fittable().items():
        rows = [
            e
            for e in evaluated
            if e.evaluation is not None and e.sample.reported.get(metric) is not None and metric in e.evaluation.predicted
        ]
        if not rows or not names:
            diag[metric] = {"n": 0, "note": "no reports with this metric in the fit split"}
            continue
        X = np.array([[e.evaluation.features.get(metric, {}).get(n, 0.0) for n in names] for e in rows if e.evaluation])
        theta0 = np.array([current[n] for n in names])
        pred0 = np.array([e.evaluation.predicted[metric] for e in rows if e.evaluation])
        y = np.array([float(e.sample.reported[metric]) for e in rows])  # type: ignore[arg-type]
        offset = pred0 - X @ theta0
        res = fit_linear(X, y, names, x0=theta0, offset=offset, loss=loss, f_scale=f_scale)
        for n, v, col in zip(names, res.values, X.T):
            if np.any(col != 0):
                values[n] = v
        diag[metric] = {
            "n": res.n,
            "constants": {
                n: {"before": float(t0), "after": float(v), "stderr": (None if not math.isfinite(se) else float(se))}
                for n, t0, v, se in zip(names, theta0, res.values, res.stderr)
            },
            "unused": [n for n, col in zip(names, X.T) if not np.any(col != 0)],
            "success": res.success,
            "linear_before": res.before,
            "linear_after": res.after,
        }
    return values, diag


def stats_by(
    evaluated: Sequence[Evaluated], metrics: Sequence[str], key: Callable[[Sample], str] | None = None
) -> dict[str, dict[str, Any]]:
    """Error statistics per metric (optionally per group key -> metric)."""
    groups: dict[str, list[Evaluated]] = {}
    for e in evaluated:
        if e.evaluation is None:
            continue
        groups.setdefault(key(e.sample) if key else "all", []).append(e)
    out: dict[str, dict[str, Any]] = {}
    for g, items in groups.items():
        per: dict[str, Any] = {}
        for m in metrics:
            rows = [e for e in items if e.sample.reported.get(m) is not None and m in e.evaluation.predicted]  # type: ignore[union-attr]
            if not rows:
                continue
            per[m] = error_stats(
                [e.evaluation.predicted[m] for e in rows],  # type: ignore[union-attr]
                [float(e.sample.reported[m] or 0.0) for e in rows],
                [e.sample.ranges.get(m) for e in rows],
            )
        out[g] = per
    return out if key else {"all": out.get("all", {})}


def _mode(values: Sequence[str | None]) -> str | None:
    vals = [v for v in values if v]
    return Counter(vals).most_common(1)[0][0] if vals else None


def calibrate(
    adapter: CalibrationAdapter,
    samples: Sequence[Sample],
    holdout: float = 0.3,
    seed: int = 0,
    kind: str = "hls_estimate",
    loss: str = "soft_l1",
    f_scale: float = 0.05,
    profile_id: str | None = None,
    hwsim_version: str = "",
    inputs: Sequence[str] = (),
) -> dict[str, Any]:
    """Fit the adapter's constants on a fit split of ``samples`` and return a profile dict
    (``hwsim.calibration.profile`` format) with the error before/after on both splits."""
    use = [s for s in samples if s.kind == kind and any(v is not None for v in s.reported.values())]
    if not use:
        raise ReportError(f"no {kind} reports to fit among {len(samples)} input record(s)")
    ids = [s.id for s in use]
    fit_ids, held_ids = split_ids(ids, holdout, seed, [s.group for s in use])
    fit_set, held_set = set(fit_ids), set(held_ids)
    before = evaluate_all(adapter, use, None)
    skipped = [{"id": e.sample.id, "reason": e.error} for e in before if e.evaluation is None]
    ok_before = [e for e in before if e.evaluation is not None]
    fit_rows = [e for e in ok_before if e.sample.id in fit_set]
    if not fit_rows:
        raise ReportError("no report of the fit split could be costed by the backend")
    values, diag = fit_constants(adapter, fit_rows, None, loss, f_scale)
    fitted_names = [
        n
        for names in adapter.fittable().values()
        for n in names
        if any(n in d.get("constants", {}) and n not in d.get("unused", []) for d in diag.values())
    ]
    part = _mode([s.part for s in use if s.id in fit_set])
    tool = _mode([s.tool for s in use if s.id in fit_set])
    sources = sorted({s.source for s in use if s.id in fit_set})
    n_fit = len(fit_rows)
    src_text = ", ".join(sources)
    constants = {
        n: {
            "value": float(values[n]),
            "source": f"fit: robust least squares ({loss}, f_scale {f_scale}) on the relative error of {n_fit} {kind} reports ({src_text}, fit split: holdout {holdout}, seed {seed}, grouped by architecture)",
        }
        for n in fitted_names
    }
    pid = profile_id or f"{adapter.backend}-{part or 'any'}-{(tool or 'any').replace(' ', '').lower()}-{'+'.join(sources)}"
    profile: dict[str, Any] = {
        "schema": "hwsim-profile/1",
        "id": pid,
        "backend": adapter.backend,
        "applies_to": {
            "part": part,
            "tool": tool,
            "kind": kind,
            **(adapter.domain([s for s in use if s.id in fit_set]) if hasattr(adapter, "domain") else {}),
        },
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "hwsim_version": hwsim_version,
        "inputs": list(inputs),
        "reports": sorted(fit_ids),
        "split": {
            "holdout": holdout,
            "seed": seed,
            "grouped_by": "architecture (manifest 'group')",
            "fit": sorted(fit_ids),
            "held_out": sorted(held_ids),
        },
        "constants": constants,
    }
    after = evaluate_all(adapter, use, profile)
    m = adapter.metrics

    def part_stats(rows: Sequence[Evaluated], idset: set[str]) -> dict[str, Any]:
        return stats_by([e for e in rows if e.sample.id in idset], m)["all"]

    profile["evaluated_on"] = "held_out" if held_ids else "fit"
    profile["error_before"] = part_stats(before, held_set if held_ids else fit_set)
    profile["error_after"] = part_stats(after, held_set if held_ids else fit_set)
    profile["fit_error_before"] = part_stats(before, fit_set)
    profile["fit_error_after"] = part_stats(after, fit_set)
    profile["fit_diagnostics"] = diag
    if skipped:
        profile["skipped"] = skipped
    return profile


def cross_validate(
    adapter: CalibrationAdapter,
    samples: Sequence[Sample],
    folds: int | None = None,
    by_source: bool = False,
    seed: int = 0,
    kind: str = "hls_estimate",
    loss: str = "soft_l1",
    f_scale: float = 0.05,
) -> tuple[list[Evaluated], list[dict[str, Any]]]:
    """Out-of-fold predictions: k folds grouped by architecture, or leave-one-source-out.

    Every fold fits on the other folds' ``kind`` reports and predicts its own; returns the
    out-of-fold evaluations (all kinds of the held fold are predicted with that fold's fit)
    and a summary per fold."""
    use = [s for s in samples if any(v is not None for v in s.reported.values())]
    base = evaluate_all(adapter, use, None)
    if by_source:
        labels = sorted({s.source for s in use})
        if len(labels) < 2:
            raise ReportError("--by-source needs reports from at least two sources")
        fold_idx = [[i for i, s in enumerate(use) if s.source == lab] for lab in labels]
    else:
        fold_idx = kfold_groups([s.group for s in use], int(folds or 5), seed)
        labels = [f"fold{i}" for i in range(len(fold_idx))]
    oof: dict[int, Evaluated] = {}
    summary = []
    for lab, idx in zip(labels, fold_idx):
        idx_set = set(idx)
        train = [base[i] for i in range(len(use)) if i not in idx_set and base[i].evaluation is not None and use[i].kind == kind]
        if not train:
            summary.append({"fold": lab, "n_fit": 0, "n_held": len(idx), "note": "nothing to fit on"})
            continue
        values, _ = fit_constants(adapter, train, None, loss, f_scale)
        prof = {
            "schema": "hwsim-profile/1",
            "id": f"cv-{lab}",
            "backend": adapter.backend,
            "constants": {k: {"value": v, "source": f"cv fold {lab}"} for k, v in values.items()},
        }
        for i in idx:
            oof[i] = evaluate_all(adapter, [use[i]], prof)[0]
        summary.append({"fold": lab, "n_fit": len(train), "n_held": len(idx), "constants": values})
    return [oof[i] for i in sorted(oof)], summary
