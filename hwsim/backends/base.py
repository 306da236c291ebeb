"""The backend protocol, the result types and the registry.

A backend declares its ``name``, the op kinds it ``claims``, whether it ``supports(op)``
(with a reason when not), costs one op (``estimate``), composes the graph (``aggregate``),
lists the features calibration fits (``features``), and provides ``default_params()``.
Backends register through the entry-point group ``hwsim.backends`` and load lazily.

Every parameter value carries its source (:class:`Param`): a paper, a datasheet, a fit, a
stated assumption, or "user" when it came from ``--config``/``--set``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from hwsim.errors import BackendError, ConfigError
from hwsim.ir import Op, OpGraph

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

ENTRY_POINT_GROUP = "hwsim.backends"


# ---------------------------------------------------------------------------------------------
# Parameters with provenance
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter value with its source (and optional unit / description)."""

    value: Any
    source: str
    unit: str = ""
    doc: str = ""

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": _jsonable(self.value), "source": self.source}
        if self.unit:
            d["unit"] = self.unit
        if self.doc:
            d["doc"] = self.doc
        return d


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item") and callable(v.item):  # numpy scalar
        return v.item()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


class Params(Mapping[str, Param]):
    """An immutable mapping of parameter name -> :class:`Param`."""

    __slots__ = ("_d",)

    def __init__(self, items: Mapping[str, Param] | None = None) -> None:
        self._d: dict[str, Param] = dict(items or {})

    def __getitem__(self, key: str) -> Param:
        return self._d[key]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def value(self, key: str, default: Any = None) -> Any:
        p = self._d.get(key)
        return default if p is None else p.value

    def updated(self, changes: Mapping[str, Param]) -> Params:
        d = dict(self._d)
        d.update(changes)
        return Params(d)

    def to_json(self) -> dict[str, Any]:
        return {k: p.to_json() for k, p in self._d.items()}

    def __repr__(self) -> str:
        return f"Params({ {k: p.value for k, p in self._d.items()} })"


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Support:
    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


SUPPORTED = Support(True)


@dataclass(frozen=True, slots=True)
class OpCost:
    """The cost of one op: named values (SI units or named counts) and notes.

    ``values`` keys use the contract's names: ``latency_cycles``, ``ii_cycles``, ``DSP``,
    ``LUT``, ``FF``, ``BRAM_18K``, ``latency_s``, ``energy_j``, ``power_w``, ``tiles``,
    ``bops``, ``macs``, ``params``... ``info`` holds non-numeric per-layer facts (strategy,
    reuse factor after snapping, the unit an op runs on, the bound it hit).
    """

    name: str
    op: str
    values: Mapping[str, float]
    info: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def row(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "op": self.op}
        d.update({k: _jsonable(v) for k, v in self.info.items()})
        d.update({k: _jsonable(v) for k, v in self.values.items()})
        return d


@dataclass(frozen=True)
class Estimate:
    """The result of costing a graph on a backend (the JSON contract of DESIGN.md)."""

    backend: str
    model: str
    totals: Mapping[str, Any]
    layers: tuple[Mapping[str, Any], ...]
    unsupported: tuple[Mapping[str, Any], ...] = ()
    params: Params = field(default_factory=Params)
    warnings: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    fingerprint: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "backend": self.backend,
            "model": self.model,
            "fingerprint": self.fingerprint,
            "totals": {k: _jsonable(v) for k, v in self.totals.items()},
            "layers": [{k: _jsonable(v) for k, v in row.items()} for row in self.layers],
            "unsupported": [dict(u) for u in self.unsupported],
            "params": self.params.to_json(),
            "warnings": list(self.warnings),
        }
        for k, v in self.extra.items():
            d[k] = _jsonable(v)
        return d

    def to_dataframe(self) -> pd.DataFrame:
        """One row per layer (pandas is imported here, not at start-up)."""
        import pandas as pd

        return pd.DataFrame([dict(r) for r in self.layers])

    def __getitem__(self, key: str) -> Any:
        return self.totals[key]


def unsupported_entry(op: Op, reason: str) -> dict[str, str]:
    return {
        "name": op.name,
        "op": op.kind + (f":{op.function}" if op.function else ""),
        "origin": ",".join(op.origin),
        "reason": reason,
    }


# ---------------------------------------------------------------------------------------------
# Protocol
# ---------------------------------------------------------------------------------------------


@runtime_checkable
class Backend(Protocol):
    """What every backend provides. See the module docstring."""

    name: ClassVar[str]
    description: ClassVar[str]
    claims: ClassVar[frozenset[str]]
    totals_keys: ClassVar[tuple[str, ...]]

    def default_params(self) -> Params: ...

    def resolve_params(
        self, config: Mapping[str, Any] | None, overrides: Mapping[str, str], profile: Mapping[str, Any] | None = None
    ) -> Params: ...

    def prepare(self, graph: OpGraph, params: Params) -> OpGraph: ...

    def supports(self, op: Op) -> Support: ...

    def estimate(self, op: Op, params: Params) -> OpCost: ...

    def aggregate(self, graph: OpGraph, costs: Sequence[OpCost], params: Params) -> Estimate: ...

    def features(self, op: Op, params: Params) -> Mapping[str, float]: ...


