"""Search-engine adapters for the hwsim objective.

* :func:`optuna_objective` — an Optuna objective ``trial -> tuple of objective values``: samples
  the space define-by-run, costs the candidate, records every cost as a user attribute and
  every constraint with ``Trial.set_constraint`` (Optuna 5; the sampler's ``constraints_func``
  is deprecated there). Candidates hwsim cannot cost raise :class:`CandidateError`: run
  ``study.optimize(..., catch=(CandidateError,))`` so the trial is recorded as FAIL — no
  sentinel value enters the Pareto front.
* :func:`ask_tell` — a plain ask/tell loop (no Optuna needed): any ``ask() -> sample`` /
  ``tell(sample, values | error)`` engine, population by population, costed with
  :meth:`Objective.cost_many`.
* :func:`pymoo_problem` — a pymoo ``Problem`` over the space's integer-encoded parameters,
  evaluated a population at a time (pymoo imported lazily; it is an optional dependency).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hwsim.errors import ConfigError, OptionalDependencyError
from hwsim.ir import OpGraph
from hwsim.search.objective import CandidateError, CostResult, Objective
from hwsim.search.spaces import SearchSpace

log = logging.getLogger(__name__)

#: short objective names -> totals keys (all minimised)
COST_ALIASES = {
    "latency": "latency_s",
    "ii": "ii_s",
    "dsp": "DSP",
    "lut": "LUT",
    "ff": "FF",
    "bram": "BRAM_18K",
    "bops": "bops",
    "macs": "macs",
    "params": "params",
    "energy": "energy_per_inference_j",
    "tiles": "tiles",
    "power": "power_w",
}
TASK_ALIASES = ("accuracy", "metric", "task")

MetricFn = Callable[[SearchSpace, Mapping[str, Any], OpGraph], float]


@dataclass(frozen=True)
class ObjectiveSpec:
    """One search objective: the task metric (``cost_key`` None) or a cost total."""

    name: str
    direction: str
    cost_key: str | None = None


def parse_objectives(
    text: str | Sequence[str], space: SearchSpace, metric_name: str, metric_direction: str
) -> list[ObjectiveSpec]:
    """``"accuracy,latency"`` -> specs. ``accuracy``/``metric``/``task`` or the space's metric
    name mean the task metric; cost names are aliases (latency, ii, dsp, lut, ff, bram, bops,
    params, energy) or raw totals keys (``latency_cycles``, ``DSP_pct``...), all minimised."""
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    if not names:
        raise ConfigError("--objectives: give at least one objective")
    out: list[ObjectiveSpec] = []
    for n in names:
        if n in TASK_ALIASES or n == space.metric or n == metric_name:
            out.append(ObjectiveSpec(metric_name, metric_direction, None))
        else:
            out.append(ObjectiveSpec(COST_ALIASES.get(n.lower(), n), "minimize", COST_ALIASES.get(n.lower(), n)))
    if len({o.name for o in out}) != len(out):
        raise ConfigError(f"--objectives {','.join(names)}: an objective is listed twice")
    return out


def check_cost_keys(objectives: Sequence[ObjectiveSpec], result: CostResult) -> None:
    for o in objectives:
        if o.cost_key is not None and o.cost_key not in result:
            raise ConfigError(
                f"--objectives: {o.cost_key!r} is not a cost of backend {result.backend!r} (has: {', '.join(result)})"
            )


def evaluate(
    space: SearchSpace,
    sample: Mapping[str, Any],
    objective: Objective,
    objectives: Sequence[ObjectiveSpec],
    metric_fn: MetricFn | None,
) -> tuple[list[float], CostResult, OpGraph, float | None]:
    """Build, cost and (when an objective needs it) score one sample. Cost first: a candidate
    hwsim cannot cost is rejected before any training."""
    graph = space.to_graph(sample)
    result = objective.cost(graph)
    check_cost_keys(objectives, result)
    metric: float | None = None
    values: list[float] = []
    for o in objectives:
        if o.cost_key is None:
            if metric is None:
                if metric_fn is None:
                    raise ConfigError("the task metric is an objective but no metric function was given")
                metric = float(metric_fn(space, sample, graph))
                if not math.isfinite(metric):
                    raise CandidateError(f"candidate {graph.fingerprint()}: the task metric is {metric}")
            values.append(metric)
        else:
            values.append(float(result[o.cost_key]))
    return values, result, graph, metric


def record_trial(trial: Any, result: CostResult, graph: OpGraph) -> None:
    """Store the candidate's costs on an Optuna trial in ONE user attribute (storage writes are
    what a journal/RDB storage pays for): ``trial.user_attrs["hwsim"]`` = {backend,
    fingerprint, n_params, costs: {key: value}, units: {key: unit}, kinds: {key: analytical |
    fitted}}; each constraint with ``Trial.set_constraint``."""
    trial.set_user_attr(
        "hwsim",
        {
            "backend": result.backend,
            "fingerprint": graph.fingerprint(),
            "n_params": graph.n_params,
            "costs": {k: m.value for k, m in result.metrics.items()},
            "units": {k: m.unit for k, m in result.metrics.items()},
            "kinds": {k: m.kind for k, m in result.metrics.items()},
        },
    )
    for name, v in result.constraints.items():
        trial.set_constraint(name, v)


def optuna_objective(
    space: SearchSpace,
    objective: Objective,
    objectives: Sequence[ObjectiveSpec],
    metric_fn: MetricFn | None = None,
) -> Callable[[Any], tuple[float, ...]]:
    """An Optuna objective function (see the module docstring)."""

    def fn(trial: Any) -> tuple[float, ...]:
        sample = space.sample(trial)
        try:
            values, result, graph, _ = evaluate(space, sample, objective, objectives, metric_fn)
        except CandidateError as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise
        record_trial(trial, result, graph)
        return tuple(values)

    return fn


# ---------------------------------------------------------------------------------------------
# plain ask/tell
# ---------------------------------------------------------------------------------------------


def ask_tell(
    space: SearchSpace,
    objective: Objective,
    ask: Callable[[int], Sequence[Mapping[str, Any]]],
    tell: Callable[[Sequence[Mapping[str, Any]], Sequence[CostResult | CandidateError]], None],
    generations: int,
    population: int,
) -> Iterator[list[CostResult | CandidateError]]:
    """Drive any population-based engine: each generation ``ask(population)`` returns samples,
    hwsim costs them in one :meth:`Objective.cost_many` call, ``tell(samples, results)``
    receives a :class:`CostResult` or the :class:`CandidateError` of each. Yields each
    generation's results. Works without Optuna or pymoo."""
    for _ in range(int(generations)):
        samples = list(ask(population))
        graphs: list[OpGraph | CandidateError] = []
        for s in samples:
            try:
                graphs.append(space.to_graph(s))
            except CandidateError as exc:
                graphs.append(exc)
        ok = [g for g in graphs if isinstance(g, OpGraph)]
        costed = iter(objective.cost_many(ok, errors="return"))
        results: list[CostResult | CandidateError] = [next(costed) if isinstance(g, OpGraph) else g for g in graphs]
        tell(samples, results)
        yield results


