"""The hls4ml configuration the fpga backend reads (an hls4ml ``HLSConfig`` dict).

Accepted exactly as ``hls4ml.utils.config_from_pytorch_model`` / ``config_from_onnx_model``
write it, plus the top-level keys hls4ml's converters take as arguments::

    Model:     {Precision: str | {default, weight, bias, result, accum, maximum}, ReuseFactor,
                Strategy: Latency|Resource|resource_unrolled|distributed_arithmetic|DA,
                PipelineStyle (auto|pipeline|dataflow), ...}
    LayerName: {<name>: {Precision: str | {weight, bias, result, accum, ...},
                         ReuseFactor, Strategy, ParallelizationFactor, TableSize,
                         table_t, exp_table_t, inv_table_t, accum_t, ...}}
    LayerType: {<hls class>: {same keys as LayerName}}
    Part, ClockPeriod (ns), IOType (io_parallel|io_stream), Backend (Vivado|Vitis)

As in hls4ml 1.3.0, activation table types come only from ``<type>_t`` keys of a layer entry
(``Precision: {table: ...}`` is not applied by hls4ml; the fpga plan warns when such an entry
differs from the 18,8 default). Unknown keys hls4ml would ignore (Trace, BramFactor, ...) are
kept and ignored. Invalid
values raise :class:`hwsim.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hwsim.errors import ConfigError

from .rules import FixedType

STRATEGIES = {
    "latency": "latency",
    "resource": "resource",
    "resource_unrolled": "resource_unrolled",
    "distributed_arithmetic": "distributed_arithmetic",
    "da": "distributed_arithmetic",
}
IO_TYPES = ("io_parallel", "io_stream")
BACKENDS = {"vivado": "Vivado", "vitis": "Vitis"}
PIPELINE_STYLES = ("auto", "pipeline", "dataflow")
TOP_KEYS = {
    "Model",
    "LayerName",
    "LayerType",
    "Part",
    "ClockPeriod",
    "IOType",
    "Backend",
    "InputShape",
    "OutputDir",
    "ProjectName",
    "PytorchModel",
    "OnnxModel",
    "KerasModel",
    "HLSConfig",
    "ClockUncertainty",
    "InputData",
    "OutputPredictions",
    "Version",
}


def _norm(name: str) -> str:
    """Normalise a layer name for matching: lower case, runs of non-alphanumerics -> '_',
    no leading/trailing '_'."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()


def parse_precision(value: Any, key: str) -> str:
    """Validate one precision string ('auto' allowed); return it unchanged."""
    if not isinstance(value, str):
        raise ConfigError(f"{key}: precision must be a string like 'ap_fixed<16,6>' or 'auto', got {value!r}")
    if value.strip().lower() == "auto":
        return "auto"
    try:
        FixedType.parse(value)
    except ValueError:
        raise ConfigError(
            f"{key}: cannot read precision {value!r} (expected ap_fixed<W,I>, ap_int<W>, fixed<W,I,...>, float or auto)"
        ) from None
    return value.strip()


def _positive_int(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a positive integer, got {value!r}")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a positive integer, got {value!r}") from None
    if not f.is_integer() or f < 1:
        raise ConfigError(f"{key}: expected a positive integer, got {value!r}")
    return int(f)


def _strategy(value: Any, key: str) -> str:
    s = str(value).strip().lower()
    if s not in STRATEGIES:
        raise ConfigError(f"{key}: unknown strategy {value!r} (Latency, Resource, resource_unrolled, distributed_arithmetic)")
    return STRATEGIES[s]


@dataclass(frozen=True)
class LayerConfig:
    """The per-layer (or per-type) keys the cost model uses; None = not set here."""

    precision: Mapping[str, str] = field(default_factory=dict)
    reuse_factor: int | None = None
    strategy: str | None = None
    parallelization_factor: int | None = None
    table_size: int | None = None
    #: type attributes set directly by ``<name>_t`` keys (``table_t: ap_fixed<12,4>``): hls4ml
    #: applies them after the accum type and before the attribute defaults, so they set the
    #: accum and the (exp/inv) table types; ``Precision: {table: ...}`` is ignored by hls4ml 1.3.0
    types: Mapping[str, str] = field(default_factory=dict)