class BackendBase:
    """Shared behaviour: override what differs. ``resolve_params`` validates ``--set`` keys
    against ``default_params()`` and converts values to the default's type."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    claims: ClassVar[frozenset[str]] = frozenset()
    totals_keys: ClassVar[tuple[str, ...]] = ()
    # passes (names in hwsim.passes.PASSES) the backend wants before costing
    passes: ClassVar[tuple[str, ...]] = ()

    def default_params(self) -> Params:
        return Params()

    def resolve_params(
        self, config: Mapping[str, Any] | None, overrides: Mapping[str, str], profile: Mapping[str, Any] | None = None
    ) -> Params:
        """defaults <- profile constants <- config <- ``--set`` overrides.

        ``profile`` is a calibration profile (see ``hwsim.calibration.profile``): its
        ``constants`` mapping replaces parameters of the same name, each tagged with the
        profile's id as source.
        """
        params = self.default_params()
        changes: dict[str, Param] = {}
        if profile:
            pid = str(profile.get("id") or profile.get("path") or "profile")
            for key, raw in dict(profile.get("constants", {})).items():
                if key not in params:
                    raise ConfigError(f"profile {pid}: constant {key!r} is not a parameter of backend {self.name!r}")
                value = raw.get("value") if isinstance(raw, Mapping) else raw
                changes[key] = Param(
                    coerce_like(params[key].value, value, key), f"fit (profile {pid})", params[key].unit, params[key].doc
                )
        params = params.updated(changes)
        changes = {}
        for source, mapping in (("config", config or {}), ("--set", overrides)):
            for key, raw in mapping.items():
                if key not in params:
                    known = ", ".join(sorted(params)) or "none"
                    raise ConfigError(f"unknown option {key!r} for backend {self.name!r} (known: {known})")
                changes[key] = Param(
                    coerce_like(params[key].value, raw, key), f"user ({source})", params[key].unit, params[key].doc
                )
        return params.updated(changes)

    def prepare(self, graph: OpGraph, params: Params) -> OpGraph:
        from hwsim.passes import run_passes

        return run_passes(graph, self.passes).graph

    def supports(self, op: Op) -> Support:
        if op.kind in self.claims:
            return SUPPORTED
        return Support(False, f"the {self.name} backend does not cost {op.kind} ops")

    def features(self, op: Op, params: Params) -> Mapping[str, float]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "claims": sorted(self.claims),
            "totals": list(self.totals_keys),
            "options": {
                k: {"default": _jsonable(p.value), "unit": p.unit, "doc": p.doc} for k, p in self.default_params().items()
            },
        }


def coerce_like(default: Any, raw: Any, key: str) -> Any:
    """Convert ``raw`` (often a string from ``--set``) to the type of ``default``."""
    if not isinstance(raw, str):
        if isinstance(default, bool) and not isinstance(raw, bool):
            raise ConfigError(f"option {key!r}: expected true/false, got {raw!r}")
        if (
            isinstance(default, (int, float))
            and not isinstance(default, bool)
            and isinstance(raw, (int, float))
            and not isinstance(raw, bool)
        ):
            if isinstance(default, int) and isinstance(raw, float) and not raw.is_integer():
                raise ConfigError(f"option {key!r}: expected an integer, got {raw!r}")
            return type(default)(raw)
        return raw
    text = raw.strip()
    try:
        if isinstance(default, bool):
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            v = float(text)
            if not math.isfinite(v):
                raise ValueError(text)
            return v
        if isinstance(default, (list, tuple)):
            return [s.strip() for s in text.split(",") if s.strip()]
    except ValueError:
        kind = type(default).__name__
        raise ConfigError(f"option {key!r}: cannot read {raw!r} as {kind}") from None
    return text


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

_BUILTIN = {
    "bops": "hwsim.backends.bops:BopsBackend",
    "fpga": "hwsim.backends.fpga:FpgaBackend",
    "aimc": "hwsim.backends.aimc:AimcBackend",
    "cpu": "hwsim.backends.cpugpu:CpuBackend",
    "gpu": "hwsim.backends.cpugpu:GpuBackend",
}
_cache: dict[str, Backend] = {}


def _entry_point_targets() -> dict[str, str]:
    targets: dict[str, str] = {}
    try:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            targets[ep.name] = ep.value
    except Exception:  # pragma: no cover - broken metadata must not stop the built-ins
        pass
    return targets


def available_backends() -> list[str]:
    """Names of the registered backends (entry points, falling back to the built-ins when
    the package runs from a source tree without installed metadata)."""
    names = set(_entry_point_targets()) or set(_BUILTIN)
    return sorted(names)


def get_backend(name: str) -> Backend:
    """Load (once) and return the backend registered under ``name``."""
    if name in _cache:
        return _cache[name]
    targets = _entry_point_targets() or dict(_BUILTIN)
    target = targets.get(name)
    if target is None:
        raise BackendError(f"unknown backend {name!r} (registered: {', '.join(sorted(targets))})")
    module_name, _, attr = target.partition(":")
    import importlib

    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise BackendError(f"backend {name!r} ({target}) cannot be loaded: {exc}") from exc
    backend: Backend = cls()
    _cache[name] = backend
    return backend
