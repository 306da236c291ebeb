"""hwsim as the objective of a neural-architecture search.

:func:`cost` turns a candidate (an :class:`~hwsim.ir.OpGraph`, or anything
:func:`hwsim.api.lower` reads) into a :class:`CostResult`: named values, each with its unit and
whether it is *analytical* (a closed-form count or formula), *fitted* (it depends on a constant
fitted to vendor reports) or a *proxy*. :func:`cost_many` does the same for a whole population.
:class:`Objective` holds one hardware target (backend + resolved parameters + constraints) and a
cache keyed by ``graph.fingerprint()`` + backend + parameters, so a candidate that the sampler
proposes twice is costed once.

Constraints are *values*, never penalties: :class:`Constraint` ``("latency_s", "<=", 100e-9)``
evaluates to ``(value - bound) / |bound|`` (dimensionless, <= 0 feasible), the convention of
Optuna's ``Trial.set_constraint`` and of pymoo's ``G``.

A candidate hwsim cannot cost raises a typed error: :class:`UnsupportedCandidate` (an op the
backend does not cost), :class:`InfeasibleCandidate` (the architecture cannot be built, e.g. the
convolutions shrink the image below the kernel). No sentinel cost is ever returned, so nothing
pollutes a Pareto front.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import operator
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hwsim.errors import ConfigError, HwsimError
from hwsim.ir import OpGraph

if TYPE_CHECKING:  # pragma: no cover
    from hwsim.backends.base import Backend, Estimate, Params

log = logging.getLogger(__name__)

ANALYTICAL = "analytical"
FITTED = "fitted"
PROXY = "proxy"
MEASURED = "measured"
KINDS = (ANALYTICAL, FITTED, PROXY, MEASURED)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


class CandidateError(HwsimError):
    """A search candidate that hwsim cannot cost. Search adapters record the trial as failed
    (never with a sentinel value)."""


class UnsupportedCandidate(CandidateError):
    """The backend does not cost one of the candidate's ops (named in the message)."""


class InfeasibleCandidate(CandidateError):
    """The sampled architecture cannot be built (e.g. a 3x3 convolution on a 1x1 image)."""


# ---------------------------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------------------------

_COUNT_UNITS = {"DSP": "DSP", "LUT": "LUT", "FF": "FF", "BRAM_18K": "BRAM_18K", "URAM": "URAM", "tiles": "tiles"}


def unit_of(name: str) -> str:
    """The unit of a totals key by the contract's naming (DESIGN.md): ``_s`` seconds, ``_j``
    joules, ``_w`` watts, ``_pct`` percent, ``_cycles`` clock cycles, ``_per_s`` 1/s."""
    if name in _COUNT_UNITS:
        return _COUNT_UNITS[name]
    if name.endswith("_per_s"):
        return "1/s"
    if name.endswith("_pct"):
        return "%"
    if name.endswith("_cycles") or name == "cycles":
        return "cycles"
    if name.endswith("_s"):
        return "s"
    if name.endswith("_ns"):
        return "ns"
    if name.endswith("_j"):
        return "J"
    if name.endswith("_w"):
        return "W"
    return {"bops": "bit-op", "macs": "MAC", "params": "parameters"}.get(name, "")


@dataclass(frozen=True, slots=True)
class Metric:
    """One cost value: ``value`` in ``unit``; ``kind`` is analytical | fitted | proxy | measured."""

    value: float
    unit: str
    kind: str
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": self.value, "unit": self.unit, "kind": self.kind}
        if self.source:
            d["source"] = self.source
        return d


class CostResult(Mapping[str, float]):
    """The named cost values of one candidate on one hardware target.

    ``result["latency_s"]`` is the float value; ``result.metric("latency_s")`` the
    :class:`Metric` (value, unit, kind); ``result.constraints`` the constraint values
    (<= 0 feasible) in the order the :class:`Objective` declared them.
    """

    __slots__ = ("backend", "fingerprint", "metrics", "constraints", "estimate", "model")

    def __init__(
        self,
        backend: str,
        fingerprint: str,
        metrics: Mapping[str, Metric],
        constraints: Mapping[str, float] | None = None,
        estimate: Estimate | None = None,
        model: str = "",
    ) -> None:
        self.backend = backend
        self.fingerprint = fingerprint
        self.metrics: dict[str, Metric] = dict(metrics)
        self.constraints: dict[str, float] = dict(constraints or {})
        self.estimate = estimate
        self.model = model

    def __getitem__(self, key: str) -> float:
        try:
            return self.metrics[key].value
        except KeyError:
            raise KeyError(f"{key!r} is not a cost of backend {self.backend!r} (has: {', '.join(self.metrics)})") from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.metrics)

    def __len__(self) -> int:
        return len(self.metrics)

    def metric(self, key: str) -> Metric:
        return self.metrics[key]

    def unit(self, key: str) -> str:
        return self.metrics[key].unit

    def kind(self, key: str) -> str:
        return self.metrics[key].kind

    @property
    def feasible(self) -> bool:
        """True when every constraint value is <= 0 (also when there are none)."""
        return all(v <= 0 for v in self.constraints.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": self.model,
            "fingerprint": self.fingerprint,
            "metrics": {k: m.to_json() for k, m in self.metrics.items()},
            "constraints": dict(self.constraints),
            "feasible": self.feasible,
        }

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={m.value:.4g} {m.unit}".rstrip() for k, m in self.metrics.items())
        return f"CostResult({self.backend}, {self.fingerprint}: {vals})"


