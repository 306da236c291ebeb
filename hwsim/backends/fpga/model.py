"""The fpga cost model: which hls4ml layers a graph becomes (:func:`build_plan`) and what
each costs (:func:`cost_layer`).

Cycle counts and DSP counts follow rules (hls4ml's own arithmetic, its HLS templates, and
synthesis results named in ``constants.json``); LUT, FF and BRAM_18K are linear in fitted
constants: ``value = sum(constant * coefficient)`` with the coefficients returned by
:func:`resource_features`, which calibration fits by least squares.

Layouts: the IR is channels-first (C, H, W); hls4ml works channels-last. Pixels (the stream
depth of io_stream) are the product of all but the channel axis.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hwsim.ir import (
    ACTIVATION,
    BATCHNORM,
    CONCAT,
    CONV,
    DENSE,
    ELEMENTWISE,
    GLOBAL_POOL,
    LAYERNORM,
    MATMUL,
    POOL,
    REDUCE,
    RESHAPE,
    Op,
    OpGraph,
    Precision,
)

from . import rules
from .config import FpgaConfig, LayerConfig
from .plan import FpgaPlan, LayerPlan
from .rules import FixedType

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = [
    "EMULATED_ATTR",
    "EMULATED_TABLE_ACTS",
    "Device",
    "FixedType",
    "LayerCost",
    "build_plan",
    "cost_layer",
    "emulation_reason",
    "plan_layer",
    "support_reason",
    "value_from_features",
]

# activation functions hls4ml implements (Activation / ParametrizedActivation / PReLU / Softmax)
RELU_LIKE = frozenset({"relu", "leaky_relu", "prelu", "hard_sigmoid"})
TABLE_ACTS = frozenset({"sigmoid", "tanh", "elu", "selu", "softplus"})
SUPPORTED_ACTS = RELU_LIKE | TABLE_ACTS | {"softmax"}
_ACT_CLASS = {
    "relu": "Activation",
    "sigmoid": "Activation",
    "tanh": "Activation",
    "softplus": "Activation",
    "selu": "Activation",
    "hard_sigmoid": "Activation",
    "elu": "ParametrizedActivation",  # hls4ml 1.3.0 class for ELU and LeakyReLU (activation attr elu/leakyrelu)
    "leaky_relu": "ParametrizedActivation",
    "prelu": "PReLU",
    "softmax": "Softmax",
}
MERGE_OPS = {"add": "add", "sub": "subtract", "mul": "multiply", "max": "maximum", "min": "minimum"}
RESHAPE_FUNCS = frozenset({"flatten", "reshape", "squeeze", "unsqueeze", "transpose", "identity"})
TABLE_T = FixedType(18, 8)  # hls4ml default table_t fixed<18,8,TRN,WRAP>
SOFTMAX_T = FixedType(18, 8)  # exp_table_t / inv_table_t / accum of the 'stable' softmax
TABLE_SIZE = 1024  # hls4ml default TableSize
# LayerNormalization attribute defaults of hls4ml 1.3.0's Vivado backend (vivado_backend.py,
# _register_layer_attributes): table_t fixed<8,5,RND_CONV,SAT> unsigned, 4096 entries,
# accum_t fixed<14,4,RND_CONV,SAT>; a layer entry's table_t/accum_t/TableSize overrides them
LN_TABLE_T = FixedType(8, 5, False)
LN_ACCUM_T = FixedType(14, 4)
LN_TABLE_SIZE = 4096
#: activations hls4ml 1.3.0 does not implement, with what it lacks
_NO_ACT_REASON = {
    "gelu": (
        "hls4ml 1.3.0 has no GELU on Vivado/Vitis: no nnet::gelu in nnet_activation.h and no GELU handler in its "
        "Keras/PyTorch/ONNX converters (only the Catapult backend's bundled ac_math library has a GELU approximation)"
    ),
}


#: element-wise functions hls4ml 1.3.0 lacks that ``emulate_missing`` costs as a lookup-table
#: activation exactly like its sigmoid/tanh (bounded, smooth functions of one input; exp, log,
#: sqrt, reciprocal, cosh, sinh are unbounded and not emulated)
EMULATED_TABLE_ACTS = frozenset({"gelu", "erf"})
#: the attribute :meth:`FpgaBackend.prepare` sets (``emulate_missing=true``) on the ops it
#: costs by emulation: what hls4ml lacks (the strict support reason)
EMULATED_ATTR = "fpga_emulated"


def emulation_reason(op: Op) -> str:
    """What hls4ml 1.3.0 lacks for ``op`` when ``emulate_missing`` can cost it in hls4ml's
    style (a GELU/erf as a table activation, a LayerNorm over any axes as hls4ml's
    LayerNormalization algorithm); '' when ``op`` is supported as is or cannot be emulated."""
    if op.kind == ACTIVATION and op.function in EMULATED_TABLE_ACTS:
        return _strict_support_reason(op)
    if op.kind == LAYERNORM:
        shape = tuple(int(x) for x in op.input_shape)
        n = int(op.attrs.get("size", 0))
        total = int(math.prod(shape)) if shape else 1
        if n <= 0 or total % n:
            return ""
        return _strict_support_reason(op)
    return ""


def support_reason(op: Op) -> str:
    """'' when the fpga backend (hls4ml 1.3.0) implements ``op`` (or, for an op marked by
    ``emulate_missing``, costs it by emulation), else why not."""
    if op.attrs.get(EMULATED_ATTR):
        return ""
    return _strict_support_reason(op)


def _strict_support_reason(op: Op) -> str:
    """'' when hls4ml 1.3.0 implements ``op``, else why not (emulation ignored)."""
    k = op.kind
    if k == DENSE:
        if len(op.input_shape) > 3:
            return "hls4ml implements Dense on 1-3 dimensional inputs only"
        return ""
    if k == CONV:
        a = op.attrs
        dims = int(a["dims"])
        groups = int(a["groups"])
        if dims not in (1, 2):
            return f"hls4ml has no Conv{dims}D"
        if groups != 1 and not (groups == int(a["in_channels"]) and int(a["out_channels"]) % groups == 0):
            return "grouped convolution (groups not 1 and not depthwise) is not implemented by hls4ml"
        if any(int(d) != 1 for d in a.get("dilation", (1,) * dims)):
            return "dilated convolution is not implemented by hls4ml"
        return ""
    if k == BATCHNORM:
        return ""
    if k == ACTIVATION:
        if op.function in SUPPORTED_ACTS:
            return ""
        return _NO_ACT_REASON.get(
            op.function, f"activation {op.function!r} has no hls4ml implementation on the Vivado/Vitis backend"
        )
    if k == LAYERNORM:
        shape = tuple(op.input_shape)
        if len(shape) != 2 or int(op.attrs.get("axis", -1)) % max(len(shape), 1) != len(shape) - 1:
            return (
                f"hls4ml 1.3.0 LayerNormalization normalises the last axis of a (sequence, features) input only "
                f"(its PyTorch converter accepts 3-D tensors incl. batch, axis 2); this one normalises {int(op.attrs.get('size', 0))} "
                f"elements of a {shape} input"
            )
        if not bool(op.attrs.get("affine", True)):
            return (
                "hls4ml 1.3.0 LayerNormalization needs the affine weight and bias (its converter reads nn.LayerNorm.weight/.bias)"
            )
        return ""
    if k == MATMUL:
        if len(op.inputs) != 2:
            return "a matmul with a constant operand is a Dense layer in hls4ml; this one has no second activation input"
        sa, sb = tuple(op.inputs[0].shape), tuple(op.inputs[1].shape)
        if len(sa) not in (2, 3) or len(sb) != len(sa) or sa[:-2] != sb[:-2]:
            return f"hls4ml 1.3.0 Einsum (two-operand torch.einsum) is costed here for (m, n) x (n, p) products with equal batch axes; got {sa} x {sb}"
        return ""
    if k == POOL:
        if int(op.attrs["dims"]) not in (1, 2):
            return "hls4ml pools in 1 or 2 dimensions only"
        return ""
    if k == GLOBAL_POOL:
        return ""
    if k == REDUCE:
        if op.function not in ("mean", "max", "sum"):
            return f"reduce {op.function!r} has no hls4ml layer (mean/max/sum map to GlobalPooling1D)"
        if len(tuple(op.attrs.get("axes", ()))) != 1:
            return "reductions over several axes have no hls4ml layer"
        return ""
    if k == ELEMENTWISE:
        f = op.function
        n_const = int(op.attrs.get("n_const", 0))
        if n_const and f in ("add", "sub", "mul"):
            return ""  # scale/shift by a constant: hls4ml ApplyAlpha (a BatchNormalization)
        if f in MERGE_OPS and len(op.inputs) == 2:
            return ""
        return f"element-wise {f!r} with these operands has no hls4ml Merge/ApplyAlpha layer"
    if k == CONCAT:
        return ""
    if k == RESHAPE:
        return "" if op.function in RESHAPE_FUNCS else f"reshape {op.function!r} is not an hls4ml layer"
    return f"hls4ml (Vivado/Vitis backends) has no layer for {k} ops in this cost model"


# ---------------------------------------------------------------------------------------------
# Layer names as hls4ml sees them
# ---------------------------------------------------------------------------------------------

_OPTYPE_RE = re.compile(r"^[A-Z][A-Za-z]*(_\d+)?$")


_ALIAS_MEMO: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}


def name_aliases(op: Op) -> tuple[str, ...]:
    key = (op.name, op.origin)
    hit = _ALIAS_MEMO.get(key)
    if hit is None:
        hit = _name_aliases(op)
        if len(_ALIAS_MEMO) > 100000:
            _ALIAS_MEMO.clear()
        _ALIAS_MEMO[key] = hit
    return hit


def anonymous_op_key(op: Op, *extra: Any) -> tuple[Any, ...]:
    """A cache key of ``op`` without its name: kind, attributes, shapes, precision and
    sparsity (plus ``extra``). Search candidates name their ops by position, so the same layer
    under another name reuses a plan/cost when no LayerName entry depends on the name."""
    return (
        "anon",
        op.kind,
        op.attrs,
        tuple(t.shape for t in op.inputs),
        tuple(t.shape for t in op.outputs),
        op.precision,
        op.sparsity,
        *extra,
    )


def _inserted_layer(
    name: str, hls_class: str, n_in: int, n_out: int, cfg: FpgaConfig, result_t: Any, inserted_by: str, **extra: Any
) -> LayerPlan:
    """A layer hls4ml inserts by itself (Transpose, Clone, ZeroPadding): no IR op, the model's
    reuse factor, the type it passes through."""
    return LayerPlan(
        name=name,
        hls_class=hls_class,
        ops=(),
        n_in=n_in,
        n_out=n_out,
        reuse_factor_requested=cfg.reuse_factor,
        reuse_factor=cfg.reuse_factor,
        precision={"result": str(result_t)},
        extra={"inserted_by": inserted_by, **extra},
    )


def _name_aliases(op: Op) -> tuple[str, ...]:
    """Names the user may give this layer in ``LayerName``: the IR op name, the ONNX node
    names (``origin``; what ``config_from_onnx_model`` uses), and the torch.fx name
    ``config_from_pytorch_model`` gives the module (``/net/net.0/Gemm`` -> ``net_0``;
    ``/0/Gemm`` -> ``_0``; ``/Relu`` -> ``relu``)."""
    out: list[str] = [op.name]
    for o in op.origin:
        out.append(o)
        parts = [p for p in o.split("/") if p]
        if len(parts) >= 2 and _OPTYPE_RE.match(parts[-1]):
            mod = parts[-2].replace(".", "_")
            out.append("_" + mod if mod[:1].isdigit() else mod)
        elif len(parts) == 1:
            out.append(re.sub(r"_\d+$", "", parts[0]).lower())
    seen: dict[str, None] = {}
    for n in out:
        seen.setdefault(n, None)
    return tuple(seen)


# ---------------------------------------------------------------------------------------------
# Plan
# ---------------------------------------------------------------------------------------------


def _to_fixed(p: Precision | None) -> FixedType | None:
    """A quantizer precision from the IR (None when unset or float: the config decides)."""
    if p is None or p.kind == "float":
        return None
    if p.kind == "binary":
        return FixedType(1, 1, False)
    if p.kind == "ternary":
        return FixedType(2, 2, True)
    return FixedType(p.total_bits, p.int_bits, p.signed)


def _hls_class(op: Op) -> str:
    k = op.kind
    if k == DENSE:
        if len(op.input_shape) > 1 and op.rows > 1:
            return "PointwiseConv1D" if len(op.input_shape) == 2 else "PointwiseConv2D"
        return "Dense"
    if k == CONV:
        dims = int(op.attrs["dims"])
        depthwise = int(op.attrs["groups"]) != 1
        if depthwise:
            return f"DepthwiseConv{dims}D"
        if all(int(x) == 1 for x in op.attrs["kernel"]) and all(int(x) == 1 for x in op.attrs["stride"]):
            return f"PointwiseConv{dims}D"
        return f"Conv{dims}D"
    if k == BATCHNORM:
        return "BatchNormalization"
    if k == ACTIVATION:
        return _ACT_CLASS.get(op.function, "Activation")
    if k == POOL:
        return f"Pooling{int(op.attrs['dims'])}D"
    if k == GLOBAL_POOL:
        return f"GlobalPooling{int(op.attrs['dims'])}D"
    if k == REDUCE:
        return "GlobalPooling1D"
    if k == ELEMENTWISE:
        return "ApplyAlpha" if int(op.attrs.get("n_const", 0)) else "Merge"
    if k == CONCAT:
        return "Concatenate"
    if k == RESHAPE:
        return "Transpose" if op.function == "transpose" else "Reshape"
    if k == LAYERNORM:
        return "LayerNormalization"
    if k == MATMUL:
        return "Einsum"
    return k


def _pixels_channels(shape: Sequence[int]) -> tuple[int, int]:
    """(pixels, channels) of a channels-first per-inference shape as hls4ml streams it
    (channels last): a vector (N,) is one pixel of N channels."""
    if len(shape) <= 1:
        return 1, int(shape[0]) if shape else 1
    return int(math.prod(shape[1:])), int(shape[0])


class _ArrayRef:
    """A weight array inside the (hashable) layer geometry: equal and hashed by identity."""

    __slots__ = ("array",)

    def __init__(self, array: Any) -> None:
        self.array = array

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ArrayRef) and other.array is self.array

    def __hash__(self) -> int:
        return id(self.array)

    def __lt__(self, other: object) -> bool:  # sortable inside cache keys
        return id(self.array) < id(getattr(other, "array", None))

    def __repr__(self) -> str:
        return "weights" if self.array is not None else "no weights"


@dataclass
class _Types:
    weight: FixedType | None = None
    bias: FixedType | None = None
    result: FixedType | None = None
    accum: FixedType | None = None
    table: FixedType | None = None


def _resolve_type(tname: str, ln: LayerConfig | None, lt: LayerConfig | None, cfg: FpgaConfig, auto_names: Sequence[str]) -> str:
    """The precision string hls4ml would take for type ``tname`` of a layer ('auto' allowed):
    LayerName, then LayerType, then the Model section, then 'auto' (hwsim default config =
    config_from_*_model(granularity='name')) or the Model default. An ``accum_t`` key of the
    layer's entry overrides them all (hls4ml sets it after ``_set_accum_t``)."""
    if tname == "accum":
        at = _attr_type(tname, ln, lt)
        if at is not None:
            return at
    for lc in (ln, lt):
        if lc is not None:
            if tname in lc.precision:
                return lc.precision[tname]
            if "*" in lc.precision:
                return lc.precision["*"]
    if tname in cfg.model_precision:
        return cfg.model_precision[tname]
    if cfg.auto_types and tname in auto_names:
        return "auto"
    return cfg.default_precision