def random_ask(space: SearchSpace, seed: int | None = None) -> Callable[[int], list[dict[str, Any]]]:
    """An ``ask`` for :func:`ask_tell` that samples uniformly (random search)."""
    import random

    rng = random.Random(seed)
    return lambda n: [space.sample_random(rng) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# pymoo
# ---------------------------------------------------------------------------------------------


def encode_space(space: SearchSpace) -> list[tuple[str, tuple[Any, ...]]]:
    """Integer encoding: each parameter becomes an index into its values (for pymoo)."""
    return [(p.name, p.values()) for p in space.parameters()]


def decode_vector(
    space: SearchSpace, x: Sequence[float], encoding: Sequence[tuple[str, tuple[Any, ...]]] | None = None
) -> dict[str, Any]:
    """The sample of an integer vector: every parameter decoded, then only those the
    architecture uses are kept (layer counts make the rest inactive)."""
    enc = encoding or encode_space(space)
    full = {name: vals[min(len(vals) - 1, max(0, int(round(float(xi)))))] for (name, vals), xi in zip(enc, x)}
    return space._walk(lambda spec: full[spec.name])


def pymoo_problem(space: SearchSpace, objective: Objective, cost_keys: Sequence[str]) -> Any:
    """A pymoo ``Problem`` (vectorised: a whole population per ``_evaluate``) minimising the
    given cost totals, with hwsim constraints as ``G`` (<= 0 feasible). Candidates hwsim cannot
    cost get ``F = inf`` *and* a violated constraint, which pymoo's constrained domination ranks
    behind every feasible point (pymoo has no per-individual failure state)."""
    try:
        import numpy as np
        from pymoo.core.problem import Problem
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise OptionalDependencyError("the pymoo adapter needs pymoo (pip install pymoo)") from exc

    enc = encode_space(space)
    n_con = len(objective.constraint_list)

    class HwsimProblem(Problem):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(
                n_var=len(enc), n_obj=len(cost_keys), n_ieq_constr=n_con + 1, xl=0, xu=[len(v) - 1 for _, v in enc], vtype=int
            )

        def _evaluate(self, X: Any, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            F = np.full((len(X), len(cost_keys)), np.inf)
            G = np.zeros((len(X), n_con + 1))
            for i, x in enumerate(X):
                try:
                    r = objective.cost(space.to_graph(decode_vector(space, x, enc)))
                except CandidateError:
                    G[i, :] = 1.0
                    continue
                F[i] = [r[k] for k in cost_keys]
                G[i, :n_con] = list(r.constraints.values())
                G[i, n_con] = -1.0
            out["F"], out["G"] = F, G

    return HwsimProblem()
