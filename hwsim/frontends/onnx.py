"""ONNX / QONNX frontend: an ``.onnx`` file or an ``onnx.ModelProto`` -> :class:`OpGraph`.

Rules (what a user of the IR can rely on)
-----------------------------------------
* **Batch axis.** The first axis of every graph input is the batch. It is set to 1 before
  ONNX shape inference (a symbolic ``batch``/``N`` dimension is fine) and stripped from every
  shape in the IR. Every other input dimension must be static. An op that acts on the batch
  axis itself (softmax/concat/reduce over axis 0, a Flatten with ``axis != 1``, a Transpose
  moving axis 0, a Reshape that merges the batch into other axes...) is unsupported: strict
  mode raises :class:`UnsupportedOpError` naming the node, otherwise it becomes ``opaque``.
  Axes in op attributes are per-inference axes (ONNX axis - 1).
* **Constant folding.** Every node whose inputs are all constants (initializers,
  ``Constant``, ``Shape``/``Size`` of a statically shaped tensor, and anything computed from
  those: ``Gather``, ``Cast``, ``Unsqueeze``, ``Concat``, ``ConstantOfShape``, ``Slice``,
  ``Range``, ``Transpose`` of a weight...) is evaluated (numpy, or
  ``onnx.reference.ReferenceEvaluator`` for the rarer ops) and never becomes an op.
  Random generators are never folded.
* **Op mapping** (see :mod:`hwsim.ops` for the attributes of each kind):
  Gemm (constant B) and MatMul with a constant 2-D weight (+ the following Add of a
  constant bias of size n_out, fused; ``origin`` lists both nodes) -> ``dense``; MatMul of two
  activations -> ``matmul``; Conv 1-D/2-D -> ``conv``; BatchNormalization -> ``batchnorm``;
  LayerNormalization -> ``layernorm``; Relu, LeakyRelu, Elu, Selu, PRelu, Sigmoid,
  HardSigmoid, Tanh, Softmax, LogSoftmax, Exp, Log, Cosh, Sinh, Abs, Sqrt, Reciprocal, Erf,
  Softplus, Clip, Gelu, Identity, Dropout -> ``activation``; MaxPool/AveragePool -> ``pool``;
  GlobalAveragePool/GlobalMaxPool -> ``global_pool``; ReduceMean/Max/Min/Sum/L2/SumSquare/
  Prod -> ``reduce``; Flatten/Reshape/Transpose/Squeeze/Unsqueeze -> ``reshape``;
  Add/Sub/Mul/Div/Pow/Max/Min (and Neg = mul by -1, Sum of two = add) -> ``elementwise``;
  Concat -> ``concat``; a Cast between float types -> ``activation`` identity (its output
  tensor carries the new dtype); ``Transpose(P) -> BatchNormalization -> Transpose(P^-1)``
  (PyTorch's BatchNorm over a non-channel axis) -> one ``batchnorm`` on that axis. Anything else is
  ``opaque`` (strict mode: :class:`UnsupportedOpError`), with shapes from shape inference
  (a custom-domain node ONNX cannot infer is assumed shape-preserving) and a warning logged.
* **Weights** go to ``OpGraph.weights[op.name]`` (keys of :mod:`hwsim.ops`; PRelu: ``slope``);
  ``Op.sparsity`` is the fraction of exact zeros of the weight tensor.
* **Precision.** A plain float model gets its float type (float32 for float32 tensors) in
  every :class:`OpPrecision` field. Weights taking only the values {-a, 0, +a} (with a zero
  and both signs) are ``ternary``; only {-a, +a} ``binary`` (BitNet-style exports store the
  ternary weights times a scale). In a quantized model (QONNX or QDQ) the formats come from
  the quantizers and every field no quantizer sets is left ``None`` (the backend's default /
  inference), as hls4ml does.
* **QONNX.** ``Quant``/``IntQuant`` (x, scale, zero_point, bitwidth; signed, narrow,
  rounding_mode), ``BipolarQuant`` (x, scale), ``Trunc`` and ``FloatQuant`` in the domains
  ``qonnx.custom_op.general``, ``finn.custom_op.general``, ``onnx.brevitas``,
  ``ai.onnx.contrib`` or empty.
  On a constant the quantizer is evaluated (the folded weight holds the quantized values)
  and sets ``precision.weight``/``.bias`` of the consuming dense/conv; on an activation it
  disappears (its output is rewired to its input) and sets ``precision.output`` of the
  producer and ``precision.input`` of the consumers. Mapping as hls4ml's
  ``quant_opt.py``: a power-of-two scale s (all channels equal, zero point 0) ->
  ``fixed<b, b + log2 s>``; any other scale -> ``int<b>``; signed narrow 2-bit -> ternary;
  BipolarQuant -> binary. ONNX QDQ (QuantizeLinear/DequantizeLinear) -> ``int<8>`` etc.
* **Names.** Op name = the ONNX node name with non-identifier characters replaced by ``_``
  (``/features/0/Conv`` -> ``features_0_Conv``), made unique, or ``<OpType>_<index>`` when
  empty; ``Op.origin`` = the ONNX node name(s). The graph is named after the file stem.
* **Errors** (:class:`ModelError`, naming the file): missing file, not an ONNX protobuf,
  truncated/malformed protobuf or tensor, external data whose location is absolute or leaves
  the model's folder, also through a symlink (refused before anything is read), a model with no nodes, cycles,
  tensors nothing produces, non-static input dimensions.

Speed (``python benchmarks/bench_frontend.py`` -> ``reports/bench_frontend.md``; 2 shared
cores, so wall times vary with load): lowering a 16-64-32-32-5 MLP file in-process takes
1.0-1.2 ms (min), the bundled zoo models 0.7-3.4 ms each. A fresh interpreter pays the imports:
``onnx`` (imported lazily, here only) costs ~0.33 s over a bare interpreter; import + lowering
of the MLP took 0.79 s (min of 3) on a quiet machine and 1.5 s at load average 6.
``onnx.checker`` is not run (shape inference already validates what the lowering reads);
``torch`` is never imported.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwsim.errors import ModelError, UnsupportedOpError
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
    OPAQUE,
    POOL,
    REDUCE,
    RESHAPE,
    Attrs,
    Op,
    OpGraph,
    OpPrecision,
    Precision,
    TensorSpec,
    weight_sparsity,
)

if TYPE_CHECKING:  # pragma: no cover
    import onnx

log = logging.getLogger(__name__)

QONNX_DOMAINS = frozenset(
    {"qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas", "ai.onnx.contrib", "", "ai.onnx", "finn", "qonnx"}
)
QONNX_OPS = frozenset({"Quant", "IntQuant", "BipolarQuant", "Trunc", "FloatQuant"})
STANDARD_DOMAINS = frozenset({"", "ai.onnx"})
#: never constant-folded (not deterministic)
_NONDETERMINISTIC = frozenset(
    {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial"}
)
#: folding these of a quantized/parameter constant keeps its precision / parameter status
_LAYOUT_OPS = frozenset({"Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Cast"})
#: constants at most this many elements are given to shape inference as values
_SMALL_CONST = 4096

_ACTIVATIONS: dict[str, str] = {
    "Relu": "relu",
    "LeakyRelu": "leaky_relu",
    "Elu": "elu",
    "Selu": "selu",
    "PRelu": "prelu",
    "Sigmoid": "sigmoid",
    "HardSigmoid": "hard_sigmoid",
    "Tanh": "tanh",
    "Softmax": "softmax",
    "LogSoftmax": "log_softmax",
    "Exp": "exp",
    "Log": "log",
    "Cosh": "cosh",
    "Sinh": "sinh",
    "Abs": "abs",
    "Sqrt": "sqrt",
    "Reciprocal": "reciprocal",
    "Erf": "erf",
    "Softplus": "softplus",
    "Clip": "clip",
    "Gelu": "gelu",
    "Identity": "identity",
    "Dropout": "identity",
}
_ELEMENTWISE: dict[str, str] = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "max", "Min": "min"}
_REDUCE: dict[str, str] = {
    "ReduceMean": "mean",
    "ReduceMax": "max",
    "ReduceMin": "min",
    "ReduceSum": "sum",
    "ReduceL2": "l2",
    "ReduceSumSquare": "sum_square",
    "ReduceProd": "prod",
}
_RESHAPES: dict[str, str] = {
    "Flatten": "flatten",
    "Reshape": "reshape",
    "Transpose": "transpose",
    "Squeeze": "squeeze",
    "Unsqueeze": "unsqueeze",
}

_FLOAT_PRECISION = {
    "float32": Precision.float32(),
    "float16": Precision.float16(),
    "bfloat16": Precision.bfloat16(),
    "float64": Precision.float64(),
}


class _Unsupported(Exception):
    """Internal: this node cannot be lowered (becomes opaque, or raises in strict mode)."""


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------


def load_onnx(path: str | os.PathLike[str], strict: bool = False, name: str | None = None) -> OpGraph:
    """Read an ONNX/QONNX file and lower it to an :class:`OpGraph` named after the file stem.

    External data is read only from files inside the model's folder. Raises
    :class:`ModelError` (naming the file) for a missing, unreadable, malformed or unsafe
    model, :class:`UnsupportedOpError` in ``strict`` mode for a node it cannot lower.
    """
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no such file")
    if not p.is_file():
        raise ModelError(f"{p}: not a file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ModelError(f"{p}: cannot read: {exc.strerror or exc}") from None
    model = _parse(data, str(p))
    return from_proto(model, strict=strict, name=name or p.stem, base_dir=p.parent, _label=str(p))


def from_proto(
    model_proto: onnx.ModelProto,
    strict: bool = False,
    name: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    _label: str | None = None,
) -> OpGraph:
    """Lower an ``onnx.ModelProto`` (not modified). ``base_dir`` is the folder external data
    is read from (required when the model has external data)."""
    import onnx

    if not isinstance(model_proto, onnx.ModelProto):
        raise ModelError(f"expected an onnx.ModelProto, got {type(model_proto).__name__}")
    label = _label or name or model_proto.graph.name or "model"
    model = onnx.ModelProto()
    model.CopyFrom(model_proto)
    _check_is_model(model, label)
    if _has_external_data(model):
        if base_dir is None:
            raise ModelError(f"{label}: the model stores tensors in external files; pass base_dir (or load it from its file)")
        _load_external_data(model, Path(base_dir), label)
    graph_name = name or model.graph.name or "model"
    return _Lowerer(model, label, strict, graph_name).run()


# ---------------------------------------------------------------------------------------------
# reading and safety
# ---------------------------------------------------------------------------------------------


def _parse(data: bytes, label: str) -> onnx.ModelProto:
    import onnx
    from google.protobuf.message import DecodeError

    if not data:
        raise ModelError(f"{label}: empty file, not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelError(
            f"{label}: not a valid ONNX model (truncated or malformed protobuf: {str(exc) or type(exc).__name__})"
        ) from None
    _check_is_model(model, label)
    return model


def _check_is_model(model: onnx.ModelProto, label: str) -> None:
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise ModelError(f"{label}: not an ONNX model (no ir_version or graph)")
    if len(model.graph.node) == 0:
        raise ModelError(f"{label}: the ONNX graph has no nodes")


def _all_tensors(graph: onnx.GraphProto) -> Iterable[onnx.TensorProto]:
    """Initializers and Constant/attribute tensors, subgraphs included."""
    import onnx

    yield from graph.initializer
    for sp in graph.sparse_initializer:
        yield sp.values
        yield sp.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                yield from attr.tensors
            elif attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_tensors(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _all_tensors(g)


def _has_external_data(model: onnx.ModelProto) -> bool:
    import onnx

    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in _all_tensors(model.graph))


def _load_external_data(model: onnx.ModelProto, base_dir: Path, label: str) -> None:
    """Check every external location stays inside ``base_dir`` (before reading anything),
    then read the data."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_tensor

    base = base_dir.resolve()
    tensors = [t for t in _all_tensors(model.graph) if t.data_location == onnx.TensorProto.EXTERNAL]
    for t in tensors:
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        if not loc:
            raise ModelError(f"{label}: tensor {t.name!r} has external data without a location")
        pure = Path(loc)
        if (
            pure.is_absolute()
            or loc.startswith(("/", "\\"))
            or re.match(r"^[A-Za-z]:", loc)
            or ".." in pure.parts
            or ".." in Path(loc.replace("\\", "/")).parts
        ):
            raise ModelError(
                f"{label}: tensor {t.name!r}: external data location {loc!r} points outside the model's folder; refused"
            )
        target = (base / pure).resolve()
        try:
            target.relative_to(base)
        except ValueError:
            raise ModelError(
                f"{label}: tensor {t.name!r}: external data location {loc!r} resolves outside the model's folder; refused"
            ) from None
        if not target.is_file():
            raise ModelError(f"{label}: tensor {t.name!r}: external data file {loc!r} not found next to the model")
    for t in tensors:
        try:
            load_external_data_for_tensor(t, str(base))
        except Exception as exc:
            raise ModelError(f"{label}: tensor {t.name!r}: cannot read its external data: {exc}") from None
        t.data_location = onnx.TensorProto.DEFAULT
        del t.external_data[:]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _dtype_name(elem_type: int) -> str:
    import onnx

    if elem_type == onnx.TensorProto.BFLOAT16:
        return "bfloat16"
    try:
        return str(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)))
    except Exception:
        return "float32"


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    import onnx

    out: dict[str, Any] = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out[a.name] = v
    return out