def _layer_config(d: Any, where: str) -> LayerConfig:
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(d).__name__}")
    prec: dict[str, str] = {}
    p = d.get("Precision")
    if isinstance(p, str):
        # a plain string sets every type of the layer (hls4ml: weight, bias, result, accum...)
        prec["*"] = parse_precision(p, f"{where}.Precision")
    elif isinstance(p, Mapping):
        for k, v in p.items():
            prec[str(k)] = parse_precision(v, f"{where}.Precision.{k}")
    elif p is not None:
        raise ConfigError(f"{where}.Precision: expected a string or a mapping, got {p!r}")
    rf = _positive_int(d["ReuseFactor"], f"{where}.ReuseFactor") if "ReuseFactor" in d else None
    st = _strategy(d["Strategy"], f"{where}.Strategy") if "Strategy" in d else None
    pf = _positive_int(d["ParallelizationFactor"], f"{where}.ParallelizationFactor") if "ParallelizationFactor" in d else None
    ts = _positive_int(d["TableSize"], f"{where}.TableSize") if "TableSize" in d else None
    types = {
        str(k)[:-2]: parse_precision(v, f"{where}.{k}") for k, v in d.items() if str(k).endswith("_t") and isinstance(v, str)
    }
    return LayerConfig(prec, rf, st, pf, ts, types)


@dataclass(frozen=True)
class FpgaConfig:
    """A validated hls4ml configuration."""

    default_precision: str = "ap_fixed<16,6>"
    model_precision: Mapping[str, str] = field(default_factory=dict)  # weight/bias/result/accum/maximum at Model level
    reuse_factor: int = 1
    strategy: str = "latency"
    pipeline_style: str = "auto"
    io_type: str = "io_parallel"
    part: str = "xcvu13p-flga2577-2-e"
    clock_period_ns: float = 5.0
    backend: str = "Vitis"
    layer_name: Mapping[str, LayerConfig] = field(default_factory=dict)
    layer_type: Mapping[str, LayerConfig] = field(default_factory=dict)
    auto_types: bool = True  # no config given: hls4ml's granularity='name' default ('auto' types)
    channels_last_conversion: str = "off"  # Model.ChannelsLastConversion (hls4ml: 'off' when absent)
    #: where an 'auto'/default weight type comes from: "hls4ml" = quantizer precisions of the IR
    #: only (value-inferred binary/ternary weights of a float model are ignored, as hls4ml
    #: ignores them); "ir" = every non-float weight precision the IR carries (the design you
    #: get after writing that precision into the hls4ml config). ``--set weight_types=ir``.
    weight_types: str = "hls4ml"

    def lookup(self, names: tuple[str, ...], hls_class: str) -> tuple[LayerConfig | None, LayerConfig | None]:
        """(LayerName entry, LayerType entry) for a layer known under any of ``names``."""
        memo = self.__dict__.setdefault("_lookup_memo", {})
        hit: tuple[LayerConfig | None, LayerConfig | None] | None = memo.get((names, hls_class))
        if hit is not None:
            return hit
        res = self._lookup(names, hls_class)
        if len(memo) < 100000:
            memo[(names, hls_class)] = res
        return res

    def _lookup(self, names: tuple[str, ...], hls_class: str) -> tuple[LayerConfig | None, LayerConfig | None]:
        by_norm = self.__dict__.get("_by_norm")
        if by_norm is None:
            by_norm = {_norm(k): v for k, v in self.layer_name.items()}
            self.__dict__["_by_norm"] = by_norm
        ln = None
        for n in names:
            if n in self.layer_name:
                ln = self.layer_name[n]
                break
            v = by_norm.get(_norm(n))
            if v is not None:
                ln = v
                break
        lt = self.layer_type.get(hls_class)
        if lt is None:
            for k, v in self.layer_type.items():
                if k.lower() == hls_class.lower():
                    lt = v
                    break
        return ln, lt


