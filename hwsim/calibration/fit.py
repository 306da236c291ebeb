"""Robust least-squares fitting of a backend's linear constants, and error statistics.

The fitter is generic: a design matrix ``X`` (one row per report, one column per free
constant: the summed coefficient of that constant over the layers of the design), the
reported values ``y``, an optional per-row ``offset`` (the part of the prediction that does
not depend on the free constants), weights and bounds. It minimises a robust loss
(``soft_l1`` by default, or ``huber``) of the *relative* residuals

    r_i = w_i * (offset_i + X_i . theta - y_i) / max(|y_i|, floor)

with :func:`scipy.optimize.least_squares` (trust-region reflective, non-negative bounds by
default). Relative residuals make a 10 % miss on a 200-LUT design weigh as much as a 10 %
miss on a 200k-LUT design; the robust loss keeps a few pathological syntheses from
dominating. ``floor`` keeps reports of 0 (e.g. no BRAM) from dividing by zero.

:func:`error_stats` gives the validation metrics used throughout (MAPE, median APE, max APE,
bias, exact-match percentage).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitResult:
    """Fitted constants and residual statistics (relative errors, in percent)."""

    names: tuple[str, ...]
    values: tuple[float, ...]
    initial: tuple[float, ...]
    n: int
    loss: str
    f_scale: float
    success: bool
    message: str
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    stderr: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.values))


def fit_linear(
    X: np.ndarray | Sequence[Sequence[float]],
    y: np.ndarray | Sequence[float],
    names: Sequence[str],
    x0: np.ndarray | Sequence[float] | None = None,
    offset: np.ndarray | Sequence[float] | None = None,
    weights: np.ndarray | Sequence[float] | None = None,
    lower: float | Sequence[float] = 0.0,
    upper: float | Sequence[float] = math.inf,
    loss: str = "soft_l1",
    f_scale: float = 0.05,
    floor: float = 1.0,
) -> FitResult:
    """Fit ``theta`` in ``y ~ offset + X @ theta`` by robust least squares on relative error.

    ``X``: (n, p) coefficients, ``y``: (n,) reported values, ``names``: the p constants,
    ``x0``: starting values (default 1), ``lower``/``upper``: bounds (default >= 0),
    ``loss``: ``soft_l1`` | ``huber`` | ``linear`` | ``cauchy``; ``f_scale``: the relative
    residual at which the robust loss turns linear (0.05 = 5 %). Columns that are zero for
    every row cannot be fitted and keep their starting value.
    """
    from scipy.optimize import least_squares

    Xa = np.asarray(X, dtype=float)
    ya = np.asarray(y, dtype=float)
    if Xa.ndim != 2 or Xa.shape[0] != ya.shape[0]:
        raise ValueError(f"X must be (n, p) with n = len(y); got {Xa.shape} and {ya.shape}")
    n, p = Xa.shape
    if len(names) != p:
        raise ValueError(f"{p} columns but {len(names)} names")
    if n == 0:
        raise ValueError("nothing to fit: no rows")
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    start = np.ones(p) if x0 is None else np.asarray(x0, dtype=float).copy()
    lo = np.broadcast_to(np.asarray(lower, dtype=float), (p,)).copy()
    hi = np.broadcast_to(np.asarray(upper, dtype=float), (p,)).copy()
    start = np.clip(start, lo, hi)
    denom = np.maximum(np.abs(ya), floor)
    active = np.flatnonzero(np.any(Xa != 0, axis=0))
    before = error_stats(off + Xa @ start, ya)
    theta = start.copy()
    success, message = True, "no free column"
    stderr = np.full(p, math.nan)
    if active.size:
        Xs = Xa[:, active]
        inactive = np.setdiff1d(np.arange(p), active)
        fixed = off + Xa[:, inactive] @ start[inactive]

        def resid(t: np.ndarray) -> np.ndarray:
            r: np.ndarray = w * (fixed + Xs @ t - ya) / denom
            return r

        J = (w / denom)[:, None] * Xs
        s0 = start[active]
        # a starting point strictly inside the bounds (trf requires it)
        s0 = np.where(s0 <= lo[active], lo[active] + 1e-9 + 1e-6 * np.abs(lo[active]), s0)
        hi_a = hi[active]
        s0 = np.where(np.isfinite(hi_a) & (s0 >= hi_a), hi_a - 1e-9 - 1e-6 * np.abs(np.where(np.isfinite(hi_a), hi_a, 0.0)), s0)
        res = least_squares(
            resid,
            s0,
            jac=lambda t: J,
            bounds=(lo[active], hi[active]),
            loss=loss,
            f_scale=f_scale,
            x_scale="jac",
            method="trf",
            max_nfev=2000,
        )
        theta[active] = res.x
        success, message = bool(res.success), str(res.message)
        # approximate standard errors from the Gauss-Newton Hessian of the unweighted loss
        try:
            dof = max(n - active.size, 1)
            s2 = float(np.sum(resid(res.x) ** 2)) / dof
            cov = np.linalg.pinv(J.T @ J) * s2
            stderr[active] = np.sqrt(np.clip(np.diag(cov), 0, None))
        except np.linalg.LinAlgError:  # pragma: no cover
            pass
    after = error_stats(off + Xa @ theta, ya)
    return FitResult(
        names=tuple(names),
        values=tuple(float(v) for v in theta),
        initial=tuple(float(v) for v in start),
        n=n,
        loss=loss,
        f_scale=f_scale,
        success=success,
        message=message,
        before=before,
        after=after,
        stderr=tuple(float(v) for v in stderr),
    )


def error_stats(
    predicted: Sequence[float] | np.ndarray,
    reported: Sequence[float] | np.ndarray,
    ranges: Sequence[tuple[float, float] | None] | None = None,
) -> dict[str, Any]:
    """Validation metrics of predictions against reports.

    * ``mape``, ``median_ape``, ``max_ape``: absolute percentage error over reports > 0
      (a report of 0 has no relative error: it counts only for ``exact_pct``);
    * ``bias``: median signed percentage error (positive = over-prediction);
    * ``exact_pct``: percentage of reports matched exactly — the rounded prediction equals
      the report, or lies inside the report's ``[best, worst]`` range when ``ranges`` is
      given (latency and II are reported as ranges);
    * ``n``: number of reports; ``n_relative``: how many entered the relative errors.
    """
    p = np.asarray(predicted, dtype=float)
    r = np.asarray(reported, dtype=float)
    ok = np.isfinite(p) & np.isfinite(r)
    p, r = p[ok], r[ok]
    rng = [ranges[int(i)] for i in np.flatnonzero(ok)] if ranges is not None else None
    n = int(p.size)
    if n == 0:
        return {"n": 0, "n_relative": 0, "mape": None, "median_ape": None, "max_ape": None, "bias": None, "exact_pct": None}
    pos = r > 0
    ape = np.abs(p[pos] - r[pos]) / r[pos] * 100.0
    signed = (p[pos] - r[pos]) / r[pos] * 100.0
    pr = np.round(p)
    if rng is not None:
        exact = np.array(
            [(lo_hi is not None and lo_hi[0] - 1e-9 <= pr[i] <= lo_hi[1] + 1e-9) or pr[i] == r[i] for i, lo_hi in enumerate(rng)]
        )
    else:
        exact = np.abs(pr - r) < 0.5 + 1e-9
    return {
        "n": n,
        "n_relative": int(pos.sum()),
        "mape": _f(ape.mean()) if ape.size else None,
        "median_ape": _f(np.median(ape)) if ape.size else None,
        "max_ape": _f(ape.max()) if ape.size else None,
        "bias": _f(np.median(signed)) if signed.size else None,
        "exact_pct": _f(100.0 * exact.mean()),
    }


def _f(x: float) -> float:
    return float(round(float(x), 4))


def split_ids(ids: Sequence[str], holdout: float, seed: int, groups: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Deterministic fit/held-out split. With ``groups`` (e.g. the architecture of each
    report), whole groups are held out, so that no architecture is seen in both parts."""
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    rng = np.random.default_rng(seed)
    if holdout == 0.0:
        return list(ids), []
    if groups is None:
        groups = list(ids)
    uniq = sorted(set(groups))
    perm = rng.permutation(len(uniq))
    n_hold = max(1, int(round(holdout * len(uniq)))) if len(uniq) > 1 else 0
    held_groups = {uniq[i] for i in perm[:n_hold]}
    fit = [i for i, g in zip(ids, groups) if g not in held_groups]
    held = [i for i, g in zip(ids, groups) if g in held_groups]
    return fit, held


def kfold_groups(groups: Sequence[str], k: int, seed: int) -> list[list[int]]:
    """Indices of ``k`` folds that keep each group (architecture, source...) together."""
    if k < 2:
        raise ValueError("--folds needs k >= 2")
    uniq = sorted(set(groups))
    if len(uniq) < k:
        raise ValueError(f"{k} folds but only {len(uniq)} distinct groups")
    perm = np.random.default_rng(seed).permutation(len(uniq))
    fold_of = {uniq[j]: i % k for i, j in enumerate(perm)}
    folds: list[list[int]] = [[] for _ in range(k)]
    for idx, g in enumerate(groups):
        folds[fold_of[g]].append(idx)
    return folds