# ---------------------------------------------------------------------------------------------
# constraints
# ---------------------------------------------------------------------------------------------

_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}
_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True, slots=True)
class Constraint:
    """``value(metric) <op> bound`` as a number that is <= 0 when satisfied.

    The value is the violation relative to the bound, ``(v - bound) / |bound|`` for ``<=`` and
    ``(bound - v) / |bound|`` for ``>=`` (plain difference when the bound is 0), so that
    constraints in seconds and in DSP slices are summed on one scale by NSGA-II's constrained
    domination. Examples: ``Constraint("latency_s", "<=", 100e-9)``, the 40 MHz L1 trigger
    initiation interval ``Constraint("ii_s", "<=", 25e-9)``, ``Constraint("DSP_pct", "<=", 10)``.
    """

    metric: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ConfigError(f"constraint on {self.metric!r}: operator {self.op!r} is not <= or >=")
        if not math.isfinite(float(self.bound)):
            raise ConfigError(f"constraint on {self.metric!r}: bound {self.bound!r} is not finite")

    @property
    def name(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"

    def value(self, result: Mapping[str, float]) -> float:
        if self.metric not in result:
            raise ConfigError(f"constraint {self.name}: {self.metric!r} is not a cost of this backend (has: {', '.join(result)})")
        v = float(result[self.metric])
        diff = v - self.bound if self.op == "<=" else self.bound - v
        return diff / abs(self.bound) if self.bound != 0 else diff

    def satisfied(self, result: Mapping[str, float]) -> bool:
        return self.value(result) <= 0

    @staticmethod
    def parse(text: str) -> Constraint:
        """``"latency_s<=100e-9"``, ``"DSP_pct <= 10"``, ``"ii_s<=25e-9"``."""
        m = _CONSTRAINT_RE.match(text)
        if not m:
            raise ConfigError(f"constraint {text!r}: expected METRIC<=VALUE or METRIC>=VALUE")
        try:
            bound = float(m.group(3))
        except ValueError:
            raise ConfigError(f"constraint {text!r}: {m.group(3)!r} is not a number") from None
        return Constraint(m.group(1), m.group(2), bound)


# ---------------------------------------------------------------------------------------------
# kinds: analytical or fitted
# ---------------------------------------------------------------------------------------------

# Totals that are exact counts of the graph, whatever the backend (never fitted).
_ALWAYS_ANALYTICAL = frozenset({"bops", "macs", "params"})


def _totals_kind(backend: Backend, est: Estimate, params: Params) -> dict[str, str]:
    """Whether each total is analytical or fitted.

    Order of authority: the estimate's ``extra['totals_kind']``, then the backend class
    attribute ``totals_kind`` (a mapping), then the backend's ``fittable`` mapping (total ->
    the fitted constants its model uses; the fpga backend lists LUT, FF and BRAM_18K: those
    and their ``_pct`` are "fitted", the rest analytical), then a conservative rule: a total
    is "fitted" when any parameter in use was fitted (source starting with "fit").
    """
    declared: dict[str, str] = {}
    backend_kinds = getattr(backend, "totals_kind", None)
    if isinstance(backend_kinds, Mapping):
        declared.update({str(k): str(v) for k, v in backend_kinds.items()})
    extra_kinds = est.extra.get("totals_kind") if isinstance(est.extra, Mapping) else None
    if isinstance(extra_kinds, Mapping):
        declared.update({str(k): str(v) for k, v in extra_kinds.items()})
    fittable = getattr(backend, "fittable", None)
    any_fit = any(str(p.source).lower().startswith("fit") for p in params.values())
    out: dict[str, str] = {}
    for key in est.totals:
        base = key[: -len("_pct")] if key.endswith("_pct") else key
        if key in declared:
            out[key] = declared[key]
        elif key in _ALWAYS_ANALYTICAL:
            out[key] = ANALYTICAL
        elif isinstance(fittable, Mapping):
            # the backend lists which totals depend on fitted constants (fpga: LUT, FF, BRAM)
            out[key] = FITTED if fittable.get(base) else ANALYTICAL
        else:
            out[key] = FITTED if any_fit else ANALYTICAL
    return out


def _clock_period_s(params: Params) -> float | None:
    for key, scale in (("clock_period_ns", 1e-9), ("ClockPeriod", 1e-9), ("clock_period_s", 1.0)):
        if key in params:
            try:
                v = float(params.value(key))
            except (TypeError, ValueError):
                continue
            if v > 0:
                return v * scale
    return None


def metrics_from_estimate(backend: Backend, est: Estimate, params: Params) -> dict[str, Metric]:
    """Numeric totals of an estimate as :class:`Metric` objects, plus derived values:
    ``ii_s`` = ``ii_cycles`` x clock period (when the backend reports cycles and a clock)."""
    kinds = _totals_kind(backend, est, params)
    out: dict[str, Metric] = {}
    for key, raw in est.totals.items():
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            try:
                value = float(raw)
            except (TypeError, ValueError):
                continue
        else:
            value = float(raw)
        out[key] = Metric(value, unit_of(key), kinds[key], f"{backend.name} backend")
    period = _clock_period_s(params)
    if period is not None:
        if "ii_cycles" in out and "ii_s" not in out:
            m = out["ii_cycles"]
            out["ii_s"] = Metric(m.value * period, "s", m.kind, "ii_cycles x clock period")
        if "latency_cycles" in out and "latency_s" not in out:
            m = out["latency_cycles"]
            out["latency_s"] = Metric(m.value * period, "s", m.kind, "latency_cycles x clock period")
    return out


# ---------------------------------------------------------------------------------------------
# the objective
# ---------------------------------------------------------------------------------------------


def _params_key(backend_name: str, params: Params) -> str:
    blob = json.dumps({k: p.to_json()["value"] for k, p in params.items()}, sort_keys=True, default=str)
    return backend_name + ":" + hashlib.sha256(blob.encode()).hexdigest()[:16]


class CostCache:
    """A bounded LRU cache of :class:`CostResult` by (fingerprint, backend, params key)."""

    def __init__(self, maxsize: int = 100_000) -> None:
        self.maxsize = int(maxsize)
        self._d: OrderedDict[tuple[str, str], CostResult] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, str]) -> CostResult | None:
        r = self._d.get(key)
        if r is None:
            self.misses += 1
            return None
        self.hits += 1
        self._d.move_to_end(key)
        return r

    def put(self, key: tuple[str, str], value: CostResult) -> None:
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self.maxsize:
            self._d.popitem(last=False)

    def clear(self) -> None:
        self._d.clear()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._d)


