"""The fpga backend: an analytical, per-layer model of what hls4ml 1.3.0 (Vivado/Vitis
backends) generates and what Vivado/Vitis HLS reports for it.

* :meth:`FpgaBackend.plan` — the hls4ml layers the graph becomes: class, n_in/n_out as the
  reuse-factor check sees them, requested and snapped reuse factor (hls4ml's own rule and
  warning text), strategy, ParallelizationFactor, multiplier limit, resolved precisions
  ('auto' inferred as hls4ml does) and the top-level pipeline style (``plan.py``).
* layers: Dense/Conv (incl. pointwise, depthwise), BatchNormalization/ApplyAlpha,
  activations, pooling, Merge, Concatenate, Reshape/Transpose, LayerNormalization
  ((sequence, features) inputs, io_parallel) and Einsum (a product of two activations,
  io_parallel + Latency; hls4ml builds it from torch.einsum only). GELU, LayerNorm over conv
  maps or vectors, and other ops are unsupported with the reason hls4ml lacks them.
* ``--set emulate_missing=true`` (opt-in, an assumption): GELU/erf are costed as a lookup-table
  activation exactly like hls4ml's sigmoid/tanh, and a LayerNorm over any axes as hls4ml's
  LayerNormalization algorithm with n = the normalised elements and rows = the rest. Each such
  row carries ``emulated: "<what hls4ml lacks>; costed as <what>"`` and the Estimate one
  warning naming them; :meth:`FpgaBackend.plan` (and so ``check-hls4ml``) still leaves them
  out as not buildable by hls4ml.
* DSP: with the weight values (``OpGraph.weights``) the constant multiplications on DSPs are
  counted (an integer, row info ``dsp_estimate: count (weights)``); without them it is the
  expectation over Glorot-uniform weights (``expected (no weights)``, may be fractional).
* cycles and DSP follow rules (exact where hls4ml/HLS are deterministic); LUT, FF and
  BRAM_18K are linear in named constants (:attr:`FpgaBackend.fittable`,
  :meth:`FpgaBackend.features`) that calibration fits; ``constants.json`` gives every
  constant's default and source, ``devices.json`` the parts.
* configuration = an hls4ml configuration dict (``hwsim.backends.fpga.config``), plus
  ``--set`` shortcuts ``reuse_factor, strategy, precision, io_type, part, clock_period_ns,
  backend, pipeline_style, weight_types`` and any constant by name.
* weight types: a layer's weight type is the one its config gives; where the config leaves it
  'auto' (or to the Model default), hls4ml takes it from a quantizer (QONNX Quant, Brevitas,
  HGQ) and otherwise uses the default precision: the binary/ternary type hwsim's ONNX frontend
  infers from the *values* of a float model's weights (BitNet exports) is then ignored, since
  hls4ml would build ``ap_fixed<16,6>`` multipliers for it (``weight_types=hls4ml``, default).
  To cost the ternary/binary design, give the layers ``Precision: {weight: ap_int<2>}``
  (hls4ml's ``weight_ternary`` product) in the config, or ``--set weight_types=ir``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any, ClassVar

from hwsim.backends.base import SUPPORTED, BackendBase, Estimate, OpCost, Param, Params, Support
from hwsim.errors import ConfigError
from hwsim.ir import BATCHNORM, Op, OpGraph

from . import model as _m
from .config import SHORTCUTS, FpgaConfig, apply_shortcuts, parse_config, parse_weight_types
from .plan import FpgaPlan, LayerPlan
from .rules import FixedType

log = logging.getLogger(__name__)

__all__ = ["FpgaBackend", "FpgaPlan", "LayerPlan", "load_devices", "load_constants"]

METRICS = ("LUT", "FF", "BRAM_18K")


@lru_cache(maxsize=1)
def load_devices() -> dict[str, Any]:
    """The part catalog (``devices.json``)."""
    data: dict[str, Any] = json.loads(resources.files(__package__).joinpath("devices.json").read_text())
    return data


@lru_cache(maxsize=1)
def load_constants() -> dict[str, Any]:
    """The constants (``constants.json``): {'rule': {...}, 'fit': {...}}."""
    data: dict[str, Any] = json.loads(resources.files(__package__).joinpath("constants.json").read_text())
    return data


def get_device(part: str) -> _m.Device:
    cat = load_devices()
    parts = cat["parts"]
    if part not in parts:
        raise ConfigError(
            f"Part: unknown FPGA part {part!r} (known: {', '.join(sorted(parts))}); add it to hwsim/backends/fpga/devices.json"
        )
    d = parts[part]
    dt = cat["dsp_types"][d["dsp_type"]]
    return _m.Device(
        part,
        d["family"],
        int(d["LUT"]),
        int(d["FF"]),
        int(d["DSP"]),
        int(d["BRAM_18K"]),
        int(d.get("URAM", 0)),
        d["dsp_type"],
        int(dt["a_bits"]),
        int(dt["b_bits"]),
    )


def _fittable() -> dict[str, list[str]]:
    fit = load_constants()["fit"]
    out: dict[str, list[str]] = {m: [] for m in METRICS}
    prefix = {"lut_": "LUT", "ff_": "FF", "bram_": "BRAM_18K"}
    for name in fit:
        for p, m in prefix.items():
            if name.startswith(p):
                out[m].append(name)
    return out


_OPTION_DEFAULTS: dict[str, tuple[Any, str, str]] = {
    "reuse_factor": (1, "", "Model.ReuseFactor (hls4ml default_reuse_factor=1)"),
    "strategy": ("Latency", "", "Model.Strategy: Latency | Resource | resource_unrolled | distributed_arithmetic"),
    "precision": ("ap_fixed<16,6>", "", "Model.Precision default (hls4ml default_precision)"),
    "io_type": ("io_parallel", "", "IOType: io_parallel | io_stream"),
    "part": ("xcvu13p-flga2577-2-e", "", "Part (Vitis backend default of hls4ml)"),
    "clock_period_ns": (5.0, "ns", "ClockPeriod (hls4ml default 5 ns)"),
    "backend": ("Vitis", "", "hls4ml backend: Vivado | Vitis"),
    "pipeline_style": ("auto", "", "Model.PipelineStyle: auto | pipeline | dataflow"),
    "weight_types": (
        "hls4ml",
        "",
        "weight type of layers whose config leaves it 'auto'/default: hls4ml = quantizer precisions only "
        "(as hls4ml: a float model's binary/ternary weights get the default precision); ir = also the "
        "binary/ternary type the frontend inferred from the weight values (costs the design built with "
        "that precision in the config, e.g. ap_int<2> -> hls4ml's weight_ternary adders)",
    ),
}


#: the opt-in emulation of ops hls4ml 1.3.0 lacks (a Param, not an hls4ml setting or a constant)
EMULATE_KEY = "emulate_missing"
_EMULATE_PARAM = Param(
    False,
    "assumption: off by default (hwsim costs what hls4ml 1.3.0 builds); true costs GELU/erf as an hls4ml "
    "table activation (as sigmoid/tanh) and LayerNorm over any axes as hls4ml's LayerNormalization algorithm "
    "(n = normalised elements, rows = the rest): how a physicist would add them in hls4ml's style, not hls4ml 1.3.0",
    "",
    "true | false: cost ops hls4ml 1.3.0 has no implementation for (GELU, erf, LayerNorm over conv maps/vectors) "
    "the way hls4ml builds the closest layers; emulated rows are flagged 'emulated'",
)
#: parameters that are neither hls4ml shortcuts nor cost-model constants
_NOT_CONSTANTS = frozenset(_OPTION_DEFAULTS) | {"hls_config", EMULATE_KEY}


class FpgaBackend(BackendBase):
    """hls4ml on AMD/Xilinx FPGAs (Vivado HLS / Vitis HLS), per-layer analytical model."""

    name: ClassVar[str] = "fpga"
    description: ClassVar[str] = (
        "hls4ml 1.3.0 on AMD FPGAs: exact reuse-factor/precision/pipeline rules, cycles, DSP, LUT, FF, BRAM_18K"
    )
    claims: ClassVar[frozenset[str]] = frozenset(
        {
            "dense",
            "conv",
            "batchnorm",
            "activation",
            "pool",
            "global_pool",
            "reduce",
            "elementwise",
            "concat",
            "reshape",
            "layernorm",
            "matmul",
        }
    )
    totals_keys: ClassVar[tuple[str, ...]] = (
        "latency_cycles",
        "ii_cycles",
        "latency_s",
        "DSP",
        "LUT",
        "FF",
        "BRAM_18K",
        "DSP_pct",
        "LUT_pct",
        "FF_pct",
        "BRAM_18K_pct",
    )
    passes: ClassVar[tuple[str, ...]] = ("drop_identities", "fold_batchnorm")
    #: metric -> names of the constants its linear model uses (calibration fits these)
    fittable: ClassVar[dict[str, list[str]]] = _fittable()

    def __init__(self) -> None:
        self._ctx_cache: dict[int, tuple[Params, tuple[FpgaConfig, dict[str, float], _m.Device]]] = {}
        self._cost_cache: dict[Any, _m.LayerCost] = {}
        self._op_cache: dict[Any, tuple[Params, OpCost]] = {}

    # ------------------------------------------------------------------ parameters
    def default_params(self) -> Params:
        d: dict[str, Param] = {}
        for key, (val, unit, doc) in _OPTION_DEFAULTS.items():
            d[key] = Param(val, "default (hls4ml)", unit, doc)
        d["hls_config"] = Param(
            {}, "default: hls4ml config_from_*_model(granularity='name') ('auto' types)", "", "the hls4ml configuration dict"
        )
        d[EMULATE_KEY] = _EMULATE_PARAM
        consts = load_constants()
        for section in ("rule", "fit"):
            for name, c in consts[section].items():
                d[name] = Param(c["value"], c["source"], c.get("unit", ""), f"{section} constant")
        return Params(d)

    def resolve_params(
        self, config: Mapping[str, Any] | None, overrides: Mapping[str, str], profile: Mapping[str, Any] | None = None
    ) -> Params:
        """defaults <- calibrated profile of the part <- hls4ml config <- ``--set``.

        ``config`` is an hls4ml configuration dict; ``overrides`` may hold the shortcuts
        (reuse_factor, strategy, precision, io_type, part, clock_period_ns, backend,
        pipeline_style) or any constant by name. Without an explicit ``profile`` the file
        ``calibration/profiles/fpga/<part>.json`` is used when it exists."""
        params = self.default_params()
        if config is not None and not isinstance(config, Mapping):
            raise ConfigError(f"fpga configuration: expected a mapping (an hls4ml config), got {type(config).__name__}")
        shortcut_ov = {k: v for k, v in (overrides or {}).items() if k in SHORTCUTS}
        const_ov = {k: v for k, v in (overrides or {}).items() if k not in SHORTCUTS}
        for k in const_ov:
            if k not in params or k in _OPTION_DEFAULTS or k == "hls_config":
                known = ", ".join(list(SHORTCUTS) + sorted(n for n in params if n not in _OPTION_DEFAULTS and n != "hls_config"))
                raise ConfigError(f"unknown option {k!r} for backend 'fpga' (known: {known})")
        merged = apply_shortcuts(config, shortcut_ov)
        cfg = parse_config(merged)
        if not config:
            # no hls4ml config: hwsim assumes config_from_*_model(granularity='name') ('auto' types)
            from dataclasses import replace

            cfg = replace(cfg, auto_types=True, channels_last_conversion=_default_clc(cfg.io_type))
        if "weight_types" in shortcut_ov:
            from dataclasses import replace

            cfg = replace(cfg, weight_types=parse_weight_types(shortcut_ov["weight_types"]))
        get_device(cfg.part)  # validates Part
        # calibrated profile for the part
        if profile is None:
            profile = _find_profile(cfg.part)
            if profile and not _profile_applies(profile, cfg):
                log.info("profile %s not applied: fitted for %s", profile.get("id"), profile.get("applies_to"))
                profile = None
        changes: dict[str, Param] = {}
        if profile:
            pid = str(profile.get("id") or profile.get("path") or "profile")
            for key, raw in dict(profile.get("constants", {})).items():
                if key not in params or key in _NOT_CONSTANTS:
                    raise ConfigError(f"profile {pid}: constant {key!r} is not a parameter of backend 'fpga'")
                value = raw.get("value") if isinstance(raw, Mapping) else raw
                p = params[key]
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise ConfigError(f"profile {pid}: constant {key!r} has a non-numeric value {value!r}")
                changes[key] = Param(float(value) if isinstance(p.value, float) else value, f"fit (profile {pid})", p.unit, p.doc)
        src_cfg = "user (config)" if config else None
        effective = {
            "reuse_factor": cfg.reuse_factor,
            "strategy": {"latency": "Latency", "resource": "Resource"}.get(cfg.strategy, cfg.strategy),
            "precision": cfg.default_precision,
            "io_type": cfg.io_type,
            "part": cfg.part,
            "clock_period_ns": cfg.clock_period_ns,
            "backend": cfg.backend,
            "pipeline_style": cfg.pipeline_style,
            "weight_types": cfg.weight_types,
        }
        for key, val in effective.items():
            p = params[key]
            if key in shortcut_ov:
                changes[key] = Param(val, "user (--set)", p.unit, p.doc)
            elif src_cfg and val != p.value:
                changes[key] = Param(val, src_cfg, p.unit, p.doc)
        if config or set(shortcut_ov) - {"weight_types"}:
            changes["hls_config"] = Param(merged, "user (config)" if config else "user (--set)", "", params["hls_config"].doc)
        from hwsim.backends.base import coerce_like

        for k, raw in const_ov.items():
            p = params[k]
            changes[k] = Param(coerce_like(p.value, raw, k), "user (--set)", p.unit, p.doc)
        out = params.updated(changes)
        self._ctx_cache[id(out)] = (
            out,
            (cfg, {k: out[k].value for k in out if k not in _NOT_CONSTANTS}, get_device(cfg.part)),
        )
        if len(self._ctx_cache) > 256:
            self._ctx_cache.pop(next(iter(self._ctx_cache)))
        return out

    def _ctx(self, params: Params) -> tuple[FpgaConfig, dict[str, float], _m.Device]:
        hit = self._ctx_cache.get(id(params))
        if hit is not None and hit[0] is params:
            return hit[1]
        # params built elsewhere (e.g. default_params()): derive the config from the options
        base = params.value("hls_config") or {}
        ov = {k: params.value(k) for k in _OPTION_DEFAULTS if k in params and params.value(k) != _OPTION_DEFAULTS[k][0]}
        merged = apply_shortcuts(base, ov)
        cfg = parse_config(merged)
        from dataclasses import replace

        if not base:
            cfg = replace(cfg, auto_types=True, channels_last_conversion=_default_clc(cfg.io_type))
        if "weight_types" in ov:
            cfg = replace(cfg, weight_types=parse_weight_types(ov["weight_types"]))
        consts = {k: params[k].value for k in params if k not in _NOT_CONSTANTS}
        ctx = (cfg, consts, get_device(cfg.part))
        self._ctx_cache[id(params)] = (params, ctx)
        if len(self._ctx_cache) > 256:
            self._ctx_cache.pop(next(iter(self._ctx_cache)))
        return ctx

    # ------------------------------------------------------------------ graph preparation
    def prepare(self, graph: OpGraph, params: Params) -> OpGraph:
        """drop_identities, then fold BatchNormalization where hls4ml's
        FuseBatchNormalization would: the producer's result precision is 'auto' (unset) and
        its weights are not binary (plus the structural checks of passes.fold_batchnorm)."""
        from hwsim.passes import drop_identities, fold_batchnorm

        cfg, _c, _d = self._ctx(params)
        g = drop_identities(graph).graph

        def allow(prev: Op, bn: Op) -> bool:
            if prev.precision.weight is not None and prev.precision.weight.kind == "binary":
                return False
            ln, lt = cfg.lookup(_m.name_aliases(prev), _m._hls_class(prev))
            rs = _m._resolve_type("result", ln, lt, cfg, ("weight", "bias", "result", "accum"))
            return rs == "auto"

        if any(op.kind == BATCHNORM for op in g.ops()):
            g = fold_batchnorm(g, allow=allow).graph
        if params.value(EMULATE_KEY, False):
            g = _mark_emulated(g)
        return g

    def supports(self, op: Op) -> Support:
        if op.kind not in self.claims:
            return Support(False, f"the fpga backend (hls4ml) does not cost {op.kind} ops")
        reason = _m.support_reason(op)
        return SUPPORTED if not reason else Support(False, reason)

    # ------------------------------------------------------------------ plan
    def plan(self, graph: OpGraph, params: Params, prepared: bool = False) -> FpgaPlan:
        """The hls4ml layers ``graph`` becomes under ``params`` (see ``plan.py``).
        Unsupported ops are left out and named in ``FpgaPlan.warnings``."""
        g = graph if prepared else self.prepare(graph, params)
        cfg, _c, _d = self._ctx(params)
        # what hls4ml builds: ops costed by emulate_missing are left out like any unsupported op
        skip = frozenset(op.name for op in g.ops() if not self.supports(op) or op.attrs.get(_m.EMULATED_ATTR))
        plan, _geo = _m.build_plan(g, cfg, skip)
        if skip:
            from dataclasses import replace

            plan = replace(
                plan,
                warnings=plan.warnings
                + tuple(f"op {n!r} is not implemented by hls4ml: left out of the plan" for n in sorted(skip)),
            )
        return plan

    # ------------------------------------------------------------------ costs
    def _cost(self, geo: Mapping[str, Any], consts: Mapping[str, float], dev: _m.Device, cfg: FpgaConfig) -> _m.LayerCost:
        # insertion order is fixed by plan_layer/build_plan; a different order only misses
        key = (tuple(geo.items()), id(consts), dev.part, cfg.io_type, cfg.clock_period_ns, cfg.backend)
        hit = self._cost_cache.get(key)
        if hit is None:
            hit = _m.cost_layer(geo, consts, dev, cfg.io_type, cfg.clock_period_ns, cfg.backend)
            if len(self._cost_cache) > 20000:
                self._cost_cache.clear()
            self._cost_cache[key] = hit
        return hit

    def _single(self, op: Op, params: Params) -> tuple[LayerPlan, dict[str, Any], _m.LayerCost, FpgaConfig, dict[str, float]]:
        cfg, consts, dev = self._ctx(params)
        default = FixedType.parse(cfg.default_precision)
        q_in = _m._to_fixed(op.precision.input)
        in_t = q_in if q_in is not None else default
        lp, geo = _m.plan_layer(op, cfg, [in_t] * max(1, len(op.inputs)), default)
        return lp, geo, self._cost(geo, consts, dev, cfg), cfg, consts

    def estimate(self, op: Op, params: Params) -> OpCost:
        """One op as a stand-alone hls4ml layer whose input has the op's own input precision
        (or the Model default). :meth:`aggregate` recosts every layer with the precision its
        producer really delivers."""
        key = (op, id(params))
        hit = self._op_cache.get(key)
        if hit is not None and hit[0] is params:
            return hit[1]
        cfg = self._ctx(params)[0]
        # the same layer under another name (search candidates name ops by position): without
        # LayerName entries a name changes only the row's name and the warnings' text, so a
        # warning-free cost is reused under the new name
        skey = None
        if not cfg.layer_name:
            skey = _m.anonymous_op_key(op, id(params))
            shit = self._op_cache.get(skey)
            if shit is not None and shit[0] is params:
                from dataclasses import replace

                oc = replace(shit[1], name=op.name)
                self._op_cache[key] = (params, oc)
                return oc
        lp, _geo, lc, _cfg, consts = self._single(op, params)
        oc = self._opcost(op.name, op, lp, lc, consts)
        if len(self._op_cache) > 20000:
            self._op_cache.clear()
        self._op_cache[key] = (params, oc)
        if skey is not None and not oc.warnings:
            self._op_cache[skey] = (params, oc)
        return oc

    def _opcost(self, name: str, op: Op | None, lp: LayerPlan, lc: _m.LayerCost, consts: Mapping[str, float]) -> OpCost:
        mv = lc.metric_values(consts)
        values = {
            "latency_cycles": float(lc.latency),
            "ii_cycles": float(lc.ii),
            "DSP": float(round(lc.dsp, 3)),
            "LUT": float(round(mv["LUT"], 1)),
            "FF": float(round(mv["FF"], 1)),
            "BRAM_18K": float(round(mv["BRAM_18K"], 2)),
        }
        prec = lp.precision.get("weight") or lp.precision.get("result", "")
        info = {
            "hls_class": lp.hls_class,
            "reuse_factor": lp.reuse_factor,
            "strategy": lp.strategy,
            "precision": prec,
            "result_precision": lp.precision.get("result", ""),
        }
        if lp.reuse_factor != lp.reuse_factor_requested:
            info["reuse_factor_requested"] = lp.reuse_factor_requested
        if lp.parallelization_factor != 1:
            info["parallelization_factor"] = lp.parallelization_factor
        if "emulated" in lp.extra:
            # emulate_missing: what hls4ml 1.3.0 lacks; how hwsim costs it instead (an assumption)
            info["emulated"] = lp.extra["emulated"]
        if "dsp_estimate" in lc.notes:
            # 'count (weights)': DSPs counted from the quantized weight values (an integer);
            # 'expected (no weights)': expectation over Glorot-uniform weights (fractional)
            info["dsp_estimate"] = lc.notes["dsp_estimate"]
        for note in ("short_rom_pipeline", "pool_divider"):
            if note in lc.notes:
                info[note] = lc.notes[note]
        if op is not None:
            label = op.kind + (f":{op.function}" if op.function else "")
        else:  # hls4ml-inserted: Transpose before a Flatten, Clone of a stream read twice, ZeroPadding
            label = {"Transpose": "reshape:transpose", "Clone": "clone"}.get(
                lp.hls_class, "pad" if lp.hls_class.startswith("ZeroPadding") else lp.hls_class.lower()
            )
        return OpCost(name=name, op=label, values=values, info=info, warnings=lp.warnings)

    def features(self, op: Op, params: Params) -> Mapping[str, float]:
        """``{"<metric>:<constant>": coefficient}`` of one op costed stand-alone: for each
        metric in (LUT, FF, BRAM_18K), value = sum(constant value x coefficient)."""
        _lp, _geo, lc, _cfg, _c = self._single(op, params)
        return dict(lc.features)

    def layer_features(self, graph: OpGraph, params: Params, prepared: bool = False) -> dict[str, dict[str, float]]:
        """Per-layer feature coefficients in graph context (the precision each layer's
        producer delivers), keyed by layer (op) name; same format as :meth:`features`."""
        g = graph if prepared else self.prepare(graph, params)
        cfg, consts, dev = self._ctx(params)
        skip = frozenset(op.name for op in g.ops() if not self.supports(op))
        plan, geo = _m.build_plan(g, cfg, skip)
        return {lp.name: dict(self._cost(geo[lp.name], consts, dev, cfg).features) for lp in plan.layers if lp.name in geo}

    def aggregate(self, graph: OpGraph, costs: Sequence[OpCost], params: Params) -> Estimate:
        """Recost every supported layer in graph context and compose the top level:
        PIPELINE (latency = sum, II = max layer II) or DATAFLOW (io_parallel: latency =
        sum + offset and II = latency, as measured on wa-hls4ml and the CI conv2d design;
        io_stream: latency = slowest stage + the other stages' pipeline depths, II = slowest
        stage + overhead), per hls4ml's pipeline-style rule."""
        cfg, consts, dev = self._ctx(params)
        supported = {c.name for c in costs}
        skip = frozenset(op.name for op in graph.ops() if op.name not in supported)
        plan, geo = _m.build_plan(graph, cfg, skip)
        rows: list[dict[str, Any]] = []
        lcs: list[_m.LayerCost] = []
        tot = {"DSP": 0.0, "LUT": 0.0, "FF": 0.0, "BRAM_18K": 0.0}
        for lp in plan.layers:
            if lp.name not in geo:  # hls4ml-inserted layers without an IR op (free input transposes)
                continue
            lc = self._cost(geo[lp.name], consts, dev, cfg)
            lcs.append(lc)
            # an hls4ml-inserted layer (Transpose before a Flatten in io_stream) has no IR op
            oc = self._opcost(lp.name, graph[lp.ops[0]] if lp.ops else None, lp, lc, consts)
            vals = oc.values
            if all(isinstance(v, (int, str)) for v in oc.info.values()) and all(math.isfinite(v) for v in vals.values()):
                # the OpCost.row() dict, built directly (its values are JSON-ready already)
                row = {"name": oc.name, "op": oc.op, **oc.info, **vals}
            else:
                row = oc.row()
            rows.append(row)
            for k in tot:
                tot[k] += float(vals[k])
        lat, ii = _compose(plan.pipeline_style, cfg.io_type, [lp for lp in plan.layers if lp.name in geo], lcs, consts)
        totals: dict[str, Any] = {
            "latency_cycles": int(lat),
            "ii_cycles": int(ii),
            "latency_s": lat * cfg.clock_period_ns * 1e-9,
            "DSP": round(tot["DSP"], 1),
            "LUT": round(tot["LUT"], 0),
            "FF": round(tot["FF"], 0),
            "BRAM_18K": round(tot["BRAM_18K"], 1),
        }
        over: list[str] = []
        for k in ("DSP", "LUT", "FF", "BRAM_18K"):
            avail = getattr(dev, k)
            pct = 100.0 * totals[k] / avail if avail else float("inf")
            totals[f"{k}_pct"] = round(pct, 3)
            if totals[k] > avail:
                over.append(k)
        totals["clock_period_ns"] = cfg.clock_period_ns
        totals["part"] = cfg.part
        totals["pipeline_style"] = plan.pipeline_style
        totals["io_type"] = cfg.io_type
        totals["over_budget"] = over
        warnings = list(plan.warnings)
        emulated = [r["name"] for r in rows if r.get("emulated")]
        if emulated:
            warnings.append(
                f"emulate_missing=true: {len(emulated)} layer(s) hls4ml 1.3.0 cannot build are costed by hwsim's emulation "
                f"in hls4ml's style (an assumption, not what hls4ml builds; see each row's 'emulated'): {', '.join(emulated)}"
            )
        for k in over:
            warnings.append(
                f"over budget: {k} {totals[k]:g} exceeds the {getattr(dev, k)} of {cfg.part} ({totals[k + '_pct']:.1f} %)"
            )
        return Estimate(
            backend=self.name,
            model=graph.name,
            totals=totals,
            layers=tuple(rows),
            params=params,
            warnings=tuple(warnings),
            extra={"backend_tool": cfg.backend},
            fingerprint=graph.fingerprint(),
        )