def _to_array(t: onnx.TensorProto, label: str) -> np.ndarray:
    from onnx import numpy_helper

    try:
        return np.asarray(numpy_helper.to_array(t))
    except Exception as exc:
        raise ModelError(
            f"{label}: tensor {t.name!r} is malformed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


def _is_po2(x: float) -> bool:
    if not math.isfinite(x) or x <= 0:
        return False
    m, _ = math.frexp(x)
    return m == 0.5


def quant_precision(scale: np.ndarray, zero_point: np.ndarray | None, bitwidth: float, signed: bool, narrow: bool) -> Precision:
    """The number format of a QONNX ``Quant`` node, as hls4ml's ``quant_opt.py`` maps it.

    * signed, narrow, 2 bits -> ternary (values -1, 0, +1 times the scale);
    * zero point 0 and one power-of-two scale s for every channel -> ``fixed<b, b + log2 s>``
      (the scale is implicit in the binary point; s = 1 gives ``fixed<b, b>``);
    * any other scale or zero point -> ``int<b>`` (hls4ml inserts an explicit rescale).
    """
    bw = int(math.ceil(float(bitwidth)))
    if bw < 1:
        raise ValueError(f"bit width {bitwidth} < 1")
    if signed and narrow and bw == 2:
        return Precision.ternary()
    s = np.asarray(scale, dtype=np.float64).ravel()
    zp_zero = zero_point is None or not np.any(np.asarray(zero_point) != 0)
    if s.size and zp_zero and np.all(s == s[0]) and _is_po2(float(s[0])):
        return Precision.fixed(bw, bw + int(round(math.log2(float(s[0])))), signed)
    return Precision.integer(bw, signed)


def _round(x: np.ndarray, mode: str) -> np.ndarray:
    mode = mode.upper()
    if mode == "ROUND":
        return np.asarray(np.round(x))  # half to even, as qonnx
    if mode == "CEIL":
        return np.asarray(np.ceil(x))
    if mode == "FLOOR":
        return np.asarray(np.floor(x))
    if mode == "ROUND_TO_ZERO":
        return np.asarray(np.trunc(x))
    if mode == "HALF_UP":
        return np.asarray(np.floor(x + 0.5))
    if mode == "HALF_DOWN":
        return np.asarray(np.ceil(x - 0.5))
    raise ValueError(f"unknown rounding_mode {mode!r}")


def quant_values(
    x: np.ndarray,
    scale: np.ndarray,
    zero_point: np.ndarray,
    bitwidth: float,
    signed: bool,
    narrow: bool,
    rounding_mode: str = "ROUND",
) -> np.ndarray:
    """QONNX ``Quant``: ``(clip(round(x / s + z), qmin, qmax) - z) * s``."""
    bw = float(bitwidth)
    if signed:
        qmin = -(2.0 ** (bw - 1)) + (1 if narrow else 0)
        qmax = 2.0 ** (bw - 1) - 1
    else:
        qmin = 0.0
        qmax = 2.0**bw - 1 - (1 if narrow else 0)
    q = _round(np.asarray(x, dtype=np.float64) / scale + zero_point, rounding_mode)
    q = np.clip(q, qmin, qmax)
    return np.asarray(((q - zero_point) * scale).astype(np.asarray(x).dtype))


def _detect_low_bit(w: np.ndarray) -> Precision | None:
    """Ternary when the values are only {-a, 0, +a} (a zero and both signs present), binary
    when only {-a, +a}; None otherwise."""
    if w.size < 2 or not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
        return None
    with np.errstate(all="ignore"):
        v = np.asarray(w, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        return None
    nz = v[v != 0]
    if nz.size == 0:
        return None
    a = np.abs(nz)
    if not np.allclose(a, a[0], rtol=1e-6, atol=0.0):
        return None
    if not (np.any(nz > 0) and np.any(nz < 0)):
        return None
    return Precision.ternary() if nz.size < v.size else Precision.binary()


def _f32(x: Any) -> float:
    """A float attribute read from float32 storage, without float32 noise (1e-05, not
    9.99999974e-06)."""
    return float(f"{float(x):.7g}")


def _sanitize(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_")


# ---------------------------------------------------------------------------------------------
# the lowering
# ---------------------------------------------------------------------------------------------


class _Lowerer:
    def __init__(self, model: onnx.ModelProto, label: str, strict: bool, name: str) -> None:
        self.model = model
        self.label = label
        self.strict = strict
        self.name = name
        self.opsets: dict[str, int] = {(o.domain or ""): int(o.version) for o in model.opset_import}
        self.opset = self.opsets.get("", self.opsets.get("ai.onnx", 13))
        g = model.graph
        self.consts: dict[str, np.ndarray] = {}
        self.params: set[str] = set()  # constants that are trainable parameters (initializers)
        self.const_prec: dict[str, Precision] = {}
        self.alias: dict[str, str] = {}  # removed activation quantizer output -> its input
        self.act_prec: dict[str, Precision] = {}  # quantizer output name -> format (consumers' input)
        self.src_prec: dict[str, Precision] = {}  # quantized tensor -> format (producer's output)
        self.shapes: dict[str, tuple[int, ...] | None] = {}
        self.elem: dict[str, int] = {}
        self.extra_vi: dict[str, tuple[int, tuple[int, ...]]] = {}
        self.quantized = False
        for t in g.initializer:
            self.consts[t.name] = _to_array(t, label)
            self.params.add(t.name)
        for sp in g.sparse_initializer:
            try:
                from onnx import numpy_helper

                self.consts[sp.values.name] = np.asarray(numpy_helper.to_array(sp))
            except Exception as exc:
                raise ModelError(f"{label}: sparse initializer {sp.values.name!r} is malformed: {exc}") from None
            self.params.add(sp.values.name)
        self.inputs: list[onnx.ValueInfoProto] = []
        for vi in g.input:
            if vi.name in self.consts:
                continue
            self.inputs.append(self._fix_input(vi))
        if not self.inputs:
            raise ModelError(f"{label}: the graph has no (non-constant) inputs")
        self.nodes: list[onnx.NodeProto] = self._toposort(list(g.node))
        self.graph_outputs = [o.name for o in g.output]
        self.out_vi = list(g.output)
        self.vi_given = list(g.value_info)
        self._names: set[str] = set()
        self._type_count: dict[str, int] = {}

    # -- input preparation -----------------------------------------------------------------
    def _fix_input(self, vi: onnx.ValueInfoProto) -> onnx.ValueInfoProto:
        import onnx

        out = onnx.ValueInfoProto()
        out.CopyFrom(vi)
        tt = out.type.tensor_type
        if not out.type.HasField("tensor_type") or not tt.HasField("shape"):
            raise ModelError(f"{self.label}: graph input {vi.name!r} has no tensor shape")
        dims = tt.shape.dim
        if len(dims) == 0:
            raise ModelError(f"{self.label}: graph input {vi.name!r} is a scalar; hwsim needs a leading batch axis")
        dims[0].Clear()
        dims[0].dim_value = 1
        for i, d in enumerate(dims[1:], start=1):
            if not d.HasField("dim_value") or d.dim_value <= 0:
                what = d.dim_param or "?"
                raise ModelError(
                    f"{self.label}: graph input {vi.name!r} has a non-static dimension {what!r} at axis {i}; hwsim needs fixed per-inference shapes"
                )
        return out

    def _toposort(self, nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
        produced: dict[str, int] = {}
        for i, n in enumerate(nodes):
            for o in n.output:
                if o:
                    if o in produced:
                        raise ModelError(
                            f"{self.label}: tensor {o!r} is written by two nodes ({nodes[produced[o]].name!r}, {n.name!r})"
                        )
                    produced[o] = i
        available = set(self.consts) | {vi.name for vi in self.inputs}
        indeg = [0] * len(nodes)
        users: dict[int, list[int]] = {}
        for i, n in enumerate(nodes):
            deps = set()
            for t in n.input:
                if not t:
                    continue
                if t in produced:
                    deps.add(produced[t])
                elif t not in available:
                    raise ModelError(f"{self.label}: node {n.name or n.op_type!r} reads tensor {t!r} that nothing produces")
            indeg[i] = len(deps)
            for d in deps:
                users.setdefault(d, []).append(i)
        ready = [i for i in range(len(nodes)) if indeg[i] == 0]
        order: list[int] = []
        import heapq

        heapq.heapify(ready)
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for u in users.get(i, ()):
                indeg[u] -= 1
                if indeg[u] == 0:
                    heapq.heappush(ready, u)
        if len(order) != len(nodes):
            stuck = [nodes[i].name or nodes[i].op_type for i in range(len(nodes)) if indeg[i] > 0]
            raise ModelError(f"{self.label}: the graph has a cycle through node(s) {', '.join(stuck[:5])}")
        return [nodes[i] for i in order]

    # -- alias / constant queries ----------------------------------------------------------
    def _r(self, name: str) -> str:
        seen = 0
        while name in self.alias and seen < 1000:
            name = self.alias[name]
            seen += 1
        return name

    def _const(self, name: str) -> np.ndarray | None:
        if not name:
            return None
        return self.consts.get(self._r(name))

    def _is_const(self, name: str) -> bool:
        return bool(name) and self._r(name) in self.consts

    # -- folding ----------------------------------------------------------------------------
    def run(self) -> OpGraph:
        self._fold_pass()
        self._infer()
        for _ in range(10):
            if not self._fold_pass():
                break
            self._infer()
        return self._lower()

    def _fold_pass(self) -> bool:
        changed = False
        keep: list[onnx.NodeProto] = []
        for node in self.nodes:
            try:
                done = self._try_fold(node)
            except ModelError:
                raise
            except Exception as exc:  # a node we could not evaluate stays a node
                log.debug("%s: cannot fold %s (%s): %s", self.label, node.name, node.op_type, exc)
                done = False
            if done:
                changed = True
            else:
                keep.append(node)
        self.nodes = keep
        return changed

    def _is_quant_node(self, node: onnx.NodeProto) -> bool:
        return (
            node.op_type in QONNX_OPS
            and node.domain in QONNX_DOMAINS
            and not (node.op_type == "Trunc" and node.domain in STANDARD_DOMAINS and len(node.input) == 1)
        )

    def _try_fold(self, node: onnx.NodeProto) -> bool:
        op = node.op_type
        if self._is_quant_node(node):
            return self._fold_quant(node)
        if node.domain in STANDARD_DOMAINS and op in ("QuantizeLinear", "DequantizeLinear"):
            return self._fold_qdq(node)
        if node.domain not in STANDARD_DOMAINS or op in _NONDETERMINISTIC:
            return False
        if op == "CastLike" and len(node.input) == 2 and self._is_const(node.input[0]) and not self._is_const(node.input[1]):
            et = self.elem.get(self._r(node.input[1]))
            if not et:
                return False  # the target type is known after shape inference
            import onnx

            src_val = self._const(node.input[0])
            assert src_val is not None
            self._set_const(node.output[0], src_val.astype(onnx.helper.tensor_dtype_to_np_dtype(et)))
            return True
        if op == "Constant":
            self._set_const(node.output[0], self._constant_value(node))
            return True
        if op in ("Shape", "Size"):
            shape = self._shape(node.input[0])
            if shape is None:
                return False
            if op == "Size":
                self._set_const(node.output[0], np.array(int(math.prod(shape)), dtype=np.int64))
            else:
                a = _attrs(node)
                start, end = int(a.get("start", 0)), a.get("end")
                dims = list(shape)[start : (int(end) if end is not None else None)]
                self._set_const(node.output[0], np.array(dims, dtype=np.int64))
            return True
        ins = [t for t in node.input if t]
        if not ins or not all(self._is_const(t) for t in ins):
            return False
        values = [self._const(t) if t else None for t in node.input]
        outs = self._evaluate(node, values)
        for name, val in zip(node.output, outs):
            if name:
                self._set_const(name, val)
        if op in _LAYOUT_OPS and node.input:
            src = self._r(node.input[0])
            if src in self.const_prec:
                self.const_prec[node.output[0]] = self.const_prec[src]
            if src in self.params:
                self.params.add(node.output[0])
        return True

    def _set_const(self, name: str, value: np.ndarray) -> None:
        self.consts[name] = np.asarray(value)
        self.shapes[name] = tuple(int(d) for d in np.shape(value))

    def _constant_value(self, node: onnx.NodeProto) -> np.ndarray:
        a = _attrs(node)
        if "value" in a:
            return _to_array(a["value"], self.label)
        if "value_float" in a:
            return np.array(a["value_float"], dtype=np.float32)
        if "value_floats" in a:
            return np.array(a["value_floats"], dtype=np.float32)
        if "value_int" in a:
            return np.array(a["value_int"], dtype=np.int64)
        if "value_ints" in a:
            return np.array(a["value_ints"], dtype=np.int64)
        if "sparse_value" in a:
            from onnx import numpy_helper

            return np.asarray(numpy_helper.to_array(a["sparse_value"]))
        raise ModelError(f"{self.label}: Constant node {node.name!r} has no value")

    def _evaluate(self, node: onnx.NodeProto, values: list[np.ndarray | None]) -> list[np.ndarray]:
        """Evaluate one node on constant inputs: numpy for the common shape arithmetic,
        onnx.reference for the rest."""
        op = node.op_type
        a = _attrs(node)
        x = values[0] if values else None
        if op == "Identity":
            return [np.asarray(x)]
        if op == "Cast":
            import onnx

            return [np.asarray(x).astype(onnx.helper.tensor_dtype_to_np_dtype(int(a["to"])))]
        if op == "Transpose":
            perm = a.get("perm")
            return [np.transpose(np.asarray(x), perm)]
        if op == "Unsqueeze" and self.opset >= 13 and len(values) > 1 and values[1] is not None:
            arr = np.asarray(x)
            axes = sorted(int(v) % (arr.ndim + len(np.ravel(values[1]))) for v in np.ravel(values[1]))
            for ax in axes:
                arr = np.expand_dims(arr, ax)
            return [arr]
        if op == "Concat":
            return [np.concatenate([np.asarray(v) for v in values if v is not None], axis=int(a["axis"]))]
        if op == "Gather":
            return [np.take(np.asarray(x), np.asarray(values[1]), axis=int(a.get("axis", 0)))]
        if op in ("Add", "Sub", "Mul", "Div") and len(values) == 2:
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
            r = f(np.asarray(x), np.asarray(values[1]))
            if op == "Div" and np.issubdtype(np.asarray(x).dtype, np.integer):
                r = np.floor_divide(np.asarray(x), np.asarray(values[1]))
            return [np.asarray(r).astype(np.result_type(np.asarray(x), np.asarray(values[1])))]
        return self._reference(node, values)

    def _reference(self, node: onnx.NodeProto, values: list[np.ndarray | None]) -> list[np.ndarray]:
        import onnx
        from onnx.reference import ReferenceEvaluator

        names = [f"in{i}" if v is not None else "" for i, v in enumerate(values)]
        n2 = onnx.NodeProto()
        n2.CopyFrom(node)
        del n2.input[:]
        n2.input.extend(names)
        del n2.output[:]
        outs = [f"out{i}" if o else "" for i, o in enumerate(node.output)]
        n2.output.extend(outs)
        g = onnx.helper.make_graph(
            [n2],
            "fold",
            [
                onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype), np.shape(v))
                for n, v in zip(names, values)
                if n and v is not None
            ],
            [onnx.ValueInfoProto(name=o) for o in outs if o],
        )
        feeds = {n: np.asarray(v) for n, v in zip(names, values) if n and v is not None}
        try:
            m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", self.opset)])
            res = ReferenceEvaluator(m).run(None, feeds)
        except Exception as exc:
            # the reference runtime lacks some (op, old opset) pairs; the op's semantics on
            # constants are the same in the newer version for the ops that reach here
            if "No implementation" not in str(exc):
                raise
            m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", onnx.defs.onnx_opset_version())])
            res = ReferenceEvaluator(m).run(None, feeds)
        it = iter(res)
        return [np.asarray(next(it)) if o else np.zeros(0) for o in outs]

    def _qdq_values(self, node: onnx.NodeProto, values: list[np.ndarray | None]) -> np.ndarray:
        """QuantizeLinear / DequantizeLinear on constants (per-tensor or per-axis scales)."""
        a = _attrs(node)
        x = np.asarray(values[0])
        scale = np.asarray(values[1], dtype=np.float32)
        zp = np.asarray(values[2]) if len(values) > 2 and values[2] is not None else None
        axis = int(a.get("axis", 1))

        def bcast(v: np.ndarray) -> np.ndarray:
            if v.ndim == 1 and v.size > 1 and x.ndim > 1:
                shape = [1] * x.ndim
                shape[axis % x.ndim] = v.size
                return v.reshape(shape)
            return v

        if node.op_type == "DequantizeLinear":
            z = bcast(zp.astype(np.float32)) if zp is not None else np.float32(0)
            return np.asarray(((x.astype(np.float32) - z) * bcast(scale)).astype(np.float32))
        dt = zp.dtype if zp is not None else np.dtype(np.uint8)
        info = np.iinfo(dt)
        z = bcast(zp.astype(np.float32)) if zp is not None else np.float32(0)
        q = np.round(x.astype(np.float32) / bcast(scale)) + z
        return np.asarray(np.clip(q, info.min, info.max).astype(dt))

    def _qparams(self, node: onnx.NodeProto) -> tuple[Precision, list[np.ndarray]] | None:
        """The format of a QONNX quantizer node and its constant parameter values, or None
        when a parameter is not constant."""
        a = _attrs(node)
        op = node.op_type
        params = [self._const(t) for t in node.input[1:]]
        if any(p is None for p in params):
            return None
        vals = [np.asarray(p) for p in params]
        try:
            if op == "BipolarQuant":
                return Precision.binary(), vals
            if op in ("Quant", "IntQuant"):
                if len(vals) < 3:
                    raise ValueError("Quant needs scale, zero_point and bitwidth inputs")
                scale, zp, bw = vals[0], vals[1], vals[2]
                if np.size(bw) != 1:
                    raise ValueError("only a scalar bit width is supported")
                return quant_precision(
                    scale, zp, float(np.ravel(bw)[0]), bool(a.get("signed", 1)), bool(a.get("narrow", 0))
                ), vals
            if op == "Trunc":
                scale, zp, _in_bw, out_bw = vals[0], vals[1], vals[2], vals[3]
                return quant_precision(
                    scale, zp, float(np.ravel(out_bw)[0]), bool(a.get("signed", 1)), bool(a.get("narrow", 0))
                ), vals
            if op == "FloatQuant":
                exp_bw, man_bw = int(np.ravel(vals[1])[0]), int(np.ravel(vals[2])[0])
                return Precision("float", 1 + exp_bw + man_bw, exp_bw, True), vals
        except (ValueError, IndexError) as exc:
            raise ModelError(f"{self.label}: node {node.name or op!r} ({op}): {exc}") from None
        return None

    def _fold_quant(self, node: onnx.NodeProto) -> bool:
        qp = self._qparams(node)
        if qp is None:
            return False
        prec, vals = qp
        self.quantized = True
        src = self._r(node.input[0])
        out = node.output[0]
        if src in self.consts:
            x = self.consts[src]
            a = _attrs(node)
            if node.op_type in ("Quant", "IntQuant"):
                y = quant_values(
                    x,
                    vals[0],
                    vals[1],
                    float(np.ravel(vals[2])[0]),
                    bool(a.get("signed", 1)),
                    bool(a.get("narrow", 0)),
                    str(a.get("rounding_mode", "ROUND")),
                )
            elif node.op_type == "BipolarQuant":
                y = (np.where(np.asarray(x) >= 0, 1.0, -1.0) * vals[0]).astype(np.asarray(x).dtype)
            else:  # Trunc / FloatQuant on a constant: keep the values, record the format
                y = np.asarray(x)
            self._set_const(out, y)
            self.const_prec[out] = prec
            if src in self.params:
                self.params.add(out)
            return True
        self.alias[out] = src
        self.act_prec[out] = prec
        self.src_prec[src] = prec
        return True

    def _fold_qdq(self, node: onnx.NodeProto) -> bool:
        """ONNX QDQ: a DequantizeLinear of a constant integer tensor is a quantized weight;
        a QuantizeLinear/DequantizeLinear on an activation is a quantizer (rewired away)."""
        src = self._r(node.input[0])
        if node.op_type == "DequantizeLinear":
            if src in self.consts and all(self._is_const(t) for t in node.input[1:] if t):
                x = self.consts[src]
                vals = [self._const(t) if t else None for t in node.input]
                y = self._qdq_values(node, vals)
                self._set_const(node.output[0], y)
                if np.issubdtype(x.dtype, np.integer):
                    self.const_prec[node.output[0]] = Precision.integer(
                        8 * x.dtype.itemsize, np.issubdtype(x.dtype, np.signedinteger)
                    )
                if src in self.params:
                    self.params.add(node.output[0])
                self.quantized = True
                return True
            if src in self.act_prec:  # DQ after an activation Q: the pair is one quantizer
                self.alias[node.output[0]] = src
                self.act_prec[node.output[0]] = self.act_prec[src]
                return True
            return False
        # QuantizeLinear
        if src in self.consts:
            if all(self._is_const(t) for t in node.input[1:] if t):
                vals = [self._const(t) if t else None for t in node.input]
                y = self._qdq_values(node, vals)
                self._set_const(node.output[0], y)
                if src in self.params:
                    self.params.add(node.output[0])
                return True
            return False
        zp = self._const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if zp is not None:
            dt = np.asarray(zp).dtype
            prec = Precision.integer(8 * dt.itemsize, np.issubdtype(dt, np.signedinteger))
        else:
            a = _attrs(node)
            import onnx

            to = int(a.get("output_dtype", onnx.TensorProto.UINT8)) or onnx.TensorProto.UINT8
            dt = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(to))
            prec = Precision.integer(8 * dt.itemsize, np.issubdtype(dt, np.signedinteger))
        self.quantized = True
        self.alias[node.output[0]] = src
        self.act_prec[node.output[0]] = prec
        self.src_prec[src] = prec
        return True

    # -- shape inference -------------------------------------------------------------------
    def _shape(self, name: str) -> tuple[int, ...] | None:
        r = self._r(name)
        if r in self.consts:
            return tuple(int(d) for d in self.consts[r].shape)
        return self.shapes.get(r)

    def _build_infer_model(self) -> onnx.ModelProto:
        import onnx
        from onnx import numpy_helper

        used: set[str] = set()
        nodes = []
        for n in self.nodes:
            n2 = onnx.NodeProto()
            n2.CopyFrom(n)
            for i, t in enumerate(n2.input):
                if t:
                    n2.input[i] = self._r(t)
                    used.add(n2.input[i])
            nodes.append(n2)
        inits = []
        const_inputs = []
        for t in sorted(used):
            if t in self.consts:
                v = self.consts[t]
                if v.size <= _SMALL_CONST or not np.issubdtype(v.dtype, np.floating):
                    try:
                        inits.append(numpy_helper.from_array(v, t))
                        continue
                    except Exception:  # noqa: S112 - e.g. object arrays; declare the type instead
                        pass
                const_inputs.append(onnx.helper.make_tensor_value_info(t, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape))
        outputs = []
        for o in self.out_vi:
            r = self._r(o.name)
            outputs.append(onnx.ValueInfoProto(name=r))
        vis = [onnx.helper.make_tensor_value_info(n, et, shp) for n, (et, shp) in self.extra_vi.items()]
        g = onnx.helper.make_graph(
            nodes, self.name or "g", list(self.inputs) + const_inputs, outputs, initializer=inits, value_info=vis
        )
        m = onnx.helper.make_model(g, opset_imports=list(self.model.opset_import))
        m.ir_version = self.model.ir_version or m.ir_version
        for f in self.model.functions:
            m.functions.append(f)
        return m

    def _infer(self) -> None:
        import onnx

        for _ in range(len(self.nodes) + 1):
            m = self._build_infer_model()
            try:
                inferred = onnx.shape_inference.infer_shapes(m, check_type=False, strict_mode=False, data_prop=True)
            except Exception as exc:
                raise ModelError(
                    f"{self.label}: ONNX shape inference failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                ) from None
            g = inferred.graph
            for vi in list(g.input) + list(g.value_info) + list(g.output):
                if not vi.type.HasField("tensor_type"):
                    continue
                tt = vi.type.tensor_type
                self.elem[vi.name] = tt.elem_type
                if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
                    self.shapes[vi.name] = tuple(int(d.dim_value) for d in tt.shape.dim)
                elif vi.name not in self.shapes:
                    self.shapes[vi.name] = None
            # custom-domain nodes ONNX knows nothing about: assume they keep their input's shape
            added = False
            for n in self.nodes:
                if n.domain in STANDARD_DOMAINS:
                    continue
                first = next((t for t in n.input if t and not self._is_const(t)), None)
                if first is None:
                    continue
                shp = self._shape(first)
                if shp is None:
                    continue
                for o in n.output:
                    if o and self.shapes.get(o) is None and o not in self.extra_vi:
                        self.extra_vi[o] = (self.elem.get(self._r(first), onnx.TensorProto.FLOAT) or onnx.TensorProto.FLOAT, shp)
                        log.warning(
                            "%s: node %s (%s:%s) is unknown to ONNX shape inference; assuming its output %s has its input's shape %s",
                            self.label,
                            n.name,
                            n.domain,
                            n.op_type,
                            o,
                            shp,
                        )
                        added = True
            if not added:
                return

    # -- lowering ---------------------------------------------------------------------------
    def _op_name(self, node: onnx.NodeProto) -> str:
        base = _sanitize(node.name)
        if not base:
            k = self._type_count.get(node.op_type, 0)
            self._type_count[node.op_type] = k + 1
            base = f"{node.op_type}_{k}"
        name = base
        i = 1
        while name in self._names:
            name = f"{base}_{i}"
            i += 1
        self._names.add(name)
        return name

    def _spec(self, tensor: str, node: onnx.NodeProto | None = None) -> TensorSpec:
        """Per-inference TensorSpec of an activation tensor (batch axis stripped)."""
        r = self._r(tensor)
        shape = self._shape(r)
        if shape is None:
            raise _Unsupported(f"ONNX shape inference cannot give a static shape for tensor {r!r}")
        if len(shape) == 0:
            raise _Unsupported(f"tensor {r!r} is a scalar without a batch axis")
        if shape[0] != 1:
            raise _Unsupported(f"tensor {r!r} of shape {shape} does not keep the batch as its first axis")
        return TensorSpec(r, tuple(shape[1:]), _dtype_name(self.elem.get(r, 1)))

    def _full(self, tensor: str) -> tuple[int, ...]:
        shape = self._shape(tensor)
        if shape is None:
            raise _Unsupported(f"ONNX shape inference cannot give a static shape for tensor {self._r(tensor)!r}")
        return shape

    def _lower(self) -> OpGraph:
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in self.nodes:
            for t in n.input:
                if t:
                    self.consumers.setdefault(self._r(t), []).append(n)
        outputs = []
        for o in self.graph_outputs:
            r = self._r(o)
            if r in self.consts:
                log.warning("%s: graph output %s is a constant; ignored", self.label, o)
                continue
            outputs.append(r)
        self.outputs = outputs
        self.skip: set[int] = set()
        ops: list[Op] = []
        weights: dict[str, dict[str, np.ndarray]] = {}
        for node in self.nodes:
            if id(node) in self.skip:
                continue
            res = self._lower_node(node)
            for op, w in res:
                ops.append(op)
                if w:
                    weights[op.name] = w
        if not ops:
            raise ModelError(f"{self.label}: the graph has no operators after constant folding")
        inputs = []
        for vi in self.inputs:
            shp = tuple(int(d.dim_value) for d in vi.type.tensor_type.shape.dim)
            inputs.append(TensorSpec(vi.name, shp[1:], _dtype_name(vi.type.tensor_type.elem_type)))
        ops = [self._finish_precision(op, weights.get(op.name)) for op in ops]
        try:
            return OpGraph(ops, inputs, outputs, self.name, weights)
        except ModelError as exc:
            raise ModelError(f"{self.label}: {exc}") from None

    def _lower_node(self, node: onnx.NodeProto) -> list[tuple[Op, dict[str, np.ndarray] | None]]:
        op = node.op_type
        try:
            if node.domain not in STANDARD_DOMAINS:
                raise _Unsupported(f"custom domain {node.domain!r}")
            handler = _HANDLERS.get(op)
            if handler is None:
                raise _Unsupported("operator not supported by hwsim")
            return [handler(self, node)]
        except _Unsupported as exc:
            msg = f"{self.label}: node {node.name or '(unnamed)'!r} ({(node.domain + ':') if node.domain else ''}{op}): {exc}"
            if self.strict:
                raise UnsupportedOpError(msg) from None
            log.warning("%s; kept as an opaque op", msg)
            return [self._opaque(node, str(exc))]

    def _opaque(self, node: onnx.NodeProto, reason: str) -> tuple[Op, None]:
        ins = []
        for t in node.input:
            if t and not self._is_const(t):
                r = self._r(t)
                shp = self._shape(r) or ()
                ins.append(TensorSpec(r, tuple(shp[1:]) if shp else (), _dtype_name(self.elem.get(r, 1))))
        outs = []
        for o in node.output:
            if not o:
                continue
            shp = self._shape(o) or ()
            outs.append(TensorSpec(o, tuple(shp[1:]) if shp else (), _dtype_name(self.elem.get(o, 1))))
        attrs = {"op_type": node.op_type, "domain": node.domain, "reason": reason}
        return self._op(node, OPAQUE, ins, outs, attrs), None

    def _op(
        self,
        node: onnx.NodeProto,
        kind: str,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        attrs: Mapping[str, Any],
        origin: Sequence[str] | None = None,
        sparsity: float = 0.0,
        precision: OpPrecision | None = None,
        in_names: Sequence[str] | None = None,
    ) -> Op:
        name = self._op_name(node)
        # activation quantizers: the input format comes from the quantizer the op reads
        in_prec = None
        for t in in_names if in_names is not None else [t for t in node.input if t]:
            cur = t
            for _ in range(1000):
                if cur in self.act_prec:
                    in_prec = self.act_prec[cur]
                    break
                if cur not in self.alias:
                    break
                cur = self.alias[cur]
            if in_prec is not None:
                break
        out_prec = next((self.src_prec[t.name] for t in outputs if t.name in self.src_prec), None)
        p = precision or OpPrecision()
        p = OpPrecision(p.weight, p.bias, in_prec or p.input, out_prec or p.output, p.accum)
        return Op(
            name=name,
            kind=kind,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            attrs=Attrs(dict(attrs)),
            precision=p,
            sparsity=float(sparsity),
            origin=tuple(origin) if origin is not None else ((node.name or name),),
        )

    def _finish_precision(self, op: Op, w: Mapping[str, np.ndarray] | None) -> Op:
        """Float models: the float type everywhere; quantized models: only what quantizers set."""
        p = op.precision
        if not self.quantized:
            dt = op.inputs[0].dtype if op.inputs else "float32"
            base = _FLOAT_PRECISION.get(dt, Precision.float32())
            p = OpPrecision(*(getattr(p, f) or base for f in OpPrecision.FIELDS))
        return op if p == op.precision else op.evolve(precision=p)

    def _weight_precision(self, tensor: str | None, values: np.ndarray | None) -> Precision | None:
        if tensor:
            r = self._r(tensor)
            if r in self.const_prec:
                return self.const_prec[r]
        if values is not None:
            return _detect_low_bit(values)
        return None

    def _act_inputs(self, node: onnx.NodeProto) -> list[str]:
        return [t for t in node.input if t and not self._is_const(t)]

    def _out(self, node: onnx.NodeProto, i: int = 0) -> TensorSpec:
        return self._spec(node.output[i], node)

    def _axis(self, axis: int, rank: int, what: str = "axis") -> int:
        """ONNX axis (with batch) -> per-inference axis; acting on the batch is unsupported."""
        a = int(axis)
        if a < 0:
            a += rank
        if not 0 <= a < rank:
            raise _Unsupported(f"{what} {axis} out of range for rank {rank}")
        if a == 0:
            raise _Unsupported(f"{what} {axis} is the batch axis")
        return a - 1


# ---------------------------------------------------------------------------------------------
# node handlers: each returns (Op, weights or None) or raises _Unsupported
# ---------------------------------------------------------------------------------------------

_Result = tuple[Op, "dict[str, np.ndarray] | None"]


def _dense(
    L: _Lowerer,
    node: onnx.NodeProto,
    x: str,
    w: np.ndarray,
    b: np.ndarray | None,
    out: TensorSpec,
    w_name: str | None,
    b_name: str | None,
    origin: Sequence[str] | None = None,
) -> _Result:
    """w: (n_out, n_in) in PyTorch layout."""
    n_out, n_in = int(w.shape[0]), int(w.shape[1])
    xin = L._spec(x, node)
    if not xin.shape or xin.shape[-1] != n_in:
        raise _Unsupported(f"input shape {xin.shape} does not end in n_in={n_in}")
    weights: dict[str, np.ndarray] = {"weight": w}
    if b is not None:
        weights["bias"] = b
    prec = OpPrecision(weight=L._weight_precision(w_name, w), bias=L._weight_precision(b_name, None) if b_name else None)
    op = L._op(
        node,
        DENSE,
        [xin],
        [out],
        {"n_in": n_in, "n_out": n_out, "bias": b is not None},
        origin=origin,
        sparsity=weight_sparsity(w),
        precision=prec,
        in_names=[x],
    )
    return op, weights


def _h_gemm(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    a = _attrs(node)
    A, B = node.input[0], node.input[1]
    C = node.input[2] if len(node.input) > 2 and node.input[2] else None
    if L._is_const(A) or not L._is_const(B):
        raise _Unsupported("Gemm needs an activation A and a constant B")
    if int(a.get("transA", 0)):
        raise _Unsupported("transA=1 transposes the batch axis")
    Bv = np.asarray(L._const(B))
    if Bv.ndim != 2:
        raise _Unsupported(f"B has rank {Bv.ndim}")
    alpha, beta = _f32(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    w = Bv if int(a.get("transB", 0)) else Bv.T
    if alpha != 1.0:
        w = (w * alpha).astype(Bv.dtype)
    n_out = w.shape[0]
    b = None
    if C is not None:
        Cv = L._const(C)
        if Cv is None:
            raise _Unsupported("Gemm bias C is not constant")
        Cv = np.asarray(Cv)
        if Cv.size not in (1, n_out):
            raise _Unsupported(f"Gemm bias C of shape {Cv.shape} is not per output")
        b = np.broadcast_to(Cv.reshape(-1) * beta, (n_out,)).astype(Cv.dtype).copy()
    w = np.ascontiguousarray(w)
    return _dense(L, node, A, w, b, L._out(node), B, C)


def _h_matmul(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    A, B = node.input[0], node.input[1]
    if L._is_const(A):
        raise _Unsupported("MatMul with a constant left operand (W @ x) is not supported")
    if not L._is_const(B):
        ia, ib = L._spec(A, node), L._spec(B, node)
        return L._op(node, MATMUL, [ia, ib], [L._out(node)], {}, in_names=[A, B]), None
    Bv = np.asarray(L._const(B))
    if Bv.ndim != 2:
        raise _Unsupported(f"constant MatMul weight of rank {Bv.ndim}")
    w = np.ascontiguousarray(Bv.T)
    n_out = w.shape[0]
    # fuse a following Add of a constant bias of size n_out
    out_name = node.output[0]
    cons = L.consumers.get(out_name, [])
    if len(cons) == 1 and out_name not in L.outputs and cons[0].op_type == "Add" and cons[0].domain in STANDARD_DOMAINS:
        add = cons[0]
        other = [t for t in add.input if L._r(t) != out_name]
        if len(other) == 1 and L._is_const(other[0]):
            bv = np.asarray(L._const(other[0]))
            if bv.size == n_out and (bv.ndim == 0 or bv.shape[-1] == n_out) and L._full(add.output[0]) == L._full(out_name):
                L.skip.add(id(add))
                origin = [n for n in (node.name, add.name) if n] or None
                return _dense(L, node, A, w, bv.reshape(-1).copy(), L._spec(add.output[0], add), B, other[0], origin=origin)
    return _dense(L, node, A, w, None, L._out(node), B, None)


def _spatial(a: Mapping[str, Any], key: str, dims: int, default: int) -> tuple[int, ...]:
    v = a.get(key)
    return tuple(int(x) for x in v) if v else (default,) * dims


def _pads(
    a: Mapping[str, Any], in_spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> tuple[int, ...]:
    dims = len(kernel)
    auto = str(a.get("auto_pad", "NOTSET"))
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(dims):
            out = -(-int(in_spatial[i]) // int(stride[i]))
            total = max((out - 1) * stride[i] + (kernel[i] - 1) * dilation[i] + 1 - in_spatial[i], 0)
            small, big = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else big)
            end.append(big if auto == "SAME_UPPER" else small)
        return tuple(begin + end)
    if auto == "VALID":
        return (0,) * (2 * dims)
    p = a.get("pads")
    return tuple(int(x) for x in p) if p else (0,) * (2 * dims)


def _h_conv(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    a = _attrs(node)
    X, W = node.input[0], node.input[1]
    B = node.input[2] if len(node.input) > 2 and node.input[2] else None
    if L._is_const(X) or not L._is_const(W):
        raise _Unsupported("Conv needs an activation input and constant weights")
    Wv = np.asarray(L._const(W))
    dims = Wv.ndim - 2
    if dims not in (1, 2):
        raise _Unsupported(f"{dims}-D convolution (hwsim supports 1-D and 2-D)")
    xin = L._spec(X, node)
    kernel = tuple(int(k) for k in (a.get("kernel_shape") or Wv.shape[2:]))
    stride = _spatial(a, "strides", dims, 1)
    dilation = _spatial(a, "dilations", dims, 1)
    groups = int(a.get("group", 1))
    pads = _pads(a, xin.shape[1:], kernel, stride, dilation)
    b = None
    if B is not None:
        bv = L._const(B)
        if bv is None:
            raise _Unsupported("Conv bias is not constant")
        b = np.asarray(bv).reshape(-1)
    attrs = {
        "dims": dims,
        "in_channels": int(xin.shape[0]),
        "out_channels": int(Wv.shape[0]),
        "kernel": kernel,
        "stride": stride,
        "pads": pads,
        "dilation": dilation,
        "groups": groups,
        "bias": B is not None,
    }
    w = {"weight": Wv}
    if b is not None:
        w["bias"] = b
    prec = OpPrecision(weight=L._weight_precision(W, Wv), bias=L._weight_precision(B, None) if B else None)
    return L._op(node, CONV, [xin], [L._out(node)], attrs, sparsity=weight_sparsity(Wv), precision=prec, in_names=[X]), w


def _h_batchnorm(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    a = _attrs(node)
    X = node.input[0]
    vals = [L._const(t) for t in node.input[1:5]]
    if any(v is None for v in vals) or len(vals) < 4:
        raise _Unsupported("BatchNormalization parameters are not constant")
    xin = L._spec(X, node)
    if not xin.shape:
        raise _Unsupported("BatchNormalization of a tensor without a channel axis")
    c = int(xin.shape[0])
    w = {k: np.asarray(v).reshape(-1) for k, v in zip(("scale", "bias", "mean", "var"), vals)}
    attrs = {"channels": c, "axis": 0, "epsilon": _f32(a.get("epsilon", 1e-5))}
    return L._op(node, BATCHNORM, [xin], [L._out(node)], attrs, in_names=[X]), w


def _h_layernorm(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    a = _attrs(node)
    X = node.input[0]
    S = node.input[1] if len(node.input) > 1 else ""
    B = node.input[2] if len(node.input) > 2 else ""
    rank = len(L._full(X))
    axis = L._axis(int(a.get("axis", -1)), rank)
    xin = L._spec(X, node)
    size = int(math.prod(xin.shape[axis:]))
    sv, bv = L._const(S), L._const(B) if B else None
    if S and sv is None:
        raise _Unsupported("LayerNormalization scale is not constant")
    # affine iff the scale is a trained parameter (an initializer), or not the identity
    is_param = bool(S) and L._r(S) in L.params
    trivial = sv is None or (np.all(np.asarray(sv) == 1) and (bv is None or not np.any(np.asarray(bv) != 0)))
    affine = is_param or not trivial
    w = None
    if affine:
        scale = np.ones(size, dtype=np.float32) if sv is None else np.asarray(sv)
        scale = scale.reshape(-1) if scale.size == size else np.broadcast_to(scale, (size,)).copy()
        bias = np.asarray(bv).reshape(-1) if bv is not None and np.size(bv) == size else np.zeros(size, dtype=scale.dtype)
        w = {"scale": scale, "bias": bias}
    attrs = {"axis": axis, "size": size, "epsilon": _f32(a.get("epsilon", 1e-5)), "affine": bool(affine)}
    return L._op(node, LAYERNORM, [xin], [L._out(node)], attrs, in_names=[X]), w


def _h_activation(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    op = node.op_type
    a = _attrs(node)
    fn = _ACTIVATIONS[op]
    X = node.input[0]
    if L._is_const(X):
        raise _Unsupported("activation of a constant")
    xin = L._spec(X, node)
    rank = len(xin.shape) + 1
    attrs: dict[str, Any] = {"function": fn}
    w = None
    if op == "LeakyRelu":
        attrs["alpha"] = _f32(a.get("alpha", 0.01))
    elif op == "Elu":
        attrs["alpha"] = _f32(a.get("alpha", 1.0))
    elif op == "Selu":
        attrs["alpha"] = float(a.get("alpha", 1.67326319217681884765625))
        attrs["gamma"] = float(a.get("gamma", 1.05070102214813232421875))
    elif op == "HardSigmoid":
        attrs["alpha"] = _f32(a.get("alpha", 0.2))
        attrs["beta"] = _f32(a.get("beta", 0.5))
    elif op in ("Softmax", "LogSoftmax"):
        attrs["axis"] = L._axis(int(a.get("axis", -1 if L.opset >= 13 else 1)), rank)
    elif op == "Gelu":
        attrs["approximate"] = str(a.get("approximate", "none"))
    elif op == "Clip":
        lo = L._const(node.input[1]) if len(node.input) > 1 and node.input[1] else a.get("min")
        hi = L._const(node.input[2]) if len(node.input) > 2 and node.input[2] else a.get("max")
        if (len(node.input) > 1 and node.input[1] and lo is None) or (len(node.input) > 2 and node.input[2] and hi is None):
            raise _Unsupported("Clip bounds are not constant")
        if lo is not None:
            attrs["min"] = _f32(np.ravel(lo)[0])
        if hi is not None:
            attrs["max"] = _f32(np.ravel(hi)[0])
    elif op == "PRelu":
        sv = L._const(node.input[1])
        if sv is None:
            raise _Unsupported("PRelu slope is not constant")
        sv = np.asarray(sv)
        shp = tuple(sv.shape)
        if len(shp) == rank:
            if shp[0] != 1:
                raise _Unsupported("PRelu slope varies over the batch axis")
            shp = shp[1:]
        attrs["slope_shape"] = shp or (1,)
        w = {"slope": sv.reshape(shp or (1,))}
    elif op == "Dropout":
        if len(node.output) > 1 and node.output[1] and L.consumers.get(node.output[1]):
            raise _Unsupported("the Dropout mask output is used")
    return L._op(node, ACTIVATION, [xin], [L._out(node)], attrs, in_names=[X]), w


def _h_pool(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    a = _attrs(node)
    X = node.input[0]
    xin = L._spec(X, node)
    kernel = tuple(int(k) for k in a.get("kernel_shape", ()))
    dims = len(kernel)
    if dims not in (1, 2):
        raise _Unsupported(f"{dims}-D pooling (hwsim supports 1-D and 2-D)")
    if len(node.output) > 1 and node.output[1] and L.consumers.get(node.output[1]):
        raise _Unsupported("the MaxPool indices output is used")
    stride = _spatial(a, "strides", dims, 1)
    dilation = _spatial(a, "dilations", dims, 1)
    attrs = {
        "function": "max" if node.op_type == "MaxPool" else "avg",
        "dims": dims,
        "kernel": kernel,
        "stride": stride,
        "pads": _pads(a, xin.shape[1:], kernel, stride, dilation),
    }
    return L._op(node, POOL, [xin], [L._out(node)], attrs, in_names=[X]), None


def _h_global_pool(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    X = node.input[0]
    xin = L._spec(X, node)
    dims = len(xin.shape) - 1
    if dims < 1:
        raise _Unsupported("global pooling of a tensor without spatial axes")
    attrs = {"function": "max" if node.op_type == "GlobalMaxPool" else "avg", "dims": dims}
    return L._op(node, GLOBAL_POOL, [xin], [L._out(node)], attrs, in_names=[X]), None


def _h_reduce(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    a = _attrs(node)
    X = node.input[0]
    rank = len(L._full(X))
    xin = L._spec(X, node)
    axes: list[int] | None
    if len(node.input) > 1 and node.input[1]:
        av = L._const(node.input[1])
        if av is None:
            raise _Unsupported("reduction axes are not constant")
        axes = [int(v) for v in np.ravel(av)]
    elif "axes" in a:
        axes = [int(v) for v in a["axes"]]
    else:
        axes = None
    if not axes:
        if int(a.get("noop_with_empty_axes", 0)):
            return L._op(node, ACTIVATION, [xin], [L._out(node)], {"function": "identity"}, in_names=[X]), None
        raise _Unsupported("reduction over all axes includes the batch axis")
    per = tuple(sorted(L._axis(ax, rank, "reduction axis") for ax in axes))
    attrs = {"function": _REDUCE[node.op_type], "axes": per, "keepdims": bool(int(a.get("keepdims", 1)))}
    return L._op(node, REDUCE, [xin], [L._out(node)], attrs, in_names=[X]), None


def _bn_between_transposes(L: _Lowerer, node: onnx.NodeProto) -> _Result | None:
    """``Transpose(P) -> BatchNormalization -> Transpose(P^-1)``: how PyTorch users write a
    BatchNorm over a non-channel axis (``bn(x.transpose(1, 2)).transpose(1, 2)``). Lowered to
    one ``batchnorm`` on axis ``P[1] - 1`` of the untransposed tensor, so that
    ``fold_batchnorm`` can fold it into the dense layer before it, as hls4ml does."""
    rank = len(L._full(node.input[0]))
    perm = [int(p) for p in _attrs(node).get("perm", list(range(rank))[::-1])]
    t_out = node.output[0]
    cons = L.consumers.get(t_out, [])
    if len(cons) != 1 or t_out in L.outputs or cons[0].op_type != "BatchNormalization" or L._r(cons[0].input[0]) != t_out:
        return None
    bn = cons[0]
    cons2 = L.consumers.get(bn.output[0], [])
    if (
        len(cons2) != 1
        or bn.output[0] in L.outputs
        or cons2[0].op_type != "Transpose"
        or (len(bn.output) > 1 and any(bn.output[1:]))
    ):
        return None
    t2 = cons2[0]
    perm2 = [int(p) for p in _attrs(t2).get("perm", list(range(rank))[::-1])]
    if len(perm) != rank or len(perm2) != rank or [perm[p] for p in perm2] != list(range(rank)) or perm[0] != 0 or rank < 3:
        return None
    vals = [L._const(t) for t in bn.input[1:5]]
    if len(vals) < 4 or any(v is None for v in vals):
        return None
    xin = L._spec(node.input[0], node)
    axis = perm[1] - 1
    w = {k: np.asarray(v).reshape(-1) for k, v in zip(("scale", "bias", "mean", "var"), vals)}
    attrs = {"channels": int(xin.shape[axis]), "axis": axis, "epsilon": _f32(_attrs(bn).get("epsilon", 1e-5))}
    L.skip.update({id(bn), id(t2)})
    origin = [n for n in (node.name, bn.name, t2.name) if n] or None
    op = L._op(bn, BATCHNORM, [xin], [L._spec(t2.output[0], t2)], attrs, origin=origin, in_names=[node.input[0]])
    return op, w


def _h_reshape(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    op = node.op_type
    if op == "Transpose":
        fused = _bn_between_transposes(L, node)
        if fused is not None:
            return fused
    a = _attrs(node)
    X = node.input[0]
    full_in = L._full(X)
    full_out = L._full(node.output[0])
    rank = len(full_in)
    attrs: dict[str, Any] = {"function": _RESHAPES[op]}
    if op == "Flatten":
        ax = int(a.get("axis", 1))
        ax = ax + rank if ax < 0 else ax
        if ax != 1:
            raise _Unsupported(f"Flatten axis {a.get('axis', 1)} merges the batch axis with others")
    elif op == "Transpose":
        perm = [int(p) for p in a.get("perm", list(range(rank))[::-1])]
        if not perm or perm[0] != 0:
            raise _Unsupported(f"Transpose perm {perm} moves the batch axis")
        attrs["perm"] = tuple(p - 1 for p in perm[1:])
    elif op in ("Squeeze", "Unsqueeze"):
        if len(node.input) > 1 and node.input[1]:
            av = L._const(node.input[1])
            if av is None:
                raise _Unsupported("axes are not constant")
            axes = [int(v) for v in np.ravel(av)]
        else:
            axes = [int(v) for v in a.get("axes", [])]
        if op == "Squeeze" and not axes:
            raise _Unsupported("Squeeze without axes also squeezes the batch axis")
        r = rank if op == "Squeeze" else len(full_out)
        attrs["axes"] = tuple(sorted(L._axis(ax, r) for ax in axes))
    else:  # Reshape
        if not full_out or full_out[0] != 1 or math.prod(full_in[1:]) != math.prod(full_out[1:]):
            raise _Unsupported(f"Reshape {full_in} -> {full_out} does not keep the batch axis")
    xin = L._spec(X, node)
    return L._op(node, RESHAPE, [xin], [L._out(node)], attrs, in_names=[X]), None


def _h_elementwise(L: _Lowerer, node: onnx.NodeProto, fn: str | None = None) -> _Result:
    fn = fn or _ELEMENTWISE[node.op_type]
    names = [t for t in node.input if t]
    acts = [t for t in names if not L._is_const(t)]
    consts = [t for t in names if L._is_const(t)]
    if not acts:
        raise _Unsupported("all operands constant")  # pragma: no cover - folded before
    if len(names) != 2:
        raise _Unsupported(f"{len(names)} operands")
    out_full = L._full(node.output[0])
    attrs: dict[str, Any] = {"function": fn, "n_const": len(consts)}
    stored: dict[str, np.ndarray] | None = None
    if consts:
        cv = np.asarray(L._const(consts[0]))
        shp = tuple(int(d) for d in cv.shape)
        if shp and len(shp) == len(out_full):
            if shp[0] != 1:
                raise _Unsupported(f"constant operand of shape {shp} varies over the batch axis")
            shp = shp[1:]
            cv = cv.reshape(shp)
        attrs["const_shape"] = shp
        if names[0] == consts[0]:
            attrs["const_index"] = 0  # the constant is the first operand (c - x, c / x)
        # the per-inference value (no batch axis), for executors (hwsim.executor)
        stored = {"const": cv}
        if fn == "pow" and names[1] == consts[0]:
            flat = np.ravel(cv)
            if flat.size and np.all(flat == flat[0]):
                attrs["exponent"] = float(flat[0])
    ins = [L._spec(t, node) for t in acts]
    return L._op(node, ELEMENTWISE, ins, [L._out(node)], attrs, in_names=acts), stored


def _h_concat(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    a = _attrs(node)
    rank = len(L._full(node.output[0]))
    axis = L._axis(int(a["axis"]), rank)
    acts = [t for t in node.input if t and not L._is_const(t)]
    ins = [L._spec(t, node) for t in acts]
    return L._op(node, CONCAT, ins, [L._out(node)], {"axis": axis}, in_names=acts), None


def _h_cast(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    """A Cast between float types is a format change of an activation: an identity op whose
    output tensor carries the new dtype. Casts to integers/bool are unsupported."""
    X = node.input[0]
    xin = L._spec(X, node)
    out = L._out(node)
    if xin.dtype not in _FLOAT_PRECISION or out.dtype not in _FLOAT_PRECISION:
        raise _Unsupported(f"Cast {xin.dtype} -> {out.dtype} is not a float format change")
    return L._op(node, ACTIVATION, [xin], [out], {"function": "identity"}, in_names=[X]), None


def _h_neg(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    """Neg(x) = x * (-1): an element-wise multiply by a scalar constant."""
    X = node.input[0]
    attrs = {"function": "mul", "n_const": 1, "const_shape": ()}
    const = {"const": np.asarray(-1.0, dtype=np.float32)}
    return L._op(node, ELEMENTWISE, [L._spec(X, node)], [L._out(node)], attrs, in_names=[X]), const


def _h_sum(L: _Lowerer, node: onnx.NodeProto) -> _Result:
    """Sum of two operands = Add (more operands are unsupported)."""
    if len([t for t in node.input if t]) != 2:
        raise _Unsupported(f"Sum of {len(node.input)} operands")
    return _h_elementwise(L, node, "add")


_HANDLERS: dict[str, Any] = {
    "Cast": _h_cast,
    "Neg": _h_neg,
    "Sum": _h_sum,
    "Gemm": _h_gemm,
    "MatMul": _h_matmul,
    "Conv": _h_conv,
    "BatchNormalization": _h_batchnorm,
    "LayerNormalization": _h_layernorm,
    "MaxPool": _h_pool,
    "AveragePool": _h_pool,
    "GlobalAveragePool": _h_global_pool,
    "GlobalMaxPool": _h_global_pool,
    "Concat": _h_concat,
    **{k: _h_activation for k in _ACTIVATIONS},
    **{k: _h_elementwise for k in _ELEMENTWISE},
    **{k: _h_reduce for k in _REDUCE},
    **{k: _h_reshape for k in _RESHAPES},
}

__all__ = ["QONNX_DOMAINS", "QONNX_OPS", "from_proto", "load_onnx", "quant_precision", "quant_values"]