@dataclass
class Objective:
    """One hardware target for a search: a backend, its resolved parameters, constraints and a
    cache.

    >>> obj = Objective("bops", overrides={"weight_bits": "8", "act_bits": "8"})  # doctest: +SKIP
    >>> obj.cost(graph)["bops"]  # doctest: +SKIP
    """

    backend: str | Backend
    config: Mapping[str, Any] | None = None
    overrides: Mapping[str, Any] | None = None
    constraints: Sequence[Constraint | str] = ()
    profile: Mapping[str, Any] | None = None
    cache: CostCache = field(default_factory=CostCache)
    keep_estimate: bool = False

    def __post_init__(self) -> None:
        from hwsim.api import resolve

        overrides = {
            str(k): (v if isinstance(v, str) else json.dumps(v) if isinstance(v, (list, dict)) else str(v))
            for k, v in (self.overrides or {}).items()
        }
        self._backend, self._params = resolve(self.backend, self.config, overrides, self.profile)
        self._key = _params_key(self._backend.name, self._params)
        self._constraints: tuple[Constraint, ...] = tuple(
            c if isinstance(c, Constraint) else Constraint.parse(c) for c in self.constraints
        )

    @property
    def backend_obj(self) -> Backend:
        return self._backend

    @property
    def params(self) -> Params:
        return self._params

    @property
    def key(self) -> str:
        """Identifies backend + parameters (part of the cache key)."""
        return self._key

    def _lower(self, candidate: Any, example_input: Any = None) -> OpGraph:
        if isinstance(candidate, OpGraph):
            return candidate
        from hwsim.api import lower

        return lower(candidate, example_input=example_input)

    def _compute(self, graph: OpGraph) -> CostResult:
        from hwsim.api import cost_graph

        try:
            est = cost_graph(graph, self._backend, self._params, strict=False)
        except CandidateError:
            raise
        except HwsimError as exc:
            raise UnsupportedCandidate(f"candidate {graph.fingerprint()} ({graph.name}): {exc}") from exc
        if est.unsupported:
            names = ", ".join(f"{u.get('name')} ({u.get('op')}: {u.get('reason')})" for u in est.unsupported)
            raise UnsupportedCandidate(
                f"candidate {graph.fingerprint()} ({graph.name}): the {self._backend.name} backend does not cost {names}"
            )
        metrics = metrics_from_estimate(self._backend, est, self._params)
        for k, m in metrics.items():
            if not math.isfinite(m.value):
                raise UnsupportedCandidate(
                    f"candidate {graph.fingerprint()} ({graph.name}): {self._backend.name} gave a non-finite {k}"
                )
        cons = {c.name: c.value(metrics_as_values(metrics)) for c in self._constraints}
        return CostResult(self._backend.name, graph.fingerprint(), metrics, cons, est if self.keep_estimate else None, graph.name)

    def cost(self, candidate: Any, example_input: Any = None) -> CostResult:
        """Cost one candidate (cached by fingerprint). Raises :class:`CandidateError`."""
        graph = self._lower(candidate, example_input)
        key = (graph.fingerprint(), self._key)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        res = self._compute(graph)
        self.cache.put(key, res)
        return res

    def cost_many(self, candidates: Iterable[Any], errors: str = "raise") -> list[CostResult | CandidateError]:
        """Cost a population. ``errors="raise"`` stops at the first :class:`CandidateError`;
        ``errors="return"`` puts the error object in that candidate's slot (a typed value the
        caller must handle, never a number)."""
        if errors not in ("raise", "return"):
            raise ConfigError(f"errors={errors!r}: expected 'raise' or 'return'")
        out: list[CostResult | CandidateError] = []
        for c in candidates:
            try:
                out.append(self.cost(c))
            except CandidateError as exc:
                if errors == "raise":
                    raise
                out.append(exc)
        return out

    def constraint_values(self, result: Mapping[str, float]) -> list[float]:
        return [c.value(result) for c in self._constraints]

    @property
    def constraint_list(self) -> tuple[Constraint, ...]:
        return self._constraints


