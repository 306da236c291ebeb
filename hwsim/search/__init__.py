"""hwsim as the objective of neural-architecture search.

* :mod:`hwsim.search.objective` — :func:`cost`, :func:`cost_many`, :class:`Objective`,
  :class:`Constraint`, :class:`CostResult`, typed candidate errors;
* :mod:`hwsim.search.spaces` — search spaces as YAML data (``spaces/*.yaml``), sampled from an
  Optuna trial or a dict, built as an OpGraph and a PyTorch module;
* :mod:`hwsim.search.adapters` — Optuna objective, plain ask/tell loop, pymoo problem;
* :mod:`hwsim.search.runner` — the ``hwsim search`` engine (NSGA-II, shared storage, resume);
* :mod:`hwsim.search.vectorized` — Deep Sets costs vectorised over a population.

Optuna, torch and matplotlib are imported only by the functions that need them.
"""

from __future__ import annotations

from hwsim.search.objective import (
    CandidateError,
    Constraint,
    CostResult,
    InfeasibleCandidate,
    Metric,
    Objective,
    UnsupportedCandidate,
    cost,
    cost_many,
)
from hwsim.search.spaces import SearchSpace, load_space

__all__ = [
    "CandidateError",
    "Constraint",
    "CostResult",
    "InfeasibleCandidate",
    "Metric",
    "Objective",
    "SearchSpace",
    "UnsupportedCandidate",
    "cost",
    "cost_many",
    "load_space",
]
