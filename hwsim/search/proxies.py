"""Task metrics for searches: a user's training function, or a clearly labelled cheap PROXY.

A real search trains every candidate on the task's data (nac-opt: minutes per trial on a GPU);
pass it as ``--train module:function``, a function ``function(module, sample) -> float`` that
receives the candidate's ``torch.nn.Module`` and its sample dict and returns the task metric
(in the space's direction: accuracy maximised, mean distance minimised).

Without it, hwsim offers two proxies for demos and tests. They are NOT task metrics and every
output names them as proxies:

* ``capacity`` — ``log10(trainable parameters)``, maximised: more capacity is assumed better.
  It costs nothing and says nothing about the task.
* ``synthetic`` — a short training (``steps`` Adam steps, batch 256) of the candidate on a
  synthetic *teacher* task with the space's input shape: inputs ~ N(0, 1); for classification
  spaces, labels = argmax of a fixed random 2-layer teacher MLP (5 classes unless the space's
  output says otherwise); for regression, the teacher's outputs. Returns held-out accuracy
  (classification, maximised) or held-out mean squared error (regression, minimised). Fixed
  seeds: the same candidate gets the same proxy value.
"""

from __future__ import annotations

import importlib
import logging
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.errors import ConfigError
from hwsim.ir import OpGraph
from hwsim.search.spaces import SearchSpace

log = logging.getLogger(__name__)

PROXIES = ("capacity", "synthetic")


@dataclass(frozen=True)
class TaskMetric:
    """A task-metric function with its label: ``name`` (column/axis name), ``direction``,
    ``kind`` ("user" or "proxy") and a one-line ``description`` written into every output."""

    name: str
    direction: str
    kind: str
    description: str
    fn: Callable[[SearchSpace, Mapping[str, Any], OpGraph], float]

    def __call__(self, space: SearchSpace, sample: Mapping[str, Any], graph: OpGraph) -> float:
        return self.fn(space, sample, graph)

    @property
    def is_proxy(self) -> bool:
        return self.kind == "proxy"


def capacity_proxy(space: SearchSpace) -> TaskMetric:
    return TaskMetric(
        "capacity_proxy",
        "maximize",
        "proxy",
        "PROXY, not a task metric: log10(trainable parameters)",
        lambda sp, s, g: math.log10(max(1, g.n_params)),
    )


def synthetic_proxy(space: SearchSpace, steps: int = 60, seed: int = 0) -> TaskMetric:
    cache: dict[str, float] = {}
    data: dict[str, Any] = {}

    def make_data() -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        n_in = math.prod(space.input_shape)
        x = torch.randn((4096, *space.input_shape), generator=g)
        probe = space.to_torch(space.sample_random(seed))
        with torch.no_grad():
            n_out = int(probe(torch.zeros((2, *space.input_shape))).shape[-1])
        w1 = torch.randn((n_in, 32), generator=g) / math.sqrt(n_in)
        w2 = torch.randn((32, n_out), generator=g) / math.sqrt(32)
        # a permutation-invariant teacher when the space aggregates over rows (Deep Sets)
        if len(space.input_shape) == 2 and any(b.type == "aggregate" for b in space.blocks):
            w1 = torch.randn((space.input_shape[-1], 32), generator=g) / math.sqrt(space.input_shape[-1])
            y = torch.relu(x @ w1).mean(dim=1) @ w2
        else:
            y = torch.relu(x.reshape(len(x), -1) @ w1) @ w2
        # standardise the teacher's outputs per class: balanced classes (an argmax of raw
        # random logits is dominated by one or two classes)
        y = (y - y.mean(dim=0)) / (y.std(dim=0) + 1e-9)
        data.update(x=x, y=y.argmax(dim=1) if space.task_kind == "classification" else y, n_out=n_out)

    def fn(sp: SearchSpace, sample: Mapping[str, Any], graph: OpGraph) -> float:
        key = graph.fingerprint()
        if key in cache:
            return cache[key]
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny models: one thread is fastest and leaves the others free
        try:
            return _train(sp, sample, key)
        finally:
            torch.set_num_threads(threads)

    def _train(sp: SearchSpace, sample: Mapping[str, Any], key: str) -> float:
        import torch

        if not data:
            make_data()
        torch.manual_seed(seed)
        model = sp.to_torch(dict(sample))
        x, y = data["x"], data["y"]
        xtr, ytr, xte, yte = x[:3072], y[:3072], x[3072:], y[3072:]
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        loss_fn = torch.nn.CrossEntropyLoss() if sp.task_kind == "classification" else torch.nn.MSELoss()
        g = torch.Generator().manual_seed(seed + 1)
        model.train()
        for _ in range(steps):
            idx = torch.randint(0, len(xtr), (256,), generator=g)
            opt.zero_grad()
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            out = model(xte)
            value = (
                float((out.argmax(dim=1) == yte).float().mean()) if sp.task_kind == "classification" else float(loss_fn(out, yte))
            )
        cache[key] = value
        return value

    if space.task_kind == "classification":
        return TaskMetric(
            "synthetic_proxy_accuracy",
            "maximize",
            "proxy",
            f"PROXY, not a task metric: accuracy on a synthetic random-teacher task after {steps} Adam steps",
            fn,
        )
    return TaskMetric(
        "synthetic_proxy_mse",
        "minimize",
        "proxy",
        f"PROXY, not a task metric: MSE on a synthetic random-teacher regression after {steps} Adam steps",
        fn,
    )


def user_metric(entry: str, space: SearchSpace) -> TaskMetric:
    """``module:function`` -> a :class:`TaskMetric` calling ``function(torch_module, sample)``.
    The current directory is importable (``--train mytrain:train`` finds ./mytrain.py)."""
    mod_name, sep, attr = entry.partition(":")
    if not sep or not mod_name or not attr:
        raise ConfigError(f"--train {entry!r}: expected module:function")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ConfigError(f"--train {entry!r}: cannot import {mod_name!r}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"--train {entry!r}: {mod_name!r} has no function {attr!r}")

    def call(sp: SearchSpace, sample: Mapping[str, Any], graph: OpGraph) -> float:
        return float(fn(sp.to_torch(dict(sample)), dict(sample)))

    return TaskMetric(space.metric, space.direction, "user", f"{space.metric} from the user's training function {entry}", call)


def task_metric(
    space: SearchSpace, train: str | None = None, proxy: str = "capacity", proxy_steps: int = 60, seed: int = 0
) -> TaskMetric:
    if train:
        return user_metric(train, space)
    if proxy == "capacity":
        return capacity_proxy(space)
    if proxy == "synthetic":
        return synthetic_proxy(space, steps=proxy_steps, seed=seed)
    raise ConfigError(f"--proxy {proxy!r}: expected one of {', '.join(PROXIES)}")