def _attr_type(tname: str, ln: LayerConfig | None, lt: LayerConfig | None) -> str | None:
    """A ``<tname>_t`` key of the layer's LayerName (first) or LayerType entry."""
    for lc in (ln, lt):
        if lc is not None and tname in lc.types:
            return lc.types[tname]
    return None


def _table_type(
    tname: str, ln: LayerConfig | None, lt: LayerConfig | None, default_t: FixedType, default: FixedType
) -> FixedType:
    """An activation's table type as hls4ml 1.3.0 sets it: a ``<tname>_t`` key of the layer
    entry, else the backend's attribute default (``TypeAttribute('table', default=18,8)``,
    exp/inv tables 18,8 RND SAT); 'auto' -> the Model default (infer_precision fallback)."""
    s = _attr_type(tname, ln, lt)
    if s is None:
        return default_t
    return default if s == "auto" else FixedType.parse(s)


def _ignored_table_precisions(
    names: Sequence[str], ln: LayerConfig | None, lt: LayerConfig | None, cfg: FpgaConfig, tnames: Sequence[str]
) -> list[str]:
    """Warnings for ``Precision: {table: ...}``-style entries hls4ml 1.3.0 does not apply
    (only when they differ from the 18,8 default hls4ml uses instead)."""
    out = []
    for tname in tnames:
        for where, prec in (
            ("LayerName", ln.precision if ln else {}),
            ("LayerType", lt.precision if lt else {}),
            ("Model", cfg.model_precision),
        ):
            v = prec.get(tname)
            if v is None or v == "auto":
                continue
            t = FixedType.parse(v)
            if (t.width, t.integer, t.signed) != (18, 8, True):
                out.append(
                    f"layer {names[0]!r}: {where} Precision.{tname} = {v} is ignored by hls4ml 1.3.0 (it uses ap_fixed<18,8>); "
                    f"set '{tname}_t: {v}' in the layer's LayerName/LayerType entry instead"
                )
    return out


def _explicit_type(tname: str, ln: LayerConfig | None, lt: LayerConfig | None, cfg: FpgaConfig) -> str | None:
    """The precision string the config sets for type ``tname`` of a layer (LayerName,
    LayerType or Model.Precision.<tname>), or None when it only falls back to the default."""
    for lc in (ln, lt):
        if lc is not None:
            if tname in lc.precision:
                return lc.precision[tname]
            if "*" in lc.precision:
                return lc.precision["*"]
    return cfg.model_precision.get(tname)


def _weight_type(s: str | None, quant: FixedType | None, default: FixedType) -> FixedType:
    """A weight/bias type: an explicit config precision wins; 'auto' or no explicit setting
    -> the quantizer's type (hls4ml ``add_weights_variable`` / ``_infer_common_precision``:
    ``precision = quantizer.hls_type``), else the default precision."""
    if s is None:
        s = "auto"
    if s == "auto":
        return quant if quant is not None else default
    return FixedType.parse(s)


UINT1 = FixedType(1, 1, False)  # hls4ml's type of the zero bias of a bias-free layer (ap_uint<1>)


def _value_inferred(op: Op, p: Precision | None) -> bool:
    """True when the IR's weight precision ``p`` of ``op`` was inferred from the weight values
    by the frontend, not set by a quantizer: a binary/ternary kind in a float model (hwsim's
    ONNX frontend gives every field of a float model its float type and marks weights taking
    only {-a, 0, +a} ternary; in a quantized model, fields no quantizer sets are None)."""
    if p is None or p.kind not in ("binary", "ternary"):
        return False
    other = (op.precision.input, op.precision.bias, op.precision.output)
    return any(q is not None and q.kind == "float" for q in other)


def _quant_weight(op: Op, cfg: FpgaConfig) -> FixedType | None:
    """The weight type hls4ml takes for an 'auto'/default weight of ``op``: the quantizer's
    (an IR precision set by a quantizer), else None (= the default precision). With
    ``weight_types='ir'`` a value-inferred binary/ternary type counts too."""
    p = op.precision.weight
    if cfg.weight_types != "ir" and _value_inferred(op, p):
        return None
    return _to_fixed(p)