def metrics_as_values(metrics: Mapping[str, Metric]) -> dict[str, float]:
    return {k: m.value for k, m in metrics.items()}


# module-level objectives for the functional API, one per (backend, config, overrides)
_OBJECTIVES: dict[str, Objective] = {}


def _objective_for(
    backend: str | Backend,
    config: Mapping[str, Any] | None,
    overrides: Mapping[str, Any],
    constraints: Sequence[Constraint | str],
) -> Objective:
    name = backend if isinstance(backend, str) else f"{type(backend).__module__}.{type(backend).__qualname__}@{id(backend)}"
    key = json.dumps(
        [name, config or {}, {k: str(v) for k, v in overrides.items()}, [str(c) for c in constraints]],
        sort_keys=True,
        default=str,
    )
    obj = _OBJECTIVES.get(key)
    if obj is None:
        obj = Objective(backend, config, dict(overrides), tuple(constraints))
        _OBJECTIVES[key] = obj
    return obj


def cost(
    model_or_graph: Any,
    backend: str | Backend,
    config: Mapping[str, Any] | None = None,
    *,
    constraints: Sequence[Constraint | str] = (),
    example_input: Any = None,
    **overrides: Any,
) -> CostResult:
    """Cost one candidate on ``backend`` (``config``: the backend's configuration, for fpga an
    hls4ml config; keyword ``overrides`` are ``--set`` options, e.g. ``reuse_factor=4``).

    Results are cached by ``graph.fingerprint()`` + backend + parameters.
    Raises :class:`UnsupportedCandidate` / :class:`InfeasibleCandidate` (both
    :class:`hwsim.errors.HwsimError`) instead of returning a sentinel value.
    """
    return _objective_for(backend, config, overrides, constraints).cost(model_or_graph, example_input)


def cost_many(
    graphs: Iterable[Any],
    backend: str | Backend,
    config: Mapping[str, Any] | None = None,
    *,
    constraints: Sequence[Constraint | str] = (),
    errors: str = "raise",
    **overrides: Any,
) -> list[CostResult | CandidateError]:
    """Batch form of :func:`cost` for a whole population (see :meth:`Objective.cost_many`)."""
    return _objective_for(backend, config, overrides, constraints).cost_many(graphs, errors=errors)


def clear_caches() -> None:
    """Forget every cached result of the functional API."""
    for obj in _OBJECTIVES.values():
        obj.cache.clear()
    _OBJECTIVES.clear()
