"""The Python API: lower a model, cost it on a backend.

>>> import hwsim
>>> est = hwsim.estimate("jet-mlp", backend="bops")
>>> est.totals["bops"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hwsim.backends.base import Backend, Estimate, OpCost, Param, Params, get_backend, unsupported_entry
from hwsim.errors import UnsupportedOpError
from hwsim.ir import OpGraph

log = logging.getLogger(__name__)


def lower(model: Any, example_input: Any = None, **kwargs: Any) -> OpGraph:
    """Lower a model to an :class:`OpGraph` without passes.

    ``model`` is an ``OpGraph`` (returned as is), a path to an ``.onnx`` file, the name of a
    bundled zoo model, an ``onnx.ModelProto``, or a ``torch.nn.Module`` (then
    ``example_input`` is required).
    """
    from hwsim.frontends import load_model

    return load_model(model, example_input=example_input, **kwargs)


def resolve(
    backend: str | Backend,
    config: Mapping[str, Any] | None = None,
    overrides: Mapping[str, str] | None = None,
    profile: Mapping[str, Any] | None = None,
) -> tuple[Backend, Params]:
    """The backend object and its resolved parameters (defaults <- profile <- config <- overrides)."""
    be = get_backend(backend) if isinstance(backend, str) else backend
    return be, be.resolve_params(config, dict(overrides or {}), profile)


def cost_graph(graph: OpGraph, backend: Backend, params: Params, strict: bool = False, prepared: bool = False) -> Estimate:
    """Cost an already lowered graph. Pure and deterministic, no I/O.

    Unsupported ops are listed in ``Estimate.unsupported`` (never costed as zero silently);
    in ``strict`` mode the first one raises :class:`UnsupportedOpError`.
    """
    if strict and "strict_fit" in params and not params.value("strict_fit"):
        # --strict also means "fail instead of time-multiplexing" for backends that can overflow
        params = params.updated(
            {"strict_fit": Param(True, "user (--strict)", params["strict_fit"].unit, params["strict_fit"].doc)}
        )
    g = graph if prepared else backend.prepare(graph, params)
    costs: list[OpCost] = []
    unsupported: list[dict[str, str]] = []
    for op in g.ops():
        sup = backend.supports(op)
        if not sup.ok:
            if strict:
                raise UnsupportedOpError(
                    f"op {op.name!r} ({op.kind}{':' + op.function if op.function else ''}, from node {','.join(op.origin) or op.name}) is not supported by the {backend.name} backend: {sup.reason}"
                )
            unsupported.append(unsupported_entry(op, sup.reason))
            continue
        costs.append(backend.estimate(op, params))
    est = backend.aggregate(g, costs, params)
    if unsupported:
        est = Estimate(
            backend=est.backend,
            model=est.model,
            totals=est.totals,
            layers=est.layers,
            unsupported=tuple(est.unsupported) + tuple(unsupported),
            params=est.params,
            warnings=tuple(est.warnings) + (f"{len(unsupported)} op(s) not costed by {backend.name}: totals exclude them",),
            extra=est.extra,
            fingerprint=est.fingerprint,
        )
    return est


def estimate(
    model: Any,
    backend: str | Backend = "bops",
    config: Mapping[str, Any] | None = None,
    overrides: Mapping[str, str] | None = None,
    strict: bool = False,
    example_input: Any = None,
    profile: Mapping[str, Any] | None = None,
) -> Estimate:
    """Lower ``model`` and cost it on ``backend``.

    ``config`` is the backend's configuration (for fpga: an hls4ml configuration dict);
    ``overrides`` are ``--set KEY=VALUE`` pairs. Raises :class:`hwsim.errors.HwsimError`
    subclasses on bad input.
    """
    graph = model if isinstance(model, OpGraph) else lower(model, example_input=example_input, strict=strict)
    be, params = resolve(backend, config, overrides, profile)
    return cost_graph(graph, be, params, strict=strict)