def _mark_emulated(graph: OpGraph) -> OpGraph:
    """The graph with every op hls4ml 1.3.0 lacks but ``emulate_missing`` can cost marked by
    the attribute :data:`model.EMULATED_ATTR` (value: what hls4ml lacks)."""
    from hwsim.ir import Attrs

    ops = list(graph.ops())
    changed = False
    for i, op in enumerate(ops):
        reason = _m.emulation_reason(op)
        if reason:
            ops[i] = op.evolve(attrs=Attrs({**dict(op.attrs), _m.EMULATED_ATTR: reason}))
            changed = True
    return graph.replace_ops(ops) if changed else graph


def _compose(
    style: str, io_type: str, layers: Sequence[LayerPlan], lcs: Sequence[_m.LayerCost], c: Mapping[str, float]
) -> tuple[int, int]:
    """Top-level (latency, II) in cycles."""
    if not lcs:
        return 0, 0
    lats = [lc.latency for lc in lcs]
    iis = [max(lc.ii, 1) for lc in lcs]
    if style == "pipeline":
        return sum(lats), max(iis)
    if io_type == "io_stream":
        i_max = max(range(len(lcs)), key=lambda i: lats[i])
        lat = lats[i_max] + sum(lc.stream_depth for j, lc in enumerate(lcs) if j != i_max)
        return lat, max(iis) + int(c["dataflow_ii_overhead"])
    # the offset is the overlap at a producer -> consumer channel: none in a one-stage region
    lat = sum(lats) + (int(c["dataflow_parallel_latency_offset"]) if len(lcs) > 1 else 0)
    lat = max(lat, 0)
    return lat, max(lat, max(iis))