def build_plan(graph: OpGraph, cfg: FpgaConfig, skip: frozenset[str] = frozenset()) -> tuple[FpgaPlan, dict[str, dict[str, Any]]]:
    """Map the (prepared) graph to hls4ml layers: reuse factor snapped as hls4ml does,
    strategy, ParallelizationFactor, multiplier limit, resolved precisions, pipeline style.

    Returns the plan and, per layer name, the geometry the cost model needs. Ops in ``skip``
    (unsupported) are left out; their outputs are treated as having the default precision.
    """
    default = FixedType.parse(cfg.default_precision)
    tensor_types: dict[str, FixedType] = {}
    packs: dict[str, int] = {}  # io_stream word size (channels per pixel) of each tensor
    for t in graph.inputs:
        tensor_types[t.name] = default
        packs[t.name] = _pixels_channels(t.shape)[1]
        # the Input layer's result type (config_from_*_model names it after the input: 'x', 'input_1')
        ln, _lt = cfg.lookup((t.name, "input_1"), "InputLayer")
        if ln is not None:
            rs = ln.precision.get("result", ln.precision.get("*", "auto"))
            if rs != "auto":
                tensor_types[t.name] = FixedType.parse(rs)
    layers: list[LayerPlan] = []
    geo: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    first = True
    if cfg.io_type == "io_stream":
        for t in graph.inputs:
            n_use = _stream_uses(graph, t.name)
            if n_use > 1:
                c_lp, c_g = _clone_layer(t.name, (), t.shape, tensor_types[t.name], packs[t.name], n_use, cfg)
                layers.append(c_lp)
                geo[c_lp.name] = c_g
    for op in graph.ops():
        if op.name in skip:
            for t in op.outputs:
                tensor_types[t.name] = default
            continue
        q_in = _to_fixed(op.precision.input)
        in_types = []
        for t in op.inputs:
            if first and q_in is not None and t.name in {i.name for i in graph.inputs}:
                tensor_types[t.name] = q_in
            in_types.append(tensor_types.get(t.name, default))
        first = False
        warr = graph.weights.get(op.name)
        memo = cfg.__dict__.setdefault("_plan_memo", {})
        wkey = _costed_array(warr)
        mkey = (op, tuple(in_types), id(wkey) if wkey is not None else None)
        hit = memo.get(mkey)
        akey = None
        if hit is None and not cfg.layer_name:
            # the same layer under another name (search candidates name ops by position):
            # without LayerName entries the name changes only LayerPlan.name/aliases and the
            # warnings' text, so a warning-free plan is reused, renamed
            akey = anonymous_op_key(op, tuple(in_types), id(wkey) if wkey is not None else None)
            ahit = memo.get(akey)
            if ahit is not None and ahit[2] is wkey:
                names = name_aliases(op)
                alp = ahit[0]
                hit = (
                    replace(alp, name=names[0], ops=(op.name,), extra={**alp.extra, "aliases": names[1:]}),
                    ahit[1],
                    wkey,
                )
                memo[mkey] = hit
        if hit is None or (wkey is not None and hit[2] is not wkey):
            lp, g = plan_layer(op, cfg, in_types, default, warr)
            if len(memo) > 50000:
                memo.clear()
            memo[mkey] = (lp, g, wkey)
            if akey is not None and not lp.warnings:
                memo[akey] = (lp, g, wkey)
        else:
            lp, g = hit[0], dict(hit[1])
        in_pack = packs.get(op.inputs[0].name, g["in_channels"]) if op.inputs else 1
        zp = _zero_padding_layer(op, lp, cfg, in_types[0] if in_types else default)
        if zp is not None:
            # the conv itself then runs 'valid' on the padded image
            layers.append(zp[0])
            geo[zp[0].name] = zp[1]
            g["in_pixels"] = int(zp[1]["out_pixels"])
            g["in_w"] = int(zp[1]["out_w"])
        if _flatten_transpose(graph, op, cfg, skip):
            # hls4ml ChannelsLastConverter: 'transpose_input_for_<flatten>' restores PyTorch's
            # (C, H, W) element order before a Flatten; RemoveTransposeBeforeFlatten folds it
            # into the next Dense only in io_parallel (then it is not built)
            t_lp, t_g = _transpose_layer(op, cfg, in_types[0] if in_types else default, in_pack)
            layers.append(t_lp)
            geo[t_lp.name] = t_g
            in_pack = int(t_g["out_pack"])
        g["in_pack"] = in_pack
        for t in op.outputs:
            tensor_types[t.name] = g["result_t"]
            # hls4ml io_stream: a flatten/reshape keeps the stream's words (no repacking)
            packs[t.name] = in_pack if op.kind == RESHAPE else _pixels_channels(t.shape)[1]
        layers.append(lp)
        geo[lp.name] = g
        warnings.extend(lp.warnings)
        if cfg.io_type == "io_stream":
            for t in op.outputs:
                n_use = _stream_uses(graph, t.name)
                if n_use > 1:
                    c_lp, c_g = _clone_layer(
                        lp.name, lp.extra.get("aliases", ()), t.shape, g["result_t"], packs[t.name], n_use, cfg
                    )
                    layers.append(c_lp)
                    geo[c_lp.name] = c_g
    # ChannelsLastConversion 'full' (io_parallel): hls4ml transposes every input of rank >= 2
    # in a layer 'transpose_input_for_<input>' (free in io_parallel: permuted wiring)
    if cfg.channels_last_conversion == "full":
        pre = []
        for t in graph.inputs:
            # RemoveSingleChannelTranspose (optimizer/passes/transpose_opt.py): io_parallel, 1 channel
            if len(t.shape) >= 2 and not (cfg.io_type == "io_parallel" and int(t.shape[0]) == 1):
                n = int(math.prod(t.shape))
                ft = tensor_types[t.name]
                pre.append(
                    _inserted_layer(
                        f"transpose_input_for_{t.name}",
                        "Transpose",
                        n,
                        n,
                        cfg,
                        ft,
                        "hls4ml ChannelsLastConversion=full",
                        free=True,
                        aliases=("transpose_input_for_x", "transpose_input_for_input_1"),
                    )
                )
        layers = pre + layers
    style, w = rules.pipeline_style(
        cfg.io_type,
        [
            (lp.hls_class, geo[lp.name]["config_strategy"], int(lp.extra.get("n_partitions", 1)))
            for lp in layers
            if lp.name in geo
        ],
        cfg.pipeline_style,
    )
    if w:
        warnings.append(w)
    plan = FpgaPlan(
        layers=tuple(layers),
        pipeline_style=style,
        io_type=cfg.io_type,
        part=cfg.part,
        clock_period_ns=cfg.clock_period_ns,
        backend=cfg.backend,
        warnings=tuple(warnings),
    )
    return plan, geo


def _costed_array(warr: Mapping[str, Any] | None) -> Any:
    """The weight array the cost model reads for a layer (a plan-memo key): the dense/conv
    ``weight``, else a BatchNormalization's ``scale``; None without weights."""
    if not warr:
        return None
    w = warr.get("weight")
    return w if w is not None else warr.get("scale")


def _bn_scale(op: Op, weights: Mapping[str, Any] | None) -> Any:
    """The per-channel multiplier hls4ml's BatchNormalization applies (gamma / sqrt(var + eps),
    hls4ml converters/pytorch/core.py), from the op's arrays; None without them."""
    if not weights or weights.get("scale") is None:
        return None
    import numpy as np

    scale = np.asarray(weights["scale"], dtype=np.float64)
    if weights.get("var") is not None:
        scale = scale / np.sqrt(np.asarray(weights["var"], dtype=np.float64) + float(op.attrs.get("epsilon", 1e-5)))
    return scale


def _zero_padding_layer(op: Op, lp: LayerPlan, cfg: FpgaConfig, in_t: FixedType) -> tuple[LayerPlan, dict[str, Any]] | None:
    """io_stream only: hls4ml's InsertZeroPaddingBeforeConv1D/2D (backends/vivado/passes/
    conv_same_pad.py) moves a conv's padding into a ``zp1d_``/``zp2d_<conv>`` ZeroPadding layer
    (result type = the conv's input type) and makes the conv 'valid' on the padded input."""
    if cfg.io_type != "io_stream" or op.kind != CONV or lp.hls_class == "Dense":
        return None
    dims = int(op.attrs["dims"])
    pads = tuple(int(p) for p in op.attrs.get("pads", (0,) * (2 * dims)))
    if not any(pads):
        return None
    shape = tuple(int(x) for x in op.input_shape)
    ch = shape[0]
    if dims == 2:
        top, left, bottom, right = pads[0], pads[1], pads[2], pads[3]
        out_h, out_w = shape[1] + top + bottom, shape[2] + left + right
    else:
        out_h, out_w = 1, shape[1] + pads[0] + pads[1]
    pre = "zp2d_" if dims == 2 else "zp1d_"
    cls = f"ZeroPadding{dims}D"
    n_in = int(math.prod(shape))
    n_out = ch * out_h * out_w
    zlp = _inserted_layer(
        pre + lp.name,
        cls,
        n_in,
        n_out,
        cfg,
        in_t,
        "hls4ml InsertZeroPaddingBeforeConv (io_stream)",
        aliases=tuple(pre + a for a in lp.extra.get("aliases", ())),
        input=str(in_t),
        before=op.name,
    )
    zg: dict[str, Any] = {
        "kind": "zeropad",
        "function": "zeropad",
        "hls_class": cls,
        "config_strategy": cfg.strategy,
        "strategy": "latency",
        "input_t": in_t,
        "in_types": (in_t,),
        "result_t": in_t,
        "n_elements": n_out,
        "in_pixels": n_in // max(1, ch),
        "in_channels": ch,
        "out_pixels": out_h * out_w,
        "out_channels": ch,
        "out_w": out_w,
        "in_w": shape[-1],
        "reuse_factor": cfg.reuse_factor,
        "multiplier_limit": 0,
        "n_partitions": 1,
    }
    return zlp, zg


def _stream_uses(graph: OpGraph, tensor: str) -> int:
    """Streams hls4ml needs for ``tensor``: its consumers plus one if it is a model output."""
    return len(graph.consumers(tensor)) + (1 if tensor in graph.outputs else 0)