def parse_config(cfg: Mapping[str, Any] | None) -> FpgaConfig:
    """Validate an hls4ml configuration dict (see the module docstring)."""
    if cfg is None or not cfg:
        return FpgaConfig()
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"fpga configuration: expected a mapping (an hls4ml config), got {type(cfg).__name__}")
    for k in cfg:
        if k not in TOP_KEYS:
            raise ConfigError(f"unknown key {k!r} in the hls4ml configuration (known: {', '.join(sorted(TOP_KEYS))})")
    kw: dict[str, Any] = {}
    model = cfg.get("Model", {})
    if model is None:
        model = {}
    if not isinstance(model, Mapping):
        raise ConfigError(f"Model: expected a mapping, got {model!r}")
    p = model.get("Precision")
    mp: dict[str, str] = {}
    if isinstance(p, str):
        kw["default_precision"] = parse_precision(p, "Model.Precision")
    elif isinstance(p, Mapping):
        for k, v in p.items():
            val = parse_precision(v, f"Model.Precision.{k}")
            if k == "default":
                if val == "auto":
                    raise ConfigError("Model.Precision.default: the default precision cannot be 'auto'")
                kw["default_precision"] = val
            else:
                mp[str(k)] = val
    elif p is not None:
        raise ConfigError(f"Model.Precision: expected a string or a mapping, got {p!r}")
    kw["model_precision"] = mp
    if "ReuseFactor" in model:
        kw["reuse_factor"] = _positive_int(model["ReuseFactor"], "Model.ReuseFactor")
    if "Strategy" in model:
        kw["strategy"] = _strategy(model["Strategy"], "Model.Strategy")
    if "ChannelsLastConversion" in model:
        clc = str(model["ChannelsLastConversion"]).strip().lower()
        if clc not in ("full", "internal", "off"):
            raise ConfigError(
                f"Model.ChannelsLastConversion: expected full, internal or off, got {model['ChannelsLastConversion']!r}"
            )
        kw["channels_last_conversion"] = clc
    if "PipelineStyle" in model:
        ps = str(model["PipelineStyle"]).lower()
        kw["pipeline_style"] = ps  # invalid values: hls4ml warns and uses auto (rules.pipeline_style)
    if "IOType" in cfg:
        io = str(cfg["IOType"]).strip().lower()
        if io not in IO_TYPES:
            raise ConfigError(f"IOType: expected io_parallel or io_stream, got {cfg['IOType']!r}")
        kw["io_type"] = io
    if "Part" in cfg:
        kw["part"] = str(cfg["Part"]).strip()
    if "ClockPeriod" in cfg:
        try:
            cp = float(cfg["ClockPeriod"])
        except (TypeError, ValueError):
            raise ConfigError(f"ClockPeriod: expected a number of ns, got {cfg['ClockPeriod']!r}") from None
        if not cp > 0 or cp != cp or cp == float("inf"):
            raise ConfigError(f"ClockPeriod: expected a positive number of ns, got {cfg['ClockPeriod']!r}")
        kw["clock_period_ns"] = cp
    if "Backend" in cfg:
        b = str(cfg["Backend"]).strip().lower()
        if b not in BACKENDS:
            raise ConfigError(f"Backend: expected Vivado or Vitis, got {cfg['Backend']!r}")
        kw["backend"] = BACKENDS[b]
    ln = cfg.get("LayerName") or {}
    lt = cfg.get("LayerType") or {}
    if not isinstance(ln, Mapping):
        raise ConfigError("LayerName: expected a mapping of layer name -> settings")
    if not isinstance(lt, Mapping):
        raise ConfigError("LayerType: expected a mapping of layer class -> settings")
    kw["layer_name"] = {str(k): _layer_config(v, f"LayerName.{k}") for k, v in ln.items()}
    kw["layer_type"] = {str(k): _layer_config(v, f"LayerType.{k}") for k, v in lt.items()}
    kw["auto_types"] = False  # hls4ml: types not set anywhere use the Model default
    return FpgaConfig(**kw)


# ---------------------------------------------------------------------------------------------
# --set shortcuts
# ---------------------------------------------------------------------------------------------