def _default_clc(io_type: str) -> str:
    """ChannelsLastConversion that config_from_pytorch_model gives by default ('full'); with
    io_stream the inputs cannot be transposed in hardware, hls4ml users pass 'internal'."""
    return "full" if io_type == "io_parallel" else "internal"


def _profile_applies(profile: Mapping[str, Any], cfg: FpgaConfig) -> bool:
    """A profile applies when its ``applies_to`` matches the part and, where it names them,
    the strategy, io_type and backend tool of the configuration (a fit on Resource/io_parallel
    designs is not used for Latency or io_stream ones)."""
    at = profile.get("applies_to") or {}
    if at.get("part") and at["part"] != cfg.part:
        return False

    def _in(key: str, value: str) -> bool:
        v = at.get(key)
        if v is None:
            return True
        vals = [v] if isinstance(v, str) else list(v)
        return value.lower() in {str(x).lower() for x in vals}

    return _in("strategy", cfg.strategy) and _in("io_type", cfg.io_type)


def _find_profile(part: str) -> dict[str, Any] | None:
    """calibration/profiles/fpga/<part>.json when it exists (read once per path)."""
    from hwsim._paths import profiles_dir

    p = profiles_dir() / "fpga" / f"{part}.json"
    if not p.is_file():
        return None
    return _load_profile_cached(str(p), p.stat().st_mtime)


@lru_cache(maxsize=16)
def _load_profile_cached(path: str, mtime: float) -> dict[str, Any]:
    from hwsim.calibration.profile import load_profile

    return load_profile(path)