def _clone_layer(
    layer: str, aliases: Sequence[str], shape: Sequence[int], t: FixedType, pack: int, n_copies: int, cfg: FpgaConfig
) -> tuple[LayerPlan, dict[str, Any]]:
    """The Clone hls4ml's CloneOutput pass (backends/fpga/passes/clone.py) inserts in io_stream
    after a layer whose output stream is read more than once (a stream can be read only once):
    ``clone_<layer>``, nnet::clone_stream copies each word to ``n_copies`` streams (PIPELINE II=1)."""
    n = int(math.prod(shape)) if shape else 1
    pack = int(max(1, pack))
    lp = _inserted_layer(
        f"clone_{layer}",
        "Clone",
        n,
        n,
        cfg,
        t,
        "hls4ml CloneOutput (io_stream)",
        aliases=tuple(f"clone_{a}" for a in aliases),
        input=str(t),
        copies=n_copies,
    )
    g: dict[str, Any] = {
        "kind": "clone",
        "function": "clone",
        "hls_class": "Clone",
        "config_strategy": cfg.strategy,
        "strategy": "latency",
        "input_t": t,
        "in_types": (t,),
        "result_t": t,
        "n_elements": n,
        "in_pack": pack,
        "n_copies": int(n_copies),
        "in_pixels": -(-n // pack),
        "in_channels": pack,
        "out_pixels": -(-n // pack),
        "out_channels": pack,
        "in_w": int(shape[-1]) if shape else 1,
        "reuse_factor": cfg.reuse_factor,
        "multiplier_limit": 0,
        "n_partitions": 1,
    }
    return lp, g


def _flatten_transpose(graph: OpGraph, op: Op, cfg: FpgaConfig, skip: frozenset[str]) -> bool:
    """True when hls4ml builds a Transpose before the flatten ``op``.

    ``ChannelsLastConverter`` (optimizer/passes/convert_to_channels_last.py) inserts
    ``transpose_input_for_<reshape>`` before every Reshape to one dimension whose input has
    rank >= 2, unless ChannelsLastConversion is 'off'; ``RemoveTransposeBeforeFlatten`` removes
    it again when IOType is io_parallel, the input has rank 2 or 3 and the flatten's only
    consumer is a Dense (its weights are permuted instead)."""
    if op.kind != RESHAPE or cfg.channels_last_conversion == "off":
        return False
    if len(op.output_shape) != 1 or len(op.input_shape) < 2:
        return False
    if cfg.io_type == "io_parallel" and len(op.input_shape) in (2, 3):
        cons = [c for t in op.outputs for c in graph.consumers(t.name)]
        if len(cons) == 1 and cons[0].name not in skip and _hls_class(cons[0]) == "Dense":
            return False
    return True


def _transpose_layer(op: Op, cfg: FpgaConfig, in_t: FixedType, in_pack: int) -> tuple[LayerPlan, dict[str, Any]]:
    """The Transpose hls4ml inserts before the flatten ``op`` and its geometry: N elements,
    read as words of ``in_pack`` (channels-last stream) and written in PyTorch order, as words
    of the last axis of the channels-first shape (nnet_transpose_stream.h)."""
    n = int(math.prod(op.input_shape))
    out_pack = int(op.input_shape[-1])
    name = f"transpose_input_for_{op.name}"
    aliases = tuple(f"transpose_input_for_{a}" for a in name_aliases(op)[1:])
    lp = _inserted_layer(
        name,
        "Transpose",
        n,
        n,
        cfg,
        in_t,
        "hls4ml ChannelsLastConverter (transpose before Flatten)",
        aliases=aliases,
        input=str(in_t),
        before=op.name,
    )
    g: dict[str, Any] = {
        "kind": "transpose",
        "function": "transpose",
        "hls_class": "Transpose",
        "config_strategy": cfg.strategy,
        "strategy": "latency",
        "input_t": in_t,
        "in_types": (in_t,),
        "result_t": in_t,
        "n_elements": n,
        "in_pack": int(max(1, in_pack)),
        "out_pack": out_pack,
        "in_pixels": -(-n // max(1, in_pack)),
        "in_channels": int(max(1, in_pack)),
        "out_pixels": -(-n // out_pack),
        "out_channels": out_pack,
        "in_w": int(op.input_shape[-1]),
        "reuse_factor": cfg.reuse_factor,
        "multiplier_limit": 0,
        "n_partitions": 1,
    }
    return lp, g


def plan_layer(
    op: Op,
    cfg: FpgaConfig,
    in_types: Sequence[FixedType],
    default: FixedType,
    weights: Mapping[str, Any] | None = None,
    min_digits: int = 2,
) -> tuple[LayerPlan, dict[str, Any]]:
    """One op -> one hls4ml layer (see :func:`build_plan`). ``weights`` (the op's arrays,
    when the graph carries them) refine the share of constant multiplications on DSPs."""
    cls = _hls_class(op)
    names = name_aliases(op)
    ln, lt = cfg.lookup(names, cls)
    in_t = in_types[0] if in_types else default
    rf_req = (
        (ln.reuse_factor if ln and ln.reuse_factor else None)
        or (lt.reuse_factor if lt and lt.reuse_factor else None)
        or cfg.reuse_factor
    )
    strategy_cfg = (ln.strategy if ln and ln.strategy else None) or (lt.strategy if lt and lt.strategy else None) or cfg.strategy
    warnings: list[str] = []
    extra: dict[str, Any] = {}
    # emulate_missing: an op hls4ml 1.3.0 cannot build, costed in its style (flagged)
    emulated = str(op.attrs.get(EMULATED_ATTR, ""))
    g: dict[str, Any] = {
        "kind": op.kind,
        "function": op.function,
        "config_strategy": strategy_cfg,
        "input_t": in_t,
        "in_types": tuple(in_types),
    }
    n_in = n_out = 0
    rf = rf_req
    strategy = "latency"
    pf = 1
    mult_limit = 0
    prec: dict[str, str] = {}
    k = op.kind
    in_pix, in_ch = _pixels_channels(op.input_shape)
    out_pix, out_ch = _pixels_channels(op.output_shape)
    in_w = int(op.input_shape[-1]) if len(op.input_shape) >= 2 else 1
    g.update(
        in_w=in_w,
        in_pixels=in_pix,
        in_channels=in_ch,
        out_pixels=out_pix,
        out_channels=out_ch,
        n_elements=int(math.prod(op.output_shape)) if op.output_shape else 1,
    )

    if k in (DENSE, CONV):
        a = op.attrs
        if k == DENSE:
            n_in, n_out = int(a["n_in"]), int(a["n_out"])
            kernel: tuple[int, ...] = (1,)
            n_chan = n_in
            out_h, out_w = (op.rows, 1)
            if len(op.input_shape) == 3:
                out_h, out_w = int(op.input_shape[0]), int(op.input_shape[1])
            depthwise = False
            n_weights = n_in * n_out
        else:
            kernel = tuple(int(x) for x in a["kernel"])
            n_chan = int(a["in_channels"])
            n_out = int(a["out_channels"])
            depthwise = int(a["groups"]) != 1
            n_in = n_chan * int(math.prod(kernel))  # hls4ml get_layer_mult_size (also for depthwise)
            oshape = op.output_shape
            out_h, out_w = (int(oshape[1]), int(oshape[2])) if int(a["dims"]) == 2 else (1, int(oshape[1]))
            n_weights = op.n_weights
        is_conv = cls != "Dense"
        if strategy_cfg in ("resource", "resource_unrolled"):
            include_max = True
            use_resource = strategy_cfg == "resource"
            if strategy_cfg == "resource_unrolled":
                if rf_req == 1:
                    warnings.append(
                        f'Unrolled resource strategy cannot be combined with reuse factor 1 in layer "{names[0]}". Using "resource" strategy instead.'
                    )
                    use_resource = True
                elif is_conv and cfg.io_type == "io_parallel":
                    warnings.append(
                        f'Unrolled resource strategy cannot be combined with io_parallel in layer "{names[0]}". Using "resource" strategy instead.'
                    )
                    use_resource = True
                else:
                    include_max = False
            rf, w = rules.snap_reuse_factor(names[0], n_in, n_out, rf_req, include_max_rf=include_max)
            if w:
                warnings.append(w)
            strategy = "resource" if use_resource else "resource_unrolled"
        elif strategy_cfg == "distributed_arithmetic":
            if rf_req != 1:
                from hwsim.errors import ConfigError

                raise ConfigError(
                    f'LayerName.{names[0]}.ReuseFactor: layer {op.name!r} has rf = {rf_req} != 1, but has strategy = "distributed_arithmetic"'
                )
            strategy = "distributed_arithmetic"
        else:
            strategy = "latency"
        if is_conv:
            pf_req = (
                (ln.parallelization_factor if ln and ln.parallelization_factor else None)
                or (lt.parallelization_factor if lt and lt.parallelization_factor else None)
                or 1
            )
            pf, w = rules.snap_parallelization_factor(names[0], out_h, out_w, pf_req)
            if w:
                warnings.append(w)
            n_part = out_h * out_w // pf
            extra["n_partitions"] = n_part
            g["n_partitions"] = n_part
        else:
            g["n_partitions"] = 1
        n_zeros = int(round(n_weights * op.sparsity))
        mult_limit = rules.multiplier_limit(n_in, n_out, rf, n_zeros)
        # types
        q_w, q_b = _quant_weight(op, cfg), _to_fixed(op.precision.bias)
        auto_names: tuple[str, ...] = ("weight", "bias", "result", "accum")
        rs = _resolve_type("result", ln, lt, cfg, auto_names)
        acs = _resolve_type("accum", ln, lt, cfg, auto_names)
        ws_x = _explicit_type("weight", ln, lt, cfg)
        w_t = _weight_type(ws_x, q_w, default)
        # a layer without bias: hls4ml's Layer.add_bias makes a zero bias of type ap_uint<1>
        # whatever the config says (model/layers.py), and infers 'auto' types from it
        b_t = _weight_type(_explicit_type("bias", ln, lt, cfg), q_b, default) if bool(a.get("bias", True)) else UINT1
        n_ops = int(math.prod(kernel)) if depthwise else n_in
        inferred = rules.infer_common_precision(in_t, w_t, b_t, n_ops) or default
        acc_t = inferred if acs == "auto" else FixedType.parse(acs)
        res_t = inferred if rs == "auto" else FixedType.parse(rs)
        prec = {"weight": str(w_t), "bias": str(b_t), "result": str(res_t), "accum": str(acc_t)}
        # binary/ternary costing only where that type is really used: taken from the IR
        # (quantizer, or weight_types='ir') or given in the config as a 1/2-bit type
        wkind = (
            op.precision.weight.kind
            if (op.precision.weight is not None and ws_x in (None, "auto") and q_w is not None)
            else "fixed"
        )
        g["weight_array"] = _ArrayRef(weights.get("weight") if weights else None)
        g.update(
            n_in=n_in,
            n_out=n_out,
            n_weights=n_weights,
            n_zeros=n_zeros,
            kernel=kernel,
            n_chan=n_chan,
            depthwise=depthwise,
            out_h=out_h,
            out_w=out_w,
            weight_t=w_t,
            bias_t=b_t,
            accum_t=acc_t,
            result_t=res_t,
            weight_kind=wkind,
            pf=pf,
            rows=op.rows if k == DENSE else 1,
        )
    else:
        auto_names = ("result", "accum")
        rs = _resolve_type("result", ln, lt, cfg, auto_names)
        if k == BATCHNORM or (k == ELEMENTWISE and cls == "ApplyAlpha"):
            sc_s = _resolve_type("scale", ln, lt, cfg, ("scale", "bias"))
            bi_s = _resolve_type("bias", ln, lt, cfg, ("scale", "bias"))
            sc_t = _weight_type(sc_s, _to_fixed(op.precision.weight), default)
            bi_t = _weight_type(bi_s, _to_fixed(op.precision.bias), default)
            res_t = (rules.infer_bn_precision(in_t, sc_t, bi_t) or default) if rs == "auto" else FixedType.parse(rs)
            prec = {"scale": str(sc_t), "bias": str(bi_t), "result": str(res_t)}
            g.update(weight_t=sc_t, bias_t=bi_t, weight_array=_ArrayRef(_bn_scale(op, weights) if k == BATCHNORM else None))
            n_in = n_out = g["n_elements"]
            # batchnorm_config_template (backends/vivado/passes/core_templates.py):
            # multiplier_limit = DIV_ROUNDUP(n_in, reuse_factor); normalize() is pipelined
            # with II = reuse_factor (nnet_batchnorm.h). The reuse factor is not snapped.
            mult_limit = -(-int(n_in) // max(1, int(rf_req)))
        elif k == ACTIVATION:
            res_t = default if rs == "auto" else FixedType.parse(rs)
            prec = {"result": str(res_t)}
            if op.function in TABLE_ACTS or op.function == "softmax" or (emulated and op.function in EMULATED_TABLE_ACTS):
                table_t = _table_type("table", ln, lt, TABLE_T, default)
                tnames = ("table", "exp_table", "inv_table") if op.function == "softmax" else ("table",)
                warnings.extend(_ignored_table_precisions(names, ln, lt, cfg, tnames))
                prec["table"] = str(table_t)
                g["table_t"] = table_t
                g["table_size"] = (
                    (ln.table_size if ln and ln.table_size else None)
                    or (lt.table_size if lt and lt.table_size else None)
                    or TABLE_SIZE
                )
                if op.function == "softmax":
                    # exp/inv tables: hls4ml's attribute defaults fixed<18,8,RND,SAT> unless
                    # an exp_table_t/inv_table_t key sets them; accum: Layer._set_accum_t ->
                    # config.get_precision(layer, 'accum') = LayerName, LayerType, then the
                    # Model precision. config_from_*_model(granularity='name') writes accum
                    # 18,8 (the hwsim default config); 'auto' is not inferred for Softmax
                    # (infer_precision falls back to the Model default).
                    for tname in ("exp_table", "inv_table"):
                        prec[tname] = str(_table_type(tname, ln, lt, SOFTMAX_T, default))
                    acs = _resolve_type("accum", ln, lt, cfg, ("accum",))
                    if cfg.auto_types and acs == "auto":
                        acc_sm = SOFTMAX_T
                    else:
                        acc_sm = default if acs == "auto" else FixedType.parse(acs)
                    prec["accum"] = str(acc_sm)
                    g["softmax_accum_t"] = acc_sm
                if emulated and op.function in EMULATED_TABLE_ACTS:
                    extra["emulated"] = (
                        f"{emulated}; costed as a {int(g['table_size'])}-entry {table_t} lookup-table activation "
                        "exactly like hls4ml's sigmoid/tanh (nnet_activation.h)"
                    )
            n_in = n_out = g["n_elements"]
        elif k in (POOL, GLOBAL_POOL, REDUCE):
            if k == POOL:
                psize = int(math.prod(int(x) for x in op.attrs["kernel"]))
            elif k == GLOBAL_POOL:
                psize = int(math.prod(op.input_shape[1:])) if len(op.input_shape) > 1 else 1
            else:
                axis = int(tuple(op.attrs["axes"])[0]) % max(len(op.input_shape), 1)
                psize = int(op.input_shape[axis])
            fn = op.function
            is_max = fn == "max"
            acs = _resolve_type("accum", ln, lt, cfg, auto_names)
            if acs == "auto":
                acc_t = in_t if is_max else (rules.infer_avg_pool_accum(in_t, psize) or default)
            else:
                acc_t = FixedType.parse(acs)
            # pooling result 'auto' = input type (_infer_output_matching_precision)
            res_t = in_t if rs == "auto" else FixedType.parse(rs)
            prec = {"accum": str(acc_t), "result": str(res_t)}
            g.update(pool_size=psize, accum_t=acc_t)
            if k == POOL:
                g["pool_kernel"] = tuple(int(x) for x in op.attrs["kernel"])
                # average over a window that overlaps padding: nnet_pooling.h divides by the
                # count of real pixels (count_pad false, the ONNX/Keras default)
                g["pool_padded_avg"] = (not is_max) and any(int(p) for p in op.attrs.get("pads", ()))
            n_in = int(math.prod(op.input_shape)) if op.input_shape else 1
            n_out = g["n_elements"]
        elif k == ELEMENTWISE:
            f = MERGE_OPS[op.function]
            b_t = in_types[1] if len(in_types) > 1 else in_t
            res_t = (rules.infer_merge_precision(f, in_t, b_t) or default) if rs == "auto" else FixedType.parse(rs)
            prec = {"result": str(res_t)}
            g["merge_op"] = f
            g["weight_t"] = b_t
            n_in = n_out = g["n_elements"]
        elif k == LAYERNORM:
            if cfg.io_type != "io_parallel":
                from hwsim.errors import UnsupportedOpError

                raise UnsupportedOpError(
                    f"layer {names[0]!r}: hls4ml 1.3.0 implements LayerNormalization for io_parallel only (nnet_layernorm.h has no stream version)"
                    + ("; emulate_missing costs its io_parallel algorithm only" if emulated else "")
                )
            sc_s = _resolve_type("scale", ln, lt, cfg, ("scale", "bias"))
            bi_s = _resolve_type("bias", ln, lt, cfg, ("scale", "bias"))
            sc_t = _weight_type(sc_s, _to_fixed(op.precision.weight), default)
            bi_t = _weight_type(bi_s, _to_fixed(op.precision.bias), default)
            # hls4ml infers a LayerNormalization's 'auto' result as a BatchNormalization's
            # (infer_precision.py: _infer_bn_precision for both)
            res_t = (rules.infer_bn_precision(in_t, sc_t, bi_t) or default) if rs == "auto" else FixedType.parse(rs)
            acc_ln = _table_type("accum", ln, lt, LN_ACCUM_T, default)
            tab_ln = _table_type("table", ln, lt, LN_TABLE_T, default)
            prec = {"scale": str(sc_t), "bias": str(bi_t), "result": str(res_t), "accum": str(acc_ln), "table": str(tab_ln)}
            if emulated:
                # n = the normalised elements, rows = the rest (each row through layernorm_1d)
                dim = int(op.attrs["size"])
                seq = int(math.prod(op.input_shape)) // dim if op.input_shape else 1
            else:
                seq, dim = int(op.input_shape[0]), int(op.input_shape[1])
            tsize = (
                (ln.table_size if ln and ln.table_size else None)
                or (lt.table_size if lt and lt.table_size else None)
                or LN_TABLE_SIZE
            )
            g.update(weight_t=sc_t, bias_t=bi_t, accum_t=acc_ln, table_t=tab_ln, table_size=int(tsize), seq_len=seq, dim=dim)
            n_in = n_out = g["n_elements"]
            if emulated:
                affine = bool(op.attrs.get("affine", True))
                if not affine:
                    g["affine"] = False  # no scale multiplications, no bias additions
                extra["emulated"] = (
                    f"{emulated}; costed as hls4ml's LayerNormalization algorithm (nnet_layernorm.h layernorm_1d, "
                    f"{int(tsize)}-entry {tab_ln} 1/sqrt table, accum {acc_ln}) over n = {dim} normalised elements "
                    f"x {seq} row(s)" + ("" if affine else ", without the affine scale and bias")
                )
            else:
                warnings.append(
                    f"layer {names[0]!r}: hls4ml 1.3.0 converts LayerNorm from PyTorch (nn.LayerNorm) and Keras, not from ONNX"
                )
        elif k == MATMUL:
            if cfg.io_type != "io_parallel" or strategy_cfg not in ("latency", "distributed_arithmetic"):
                from hwsim.errors import UnsupportedOpError

                raise UnsupportedOpError(
                    f"layer {names[0]!r}: hls4ml 1.3.0 Einsum supports io_parallel and the Latency strategy only "
                    f"(backends/vivado/passes/einsum.py asserts it); got {cfg.io_type}, {strategy_cfg}"
                )
            a_shape, b_shape = tuple(op.inputs[0].shape), tuple(op.inputs[1].shape)
            n_inpl = int(math.prod(a_shape[:-2])) if len(a_shape) > 2 else 1
            l0, cc, l1 = int(a_shape[-2]), int(a_shape[-1]), int(b_shape[-1])
            b_t = in_types[1] if len(in_types) > 1 else in_t
            # Einsum is not in hls4ml's precision inference: 'auto' accum/result -> the default
            acs = _resolve_type("accum", ln, lt, cfg, auto_names)
            acc_t = default if acs == "auto" else FixedType.parse(acs)
            res_t = default if rs == "auto" else FixedType.parse(rs)
            total = n_inpl * l0 * l1 * cc
            mult_limit = -(-total // max(1, int(rf_req)))  # einsum.py: ceil(total_mults / reuse_factor)
            prec = {"input1": str(b_t), "accum": str(acc_t), "result": str(res_t)}
            g.update(weight_t=b_t, accum_t=acc_t, n_free0=l0, n_free1=l1, n_contract=cc, n_inplace=n_inpl, total_mults=total)
            n_in = int(math.prod(a_shape)) + int(math.prod(b_shape))
            n_out = g["n_elements"]
            g["n_in"] = n_in
            warnings.append(
                f"layer {names[0]!r}: hls4ml 1.3.0 builds a product of two activations only as an Einsum layer from "
                "torch.einsum (PyTorch frontend); torch.matmul/@ and ONNX MatMul of two activations have no converter"
            )
        elif k == CONCAT:
            t = in_t
            for other in in_types[1:]:
                t = rules.infer_cat_precision(t, other) or default
            res_t = t if rs == "auto" else FixedType.parse(rs)
            prec = {"result": str(res_t)}
            n_in = n_out = g["n_elements"]
        else:  # reshape / transpose: result matches the input
            res_t = in_t if rs == "auto" else FixedType.parse(rs)
            prec = {"result": str(res_t)}
            n_in = n_out = g["n_elements"]
        g["result_t"] = res_t
        strategy = strategy_cfg if strategy_cfg in ("latency", "resource") and k != MATMUL else "latency"
        rf = rf_req
    g.update(reuse_factor=rf, strategy=strategy, hls_class=cls, multiplier_limit=mult_limit)
    lp = LayerPlan(
        name=names[0],
        hls_class=cls,
        ops=(op.name,),
        n_in=n_in,
        n_out=n_out,
        reuse_factor_requested=rf_req,
        reuse_factor=rf,
        strategy=strategy,
        parallelization_factor=pf,
        multiplier_limit=mult_limit,
        precision=prec,
        warnings=tuple(warnings),
        extra={**extra, "aliases": names[1:], "input": str(in_t)},
    )
    return lp, g


# ---------------------------------------------------------------------------------------------
# Costs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    part: str
    family: str
    LUT: int
    FF: int
    DSP: int
    BRAM_18K: int
    URAM: int
    dsp_type: str
    dsp_a_bits: int
    dsp_b_bits: int


def short_rom_pipeline(rf: int, block: int, weight_bits: int, const_w: bool, c: Mapping[str, float]) -> bool:
    """Whether the Resource kernel's ReuseLoop is one stage shorter (RF + depth - 1 cycles):
    one multiplier (block factor 1) reading a weight ROM of at most
    ``dense_resource_short_rom_max_depth`` words of at most ``..._max_weight_bits`` bits.
    Seen in Vitis HLS 2023.2 csynth (wa-hls4ml: the 24x8 layers at <= 8 bits); the
    thresholds are fitted/assumed, their sources are in constants.json."""
    return (
        not const_w
        and block == 1
        and rf <= int(c["dense_resource_short_rom_max_depth"])
        and weight_bits <= int(c["dense_resource_short_rom_max_weight_bits"])
    )


def dsps_per_mult(a_bits: int, b_bits: int, dev: Device) -> int:
    """DSP slices for one a x b multiplication: ceil(wide/A)*ceil(narrow/B) with the slice's
    A x B multiplier (27x18 DSP48E2, 25x18 DSP48E1)."""
    wide, narrow = max(a_bits, b_bits), min(a_bits, b_bits)
    return math.ceil(wide / dev.dsp_a_bits) * math.ceil(narrow / dev.dsp_b_bits)


def bram18_for(width: int, depth: int) -> int:
    """BRAM18 blocks for a width x depth memory, best of the 18Kb aspect ratios
    (16384x1, 8192x2, 4096x4, 2048x9, 1024x18, 512x36; AMD UG573)."""
    if width <= 0 or depth <= 0:
        return 0
    best = None
    for d, w in ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)):
        n = math.ceil(width / w) * math.ceil(depth / d)
        best = n if best is None else min(best, n)
    return int(best or 0)


def outidx_bram18(n_in: int, rf: int, min_bits: int = 0) -> int:
    """BRAM18 blocks of the output-index table of hls4ml's Resource dense kernel.

    ``nnet_dense_resource.h`` (templates/vivado/nnet_utils, also used by the Vitis backend,
    which has no override) dispatches ``reuse_factor > n_in`` with ``reuse_factor % n_in == 0``
    (every valid Resource RF above ``n_in``) to ``dense_resource_rf_gt_nin_rem0``, which fills
    ``int outidx[rufactor]`` once (``outidx[ir] = ir / n_in``) and reads it in the RF-cycle
    ``ReuseLoop``. The array is declared 32-bit ``int``, but its contents are loop-computed
    constants in ``[0, rf / n_in)``; HLS keeps it as a table of ``ceil(log2(rf / n_in))`` bits
    x ``rf`` words (this width, not 32, reproduces Vitis HLS 2023.2's BRAM_18K on wa-hls4ml:
    with 32-bit words the fit on the same rows leaves a median error of ~17-23 %, with the
    narrowed width ~0.4 %). Blocks from the best 18 Kb aspect ratio (:func:`bram18_for`, UG573).
    ``rufactor = min(rf, n_in*n_out)`` in the template; ``rf`` here is the validated RF.
    Returns 0 when the kernel is ``dense_resource_rf_leq_nin`` or ``..._rf_gt_nin`` (no table)
    and when the table has fewer than ``min_bits`` bits (built in LUTs: rule ``rom_bram_min_bits``)."""
    if n_in <= 0 or rf <= n_in or rf % n_in:
        return 0
    width = max(1, math.ceil(math.log2(rf // n_in)))
    if width * rf < min_bits:
        return 0
    return bram18_for(width, rf)


def naf_digits(q: np.ndarray) -> np.ndarray:
    """Non-zero digits of the canonical signed-digit (non-adjacent) form of integers ``q``:
    the adders a constant multiplier needs + 1 (a single digit is a shift)."""
    import numpy as np

    x = np.abs(q.astype(np.int64))
    h = x >> 1
    x3 = x + h
    c = h ^ x3
    pos, neg = (x3 & c).astype(np.uint64), (h & c).astype(np.uint64)
    n = np.zeros(x.shape, dtype=np.int64)
    while pos.any() or neg.any():
        n += (pos & np.uint64(1)).astype(np.int64) + (neg & np.uint64(1)).astype(np.int64)
        pos >>= np.uint64(1)
        neg >>= np.uint64(1)
    return n


_FRAC_CACHE: dict[Any, tuple[Any, tuple[float, float, float]]] = {}


def const_mult_stats(weights: Any, w_t: FixedType, min_digits: int, limit: float = 1.0) -> tuple[float, float, float]:
    """Statistics of the non-zero constant multiplications of a layer, from the canonical
    signed-digit (CSD) form of each quantized weight:

    * the fraction HLS maps to a DSP: constants with at least ``min_digits`` non-zero digits
      (fewer become shifts and adds in LUTs; a single digit is a shift);
    * the mean number of adders (digits - 1) of the constants left in LUTs by that rule;
    * the mean number of adders of all constants (when no DSP may be used).

    With the weight values (``weights``) the constants are counted; without them the weights
    are assumed uniform in [-limit, limit] (callers pass the Glorot-uniform limit
    sqrt(6/(fan_in+fan_out)), the scale of Keras/PyTorch-initialised and typical trained
    weights), clipped to the type's range and quantized to ``w_t``."""
    import numpy as np

    frac = w_t.width - w_t.integer
    key = (id(weights) if weights is not None else None, w_t, min_digits, round(limit, 6))
    hit = _FRAC_CACHE.get(key)
    if hit is not None and hit[0] is weights:
        return hit[1]
    hi = 2 ** (w_t.width - 1) - 1 if w_t.signed else 2**w_t.width - 1
    lo = -(2 ** (w_t.width - 1)) if w_t.signed else 0
    if weights is not None:
        q = np.clip(np.round(np.asarray(weights, dtype=np.float64) * 2.0**frac), lo, hi)
    else:
        m = int(min(limit * 2.0**frac, hi))
        q = np.arange(max(-m, lo), m + 1, dtype=np.int64)
    q = q[q != 0]
    if q.size:
        d = naf_digits(q)
        on_dsp = d >= min_digits
        f = float(on_dsp.mean())
        lut_adders = float((d[~on_dsp] - 1).mean()) if (~on_dsp).any() else 0.0
        all_adders = float((d - 1).mean())
        res = (f, lut_adders, all_adders)
    else:
        res = (0.0, 0.0, 0.0)
    if len(_FRAC_CACHE) > 4096:
        _FRAC_CACHE.clear()
    _FRAC_CACHE[key] = (weights, res)
    return res


_COUNT_CACHE: dict[Any, tuple[Any, tuple[int, int]]] = {}


def const_mult_counts(weights: Any, w_t: FixedType, min_digits: int) -> tuple[int, int]:
    """(non-zero constants, constants HLS maps to a DSP) among the known weight values
    quantized to ``w_t`` (round to nearest, saturate): what synthesis sees after constant
    propagation. A weight that quantizes to 0 is no multiplication even when its float value
    is not 0 (hls4ml's ``nzeros`` and ``Op.sparsity`` count float zeros); a constant with fewer
    than ``min_digits`` CSD digits becomes shifts and adds in LUTs."""
    import numpy as np

    key = (id(weights), w_t, min_digits)
    hit = _COUNT_CACHE.get(key)
    if hit is not None and hit[0] is weights:
        return hit[1]
    frac = w_t.width - w_t.integer
    hi = 2 ** (w_t.width - 1) - 1 if w_t.signed else 2**w_t.width - 1
    lo = -(2 ** (w_t.width - 1)) if w_t.signed else 0
    q = np.clip(np.round(np.asarray(weights, dtype=np.float64) * 2.0**frac), lo, hi)
    q = q[q != 0]
    res = (int(q.size), int((naf_digits(q) >= min_digits).sum()) if q.size else 0)
    if len(_COUNT_CACHE) > 4096:
        _COUNT_CACHE.clear()
    _COUNT_CACHE[key] = (weights, res)
    return res


def const_weight_bits(weights: Any, w_t: FixedType, limit: float = 1.0) -> int:
    """Significant bits (sign included) of the largest constant weight quantized to ``w_t``:
    the product width HLS keeps for a multiplication by constants of that range (it drops the
    sign-extension bits of a narrow constant). Without weight values: the Glorot-uniform
    ``limit``, as :func:`const_mult_stats` assumes."""
    import numpy as np

    frac = w_t.width - w_t.integer
    hi = 2 ** (w_t.width - 1) - 1 if w_t.signed else 2**w_t.width - 1
    if weights is not None:
        arr = np.asarray(weights, dtype=np.float64)
        m = float(np.max(np.abs(arr))) if arr.size else 0.0
    else:
        m = limit
    q = int(min(round(m * 2.0**frac), hi))
    return min(w_t.width, max(1, q.bit_length()) + (1 if w_t.signed else 0))


def const_dsp_fraction(weights: Any, w_t: FixedType, min_digits: int, limit: float = 1.0) -> float:
    """The DSP fraction of :func:`const_mult_stats`."""
    return const_mult_stats(weights, w_t, min_digits, limit)[0]


def _tree_cycles(n: int, c: Mapping[str, float], clock_ns: float) -> int:
    """Pipeline cycles of an n-input adder (or comparator) tree."""
    if n <= 1:
        return 0
    levels = math.ceil(math.log2(n))
    per_cycle = max(1e-9, float(c["adder_levels_per_cycle"]) * clock_ns / 5.0)
    return int(math.ceil(levels / per_cycle - 1e-9))


@dataclass
class LayerCost:
    latency: int
    ii: int
    dsp: float
    features: dict[str, float] = field(default_factory=dict)  # "<metric>:<param>" -> coefficient
    stream_depth: int = 0  # latency beyond the streamed pixels (io_stream DATAFLOW tail)
    notes: dict[str, Any] = field(default_factory=dict)
    _values: dict[int, tuple[Any, dict[str, float]]] = field(default_factory=dict, repr=False)

    def metric_values(self, c: Mapping[str, float]) -> dict[str, float]:
        """LUT, FF, BRAM_18K for the constants ``c`` (memoised per constants mapping)."""
        hit = self._values.get(id(c))
        if hit is not None and hit[0] is c:
            return hit[1]
        vals = {m: value_from_features(self.features, c, m) for m in ("LUT", "FF", "BRAM_18K")}
        if len(self._values) > 8:
            self._values.clear()
        self._values[id(c)] = (c, vals)
        return vals


def _add(feats: dict[str, float], metric: str, param: str, coef: float) -> None:
    if coef:
        key = f"{metric}:{param}"
        feats[key] = feats.get(key, 0.0) + float(coef)


def cost_layer(
    g: Mapping[str, Any], c: Mapping[str, float], dev: Device, io_type: str, clock_ns: float, backend: str
) -> LayerCost:
    """Cycles, DSP and the LUT/FF/BRAM feature coefficients of one hls4ml layer.

    ``g`` is the geometry :func:`plan_layer` returns; ``c`` the constant values by name."""
    k = g["kind"]
    cls = g["hls_class"]
    feats: dict[str, float] = {}
    stream = io_type == "io_stream"
    rf = int(g["reuse_factor"])
    in_t: FixedType = g["input_t"]
    res_t: FixedType = g["result_t"]
    ib, ob = in_t.width, res_t.width
    lat = ii = 0
    dsp = 0.0
    depth = 0
    notes: dict[str, Any] = {}
    _add(feats, "LUT", "lut_per_layer", 1.0 if k != RESHAPE else 0.0)
    _add(feats, "FF", "ff_per_layer", 1.0 if k != RESHAPE else 0.0)

    if k in (DENSE, CONV):
        n_in, n_out = int(g["n_in"]), int(g["n_out"])
        strategy = g["strategy"]
        w_t: FixedType = g["weight_t"]
        acc_t: FixedType = g["accum_t"]
        wb, ab = w_t.width, acc_t.width
        n_w = int(g["n_weights"])
        nz = n_w - int(g["n_zeros"])
        is_dense = cls == "Dense"
        n_part = int(g.get("n_partitions", 1))
        pf = int(g.get("pf", 1))
        # multiplications per kernel evaluation (one output pixel / one dense call)
        per_eval = n_w if not g.get("depthwise") else n_w
        block = -(-per_eval // rf)
        # constant weights: Latency/DA, and Resource at RF 1 (nnet_dense_resource.h puts the
        # weights in a ROM only when reuse_factor > 1; at RF 1 they are constants in fabric)
        const_w = strategy in ("latency", "distributed_arithmetic") or rf == 1
        lowbit = g.get("weight_kind") in ("binary", "ternary") or wb <= 2
        if const_w:
            mults = max(0, -(-per_eval // rf) - int(g["n_zeros"]) // rf)  # multiplier_limit
        else:
            mults = block
        tree = _tree_cycles(n_in if not g.get("depthwise") else int(math.prod(g["kernel"])), c, clock_ns)
        if strategy in ("resource", "resource_unrolled"):
            compute = rf + int(c["dense_resource_depth"])
            if strategy == "resource" and short_rom_pipeline(rf, block, wb, const_w, c):
                compute -= 1
                notes["short_rom_pipeline"] = (
                    f"one multiplier reading a {rf}-word ROM of {wb}-bit weights: RF + "
                    f"{int(c['dense_resource_depth']) - 1} cycles (Vitis HLS 2023.2 schedule, wa-hls4ml fit)"
                )
        else:
            compute = (rf - 1) + int(c["dense_latency_mult_cycles"]) + tree
        if is_dense:
            if stream:
                words = -(-n_in // max(1, int(g.get("in_pack", g["in_channels"]))))
                lat = (words - 1) * int(c["stream_read_cycles_per_word"]) + compute + int(c["dense_stream_depth"])
                if words == 1:  # one word: HLS removes the trip-count-1 read loop
                    lat = max(lat - int(c["stream_loop_entry_cycles"]), 0)
                ii = max(rf, words)
                depth = lat
            else:
                lat, ii = compute, rf
        else:
            if stream:
                per_pixel = rf
                lat = int(g["in_pixels"]) * per_pixel + int(
                    c["conv_stream_depth_2d"] if cls.endswith("2D") else c["conv_stream_depth_1d"]
                )
                ii = lat
                depth = lat - int(g["in_pixels"]) * per_pixel
            else:
                lat = n_part * rf + int(c["conv_parallel_depth"])
                ii = n_part * rf
        inst = pf if (not is_dense and not stream) else 1
        # ---- multipliers -> DSP or LUT
        adders_per_lut_mult = 0.0
        if lowbit:
            n_dsp_mults = 0.0
            n_lut_mults = 0.0
        else:
            per = dsps_per_mult(wb, ib, dev) if wb >= int(c["dsp_min_weight_bits"]) else 0
            if strategy == "distributed_arithmetic":
                per = 0
            counts = None
            if const_w:
                fan_in = int(math.prod(g["kernel"])) * (1 if g.get("depthwise") else int(g["n_chan"]))
                glorot = math.sqrt(6.0 / max(1, fan_in + int(n_out) * int(math.prod(g["kernel"]))))
                warr = g["weight_array"].array
                frac, lut_adders, all_adders = const_mult_stats(warr, w_t, int(c["const_mult_dsp_min_csd_digits"]), glorot)
                if warr is not None:
                    counts = const_mult_counts(warr, w_t, int(c["const_mult_dsp_min_csd_digits"]))
            else:
                frac, lut_adders, all_adders = 1.0, 0.0, 0.0
            if per and counts is not None:
                # known weights: count the constants (DSP per multiplier instance = whole
                # constant multiplications shared over the reuse factor's cycles)
                n_nz_q, n_on = counts
                n_dsp_mults = float(-(-n_on // rf) * inst)
                dsp = n_dsp_mults * per
                n_lut_mults = max(0.0, n_nz_q / rf * inst - n_dsp_mults)
                adders_per_lut_mult = lut_adders
                notes["dsp_estimate"] = "count (weights)"
            elif per:
                n_dsp_mults = mults * frac * inst
                dsp = n_dsp_mults * per
                n_lut_mults = mults * inst - n_dsp_mults
                adders_per_lut_mult = lut_adders
                if const_w:
                    notes["dsp_estimate"] = "expected (no weights)"
            else:
                n_dsp_mults = 0.0
                n_lut_mults = float(mults * inst)
                adders_per_lut_mult = all_adders
        if const_w:
            # a constant multiplier in fabric = (CSD digits - 1) shift-adds of ~(in + weight) bits
            _add(feats, "LUT", "lut_per_const_mult_adder_bit", n_lut_mults * adders_per_lut_mult * (wb + ib))
        else:
            _add(feats, "LUT", "lut_per_mult_bit2", n_lut_mults * wb * ib)
        # ---- adders: every non-zero product is accumulated (plus the bias). With constant
        # weights HLS keeps the bits the sums can reach (input + weight significant bits +
        # tree growth), not the full accumulator type
        if const_w and not lowbit:
            fan = n_in if not g.get("depthwise") else int(math.prod(g["kernel"]))
            reach = ib + const_weight_bits(g["weight_array"].array, w_t, glorot) + max(0, math.ceil(math.log2(max(fan, 1))))
            ab = min(ab, reach)
        adds_hw = (nz if const_w else block) / (rf if const_w else 1) + n_out
        _add(feats, "LUT", "lut_per_adder_bit", adds_hw * ab * inst)
        if not const_w and rf > 1:
            _add(feats, "LUT", "lut_per_mux_bit", mults * ib * min(rf, n_in) * inst)
            if backend == "Vivado":
                _add(feats, "BRAM_18K", "bram_weight_scale", bram18_for(block * wb, rf))
            else:
                _add(feats, "LUT", "lut_per_rom_bit", n_w * wb)
            if strategy == "resource":
                _add(feats, "BRAM_18K", "bram_per_resource_layer", float(inst))
                _add(feats, "BRAM_18K", "bram_index_scale", float(inst * outidx_bram18(n_in, rf, int(c["rom_bram_min_bits"]))))
        if lat > 0:
            # partial sums cut by pipeline registers: after k cycles of an adder tree that
            # closes `lpc` levels per cycle, mults / 2**(k*lpc) partial sums remain
            lpc = max(1e-9, float(c["adder_levels_per_cycle"]) * clock_ns / 5.0)
            stages = min(int(lat if not stream else depth), 64)
            alive = sum(2.0 ** (-k * lpc) for k in range(1, stages + 1))
            _add(feats, "FF", "ff_per_product_bit", mults * inst * ab * alive)
            _add(feats, "FF", "ff_per_acc_bit_cycle", n_out * ab * max(1, min(lat, rf) if not stream else 1) * inst)
        if not stream or is_dense:
            _add(feats, "FF", "ff_per_io_bit", (n_in * ib + n_out * ob) * inst if lat > 0 else 0)
        if stream and not is_dense:
            kern = g["kernel"]
            _add(feats, "LUT", "lut_per_linebuffer_bit", _linebuffer_bits(g, ib))
            _add(feats, "FF", "ff_per_linebuffer_bit", int(math.prod(kern)) * int(g["n_chan"]) * ib)
        notes.update(multipliers=mults * inst, dsp_multipliers=n_dsp_mults)
    elif k == ACTIVATION:
        f = g["function"]
        n_par = int(g["out_channels"]) if stream else int(g["n_elements"])
        pix = int(g["out_pixels"]) if stream else 1
        if f == "softmax":
            lat = int(c["softmax_cycles"]) + (pix - 1 if stream else 0)
            ii = pix if stream else 1
            depth = int(c["softmax_cycles"])
            per = dsps_per_mult(SOFTMAX_T.width, SOFTMAX_T.width, dev) if SOFTMAX_T.width >= int(c["dsp_min_weight_bits"]) else 0
            dsp = float(n_par * per)
            tb = g["table_t"].width
            _add(feats, "BRAM_18K", "bram_table_scale", (math.ceil(n_par / 2) + 1) * bram18_for(tb, int(g["table_size"])))
            _add(feats, "LUT", "lut_per_table_lookup_bit", (n_par + 1) * tb)
            _add(feats, "LUT", "lut_per_adder_bit", n_par * g.get("softmax_accum_t", SOFTMAX_T).width)
            _add(feats, "LUT", "lut_per_cmp_bit", n_par * ib)
            _add(feats, "FF", "ff_per_io_bit", n_par * (ib + ob) + n_par * SOFTMAX_T.width * depth)
        elif f in TABLE_ACTS or f in EMULATED_TABLE_ACTS:  # the latter only when emulated
            d = int(c["act_table_stream_depth"] if stream else c["act_table_cycles_parallel"])
            if backend == "Vitis":
                d += int(c["act_table_vitis_extra_cycles"])
            lat, depth = _stream_loop_cycles(pix, d, c) if stream else (d, d)
            ii = lat if stream else 1
            tb = g["table_t"].width
            _add(feats, "BRAM_18K", "bram_table_scale", math.ceil(n_par / 2) * bram18_for(tb, int(g["table_size"])))
            _add(feats, "LUT", "lut_per_table_lookup_bit", n_par * tb)
            _add(feats, "LUT", "lut_per_cmp_bit", n_par * ib)
            _add(feats, "FF", "ff_per_io_bit", n_par * (ib + ob) * max(1, d))
        else:  # relu-like
            d = int(c["act_stream_depth"] if stream else c["act_relu_cycles_parallel"])
            lat, depth = _stream_loop_cycles(pix, d, c) if stream else (d, d)
            ii = lat if stream else 1
            _add(feats, "LUT", "lut_per_cmp_bit", n_par * ib)
            if f in ("leaky_relu", "prelu"):
                _add(feats, "LUT", "lut_per_const_mult_adder_bit", n_par * 2 * (ib + 8))  # alpha: ~3 CSD digits
            if lat > 0:
                _add(feats, "FF", "ff_per_io_bit", n_par * ob)
    elif k == BATCHNORM or (k == ELEMENTWISE and cls == "ApplyAlpha"):
        n_par = int(g["out_channels"]) if stream else int(g["n_elements"])
        pix = int(g["out_pixels"]) if stream else 1
        d = int(c["bn_cycles"])
        # io_parallel: normalize() has PIPELINE II=reuse_factor and at most multiplier_limit =
        # ceil(n_in / reuse_factor) multipliers (nnet_batchnorm.h, batchnorm_config_template):
        # the n_in products are issued over reuse_factor cycles
        lat = pix + d if stream else d + (rf - 1)
        ii = lat if stream else rf
        depth = d
        n_mult = n_par if stream else min(n_par, max(1, int(g.get("multiplier_limit") or n_par)))
        w_t = g["weight_t"]
        per = dsps_per_mult(w_t.width, ib, dev) if w_t.width >= int(c["dsp_min_weight_bits"]) else 0
        scale = g["weight_array"].array
        n_el = int(g["n_elements"])
        size = int(scale.size) if scale is not None else 0
        known = per and size > 0 and (size == n_par if stream else n_el % size == 0)
        frac, lut_adders, all_adders = const_mult_stats(
            scale if known else None, w_t, int(c["const_mult_dsp_min_csd_digits"]), 1.0
        )
        frac = frac if per else 0.0
        if known:
            # known scales: count the products whose constant lands on a DSP. io_parallel:
            # every element is multiplied by its channel's constant, the n_elements products
            # issued over reuse_factor cycles (multiplier_limit); io_stream: one multiplier
            # per word element, constant when the word holds the channels
            _nz, n_on_ch = const_mult_counts(scale, w_t, int(c["const_mult_dsp_min_csd_digits"]))
            n_dsp = n_on_ch if stream else -(-(n_on_ch * (n_el // size)) // max(1, rf))
            n_dsp = min(n_dsp, n_mult)
            dsp = float(n_dsp * per)
            lut_mults = max(0.0, n_mult - n_dsp)
            notes["dsp_estimate"] = "count (weights)"
        elif per and size > 0:
            # io_stream with the scale along another axis than the word: each multiplier sees
            # several constants, i.e. it is a general multiplier -> a DSP each
            dsp = float(n_mult * per)
            lut_mults = 0.0
            notes["dsp_estimate"] = "count (weights)"
        else:
            dsp = n_mult * per * frac
            lut_mults = n_mult * (1 - frac)
            if per and frac not in (0.0, 1.0):
                notes["dsp_estimate"] = "expected (no weights)"
        _add(feats, "LUT", "lut_per_const_mult_adder_bit", lut_mults * (lut_adders if per else all_adders) * (w_t.width + ib))
        _add(feats, "LUT", "lut_per_adder_bit", n_par * ob)
        _add(feats, "FF", "ff_per_io_bit", n_par * (ib + ob))
    elif k in (POOL, GLOBAL_POOL, REDUCE):
        psize = int(g["pool_size"])
        is_max = g["function"] == "max"
        acc_t = g["accum_t"]
        if stream:
            pix = psize if k == REDUCE else int(g["in_pixels"])
            lat = pix + int(c["pool_stream_depth"])
            ii = lat
            depth = int(c["pool_stream_depth"])
            n_units = int(g["out_channels"])
        else:
            lat = int(c["pool_parallel_cycles"]) if k == POOL else _tree_cycles(psize, c, clock_ns)
            ii = 1
            n_units = int(g["n_elements"])
            if k == POOL and backend == "Vivado" and g.get("pool_padded_avg"):
                # Vivado HLS keeps the division by the window's pixel count: a pipelined divider
                # per output (Vitis HLS folds it once the loops are unrolled)
                lat = int(c["vivado_avgpool_divider_cycles"])
                _add(feats, "LUT", "lut_per_pool_divider", n_units)
                _add(feats, "FF", "ff_per_pool_divider", n_units)
                notes["pool_divider"] = (
                    f"Vivado HLS: {n_units} dividers (one per output) for the average over padded windows; "
                    "Vitis HLS or count_include_pad avoids them"
                )
        _add(feats, "LUT", "lut_per_cmp_bit" if is_max else "lut_per_adder_bit", n_units * max(psize - 1, 1) * acc_t.width)
        if stream:
            _add(feats, "FF", "ff_per_io_bit", n_units * (ob + acc_t.width))
        else:
            # io_parallel pooling registers its whole input (CI baselines: FF = in elements x bits + 2)
            _add(feats, "FF", "ff_per_io_bit", int(g["in_pixels"]) * int(g["in_channels"]) * ib)
        if stream and k == POOL:
            _add(feats, "LUT", "lut_per_linebuffer_bit", _linebuffer_bits(g, ib))
            _add(feats, "FF", "ff_per_linebuffer_bit", psize * int(g["in_channels"]) * ib)
    elif k == ELEMENTWISE:  # Merge
        n_par = int(g["out_channels"]) if stream else int(g["n_elements"])
        pix = int(g["out_pixels"]) if stream else 1
        d = int(c["merge_cycles"])
        lat = pix + d if stream else d
        ii = lat if stream else 1
        depth = d
        if g["merge_op"] == "multiply":
            b_t = g["weight_t"]
            per = dsps_per_mult(b_t.width, ib, dev) if min(b_t.width, ib) >= int(c["dsp_min_weight_bits"]) else 0
            dsp = float(n_par * per)
            if not per:
                _add(feats, "LUT", "lut_per_mult_bit2", n_par * b_t.width * ib)
        elif g["merge_op"] in ("maximum", "minimum"):
            _add(feats, "LUT", "lut_per_cmp_bit", n_par * ob)
        else:
            _add(feats, "LUT", "lut_per_adder_bit", n_par * ob)
        _add(feats, "FF", "ff_per_io_bit", n_par * ob)
    elif k == LAYERNORM:
        # nnet_layernorm.h: the seq_len rows go through one pipelined layernorm_1d
        # (PIPELINE II=reuse_factor): sum tree, mean, diff and square, sum tree, variance,
        # 1/sqrt table read, diff*1/sqrt*scale + bias
        seq, dim = int(g["seq_len"]), int(g["dim"])
        acc_t, tab_t, sc_t = g["accum_t"], g["table_t"], g["weight_t"]
        aw = acc_t.width
        depth = 2 * _tree_cycles(dim, c, clock_ns) + int(c["layernorm_op_cycles"])
        lat = depth + (rf - 1) + (seq - 1) * rf
        ii = seq * rf
        min_bits = int(c["dsp_min_weight_bits"])
        # (count per row, a bits, b bits) of the row's multiplications; HLS shares them over
        # the II = reuse_factor cycles (assumption, as batchnorm's multiplier_limit)
        affine = bool(g.get("affine", True))  # False only for an emulated LayerNorm without weights
        groups: tuple[tuple[int, int, int], ...] = ((2, aw, aw), (dim, aw, aw), (dim, aw, tab_t.width))
        if affine:
            groups += ((dim, aw + tab_t.width, sc_t.width),)
        n_dsp = 0
        for n_m, a_b, b_b in groups:
            n_sh = -(-n_m // max(1, rf))
            per = dsps_per_mult(a_b, b_b, dev) if min(a_b, b_b) >= min_bits else 0
            if per:
                n_dsp += n_sh * per
            else:
                _add(feats, "LUT", "lut_per_mult_bit2", n_sh * a_b * b_b)
        dsp = float(n_dsp)
        _add(feats, "LUT", "lut_per_adder_bit", 3 * dim * aw + (dim * ob if affine else 0))  # two sums, diff, bias add
        _add(feats, "BRAM_18K", "bram_table_scale", bram18_for(tab_t.width, int(g["table_size"])))
        _add(feats, "FF", "ff_per_io_bit", dim * (ib + ob))
        _add(feats, "FF", "ff_per_product_bit", 2 * dim * aw)  # data_diff held across the pipeline
        notes["dsp_estimate"] = "count"
    elif k == MATMUL:  # hls4ml Einsum (nnet_einsum.h): PIPELINE II=RF, ALLOCATION mul limit
        total = int(g["total_mults"])
        ml = int(g["multiplier_limit"])
        b_t = g["weight_t"]
        aw = g["accum_t"].width
        lat = (rf - 1) + int(c["dense_latency_mult_cycles"]) + _tree_cycles(int(g["n_contract"]), c, clock_ns)
        ii = rf
        per = dsps_per_mult(b_t.width, ib, dev) if min(b_t.width, ib) >= int(c["dsp_min_weight_bits"]) else 0
        dsp = float(ml * per)
        if not per:
            _add(feats, "LUT", "lut_per_mult_bit2", ml * b_t.width * ib)
        _add(feats, "LUT", "lut_per_adder_bit", ml * aw)
        if lat > 0:
            lpc = max(1e-9, float(c["adder_levels_per_cycle"]) * clock_ns / 5.0)
            alive = sum(2.0 ** (-k_ * lpc) for k_ in range(1, min(int(lat), 64) + 1))
            _add(feats, "FF", "ff_per_product_bit", ml * aw * alive)
            _add(feats, "FF", "ff_per_io_bit", int(g["n_in"]) * ib + int(g["n_elements"]) * ob)
        notes.update(multipliers=ml, total_multiplications=total)
    elif k == CONCAT:
        if stream:
            lat = int(g["out_pixels"]) + int(c["merge_cycles"])
            ii = lat
            depth = int(c["merge_cycles"])
    elif k == "transpose":  # hls4ml-inserted Transpose before a Flatten
        if stream:
            # nnet_transpose_stream.h: read N/in_pack words into a fully partitioned array
            # (PIPELINE II=1), then write N/out_pack words; the next layer waits for the write
            n = int(g["n_elements"])
            w_in = -(-n // int(g["in_pack"]))
            w_out = -(-n // int(g["out_pack"]))
            d = int(c["act_stream_depth"])
            lat = w_in + w_out + d
            ii = lat
            depth = w_out + d
            _add(feats, "FF", "ff_per_io_bit", n * ib)  # the partitioned data_array
            _add(feats, "LUT", "lut_per_mux_bit", n * ib)  # out_pack outputs x (N/out_pack):1 muxes
        else:  # io_parallel: a permutation of wires
            lat = ii = 0
            feats.clear()
    elif k == "zeropad":  # io_stream: nnet::zeropad*d_cl writes every padded pixel (PIPELINE II=1)
        d = int(c["act_stream_depth"])
        lat = int(g["out_pixels"]) + d
        ii = lat
        depth = d
        _add(feats, "LUT", "lut_per_cmp_bit", int(g["out_channels"]) * ib)  # zero-or-data select
        _add(feats, "FF", "ff_per_io_bit", int(g["out_channels"]) * ib)
    elif k == "clone":  # io_stream: nnet::clone_stream, one word per cycle to every copy
        d = int(c["merge_cycles"])
        lat = int(g["out_pixels"]) + d
        ii = lat
        depth = d
        _add(feats, "FF", "ff_per_io_bit", int(g["out_channels"]) * ob * int(g["n_copies"]))
    else:  # reshape, transpose: free (wiring)
        lat = ii = 0
    if stream and k != RESHAPE:
        # output FIFO: depth = pixels, width = channels x bits (hls4ml StreamVariable pragma)
        width = int(g["out_channels"]) * ob
        dep = int(g["out_pixels"])
        n_fifo = int(g.get("n_copies", 1))  # a Clone feeds one FIFO per copy
        if width * dep >= 1024 and dep > 1:
            _add(feats, "BRAM_18K", "bram_fifo_scale", n_fifo * bram18_for(width, dep))
        else:
            _add(feats, "LUT", "lut_per_linebuffer_bit", n_fifo * width * max(dep, 1))
    return LayerCost(int(lat), int(max(ii, 0)), float(dsp), feats, int(depth), notes)


def _stream_loop_cycles(words: int, depth: int, c: Mapping[str, float]) -> tuple[int, int]:
    """(latency, stream depth) of a pipelined loop over ``words`` stream words at II 1:
    ``words + depth`` and ``depth``; when one word makes HLS remove the loop, its entry cycle
    goes and the whole latency is depth (nothing streams behind it)."""
    if words == 1:
        lat = words + depth - int(c["stream_loop_entry_cycles"])
        return lat, lat
    return words + depth, depth


def _linebuffer_bits(g: Mapping[str, Any], ib: int) -> int:
    """Bits of the (k_h - 1) input rows an io_stream 2D conv/pool keeps (1D: k - 1 pixels)."""
    kern = g.get("kernel") or g.get("pool_kernel") or (1,)
    ch = int(g.get("n_chan", g.get("in_channels", 1)))
    if len(kern) == 2:
        in_w = int(g["in_w"])
        return (int(kern[0]) - 1) * in_w * ch * ib
    return (int(kern[0]) - 1) * ch * ib


def value_from_features(feats: Mapping[str, float], c: Mapping[str, float], metric: str) -> float:
    s = 0.0
    prefix = metric + ":"
    for key, coef in feats.items():
        if key.startswith(prefix):
            s += float(c[key[len(prefix) :]]) * coef
    return s