SHORTCUTS = (
    "reuse_factor",
    "strategy",
    "precision",
    "io_type",
    "part",
    "clock_period_ns",
    "backend",
    "pipeline_style",
    "weight_types",
)
WEIGHT_TYPES = ("hls4ml", "ir")


def parse_weight_types(value: Any) -> str:
    """Validate the ``weight_types`` option (hls4ml | ir)."""
    v = str(value).strip().lower()
    if v not in WEIGHT_TYPES:
        raise ConfigError(f"weight_types: expected hls4ml or ir, got {value!r}")
    return v


def apply_shortcuts(cfg: Mapping[str, Any] | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Apply ``--set`` shortcuts to an hls4ml config dict (a deep copy is returned).

    ``reuse_factor``/``strategy`` set the Model value and every LayerName/LayerType entry
    that sets its own (so the shortcut takes effect everywhere, as a user expects);
    ``precision`` sets the Model default and replaces explicit (non-'auto') weight/bias
    precisions of LayerName entries; ``io_type``, ``part``, ``clock_period_ns``, ``backend``
    set the top-level keys; ``pipeline_style`` sets Model.PipelineStyle; ``weight_types``
    is not an hls4ml key (validated here, applied by the backend to :class:`FpgaConfig`).
    """
    out: dict[str, Any] = copy.deepcopy(dict(cfg)) if cfg else {}
    if not overrides:
        return out
    model = out.setdefault("Model", {})
    if "Precision" not in model and not cfg:
        pass
    for key, raw in overrides.items():
        if key == "reuse_factor":
            rf = _positive_int(raw, "reuse_factor")
            model["ReuseFactor"] = rf
            for sec in ("LayerName", "LayerType"):
                for entry in (out.get(sec) or {}).values():
                    if isinstance(entry, dict) and "ReuseFactor" in entry:
                        entry["ReuseFactor"] = rf
        elif key == "strategy":
            st = _strategy(raw, "strategy")
            model["Strategy"] = {"latency": "Latency", "resource": "Resource"}.get(st, st)
            for sec in ("LayerName", "LayerType"):
                for entry in (out.get(sec) or {}).values():
                    if isinstance(entry, dict) and "Strategy" in entry:
                        entry["Strategy"] = model["Strategy"]
        elif key == "precision":
            prec = parse_precision(str(raw), "precision")
            if prec == "auto":
                raise ConfigError("precision: the default precision cannot be 'auto'")
            mp = model.get("Precision")
            if isinstance(mp, dict):
                mp["default"] = prec
            else:
                model["Precision"] = {"default": prec} if cfg else prec
            for entry in (out.get("LayerName") or {}).values():
                if isinstance(entry, dict):
                    p = entry.get("Precision")
                    if isinstance(p, dict):
                        for t in ("weight", "bias"):
                            if t in p and str(p[t]).lower() != "auto":
                                p[t] = prec
        elif key == "io_type":
            io = str(raw).strip().lower()
            if io not in IO_TYPES:
                raise ConfigError(f"io_type: expected io_parallel or io_stream, got {raw!r}")
            out["IOType"] = io
        elif key == "part":
            out["Part"] = str(raw).strip()
        elif key == "clock_period_ns":
            try:
                cp = float(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"clock_period_ns: expected a number of ns, got {raw!r}") from None
            if not cp > 0 or cp == float("inf"):
                raise ConfigError(f"clock_period_ns: expected a positive number of ns, got {raw!r}")
            out["ClockPeriod"] = cp
        elif key == "backend":
            b = str(raw).strip().lower()
            if b not in BACKENDS:
                raise ConfigError(f"backend: expected Vivado or Vitis, got {raw!r}")
            out["Backend"] = BACKENDS[b]
        elif key == "pipeline_style":
            ps = str(raw).strip().lower()
            if ps not in PIPELINE_STYLES:
                raise ConfigError(f"pipeline_style: expected auto, pipeline or dataflow, got {raw!r}")
            model["PipelineStyle"] = ps
        elif key == "weight_types":
            parse_weight_types(raw)  # not an hls4ml key: applied to FpgaConfig by the backend
        else:  # pragma: no cover - filtered by the caller
            raise ConfigError(f"unknown option {key!r}")
    return out
