"""The operator-graph IR: small frozen, typed classes and a graph that holds them.

Conventions (every frontend and backend relies on them):

* Shapes are **per inference**, without the batch dimension, in the frontend's layout
  (ONNX/PyTorch: channels first, ``(C, H, W)`` for 2-D convolutions, ``(C, L)`` for 1-D).
  A dense layer applied to a ``(8, 3)`` tensor (Deep Sets: 8 particles x 3 features) acts on
  the last axis and is applied ``rows = 8`` times.
* ``Precision`` describes a number format: float, fixed point ``ap_fixed<W,I>``, integer,
  binary (+-1) and ternary (-1, 0, +1).
* ``Op.precision`` is an :class:`OpPrecision`: the formats of the op's weights, biases, input,
  output (result) and accumulator, each possibly ``None`` (= unknown, the backend default).
* ``Op.sparsity`` is the fraction of exact zeros in the op's weight tensor (0 when dense or
  weightless), read from the weights when the model carries them.
* The weight arrays themselves live beside the graph (``OpGraph.weights``), never inside the
  fingerprint or the equality of a graph: two candidates with the same architecture, precision
  and sparsity cost the same.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import networkx as nx
import numpy as np

from hwsim.errors import ModelError

SCHEMA_VERSION = 1

# ---------------------------------------------------------------------------------------------
# Precision
# ---------------------------------------------------------------------------------------------

PRECISION_KINDS = ("float", "fixed", "int", "binary", "ternary")

_FIXED_RE = re.compile(r"^\s*(ap_)?(u?fixed)\s*<\s*(\d+)\s*,\s*(-?\d+)\s*(,[^>]*)?>\s*$")
_INT_RE = re.compile(r"^\s*(ap_)?(u?int)\s*<\s*(\d+)\s*>\s*$")
_FLOAT_RE = re.compile(r"^\s*(float|fp|f)(16|32|64)?\s*$|^\s*(bfloat16|bf16|half|double)\s*$")


@dataclass(frozen=True, slots=True)
class Precision:
    """A number format.

    ``total_bits`` and ``int_bits`` follow the ``ap_fixed<W,I>`` convention (I includes the sign
    bit). Integers have ``int_bits == total_bits``. Floats carry their storage width
    (32 for float32) with ``int_bits`` = exponent bits. Binary is 1 bit (+-1), ternary 2 bits
    (-1, 0, +1; 1.58 bits of information, 2 bits of storage).
    """

    kind: str
    total_bits: int
    int_bits: int
    signed: bool = True

    def __post_init__(self) -> None:
        if self.kind not in PRECISION_KINDS:
            raise ValueError(f"unknown precision kind {self.kind!r}")
        if self.total_bits < 1:
            raise ValueError(f"precision needs at least 1 bit, got {self.total_bits}")

    # constructors -------------------------------------------------------------------------
    @staticmethod
    def float32() -> Precision:
        return Precision("float", 32, 8, True)

    @staticmethod
    def float16() -> Precision:
        return Precision("float", 16, 5, True)

    @staticmethod
    def bfloat16() -> Precision:
        return Precision("float", 16, 8, True)

    @staticmethod
    def float64() -> Precision:
        return Precision("float", 64, 11, True)

    @staticmethod
    def fixed(total_bits: int, int_bits: int, signed: bool = True) -> Precision:
        return Precision("fixed", int(total_bits), int(int_bits), bool(signed))

    @staticmethod
    def integer(bits: int, signed: bool = True) -> Precision:
        return Precision("int", int(bits), int(bits), bool(signed))

    @staticmethod
    def binary() -> Precision:
        return Precision("binary", 1, 1, True)

    @staticmethod
    def ternary() -> Precision:
        return Precision("ternary", 2, 2, True)

    # queries ------------------------------------------------------------------------------
    @property
    def bits(self) -> int:
        """Storage width in bits (the ``b`` of the BOPs formulas)."""
        return self.total_bits

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def frac_bits(self) -> int:
        return self.total_bits - self.int_bits if self.kind in ("fixed", "int") else 0

    def to_hls(self) -> str:
        """The hls4ml / Vivado HLS spelling (``ap_fixed<16,6>``, ``ap_int<8>``...)."""
        if self.kind == "fixed":
            return f"ap_{'' if self.signed else 'u'}fixed<{self.total_bits},{self.int_bits}>"
        if self.kind == "int":
            return f"ap_{'' if self.signed else 'u'}int<{self.total_bits}>"
        if self.kind == "binary":
            return "ap_uint<1>"
        if self.kind == "ternary":
            return "ap_int<2>"
        return {32: "float", 16: "half", 64: "double"}.get(self.total_bits, "float")

    def __str__(self) -> str:
        if self.kind == "float":
            return "bfloat16" if (self.total_bits, self.int_bits) == (16, 8) else f"float{self.total_bits}"
        if self.kind in ("binary", "ternary"):
            return self.kind
        return self.to_hls()

    @staticmethod
    def parse(text: str) -> Precision:
        """Parse ``ap_fixed<16,6>``, ``fixed<8,1>``, ``ap_int<4>``, ``uint<8>``, ``float32``,
        ``binary``, ``ternary``, ``int8``, or a plain bit count ``8`` (an 8-bit integer)."""
        s = str(text).strip()
        low = s.lower()
        if low in ("binary", "bipolar", "ap_uint<1>"):
            return Precision.binary()
        if low == "ternary":
            return Precision.ternary()
        m = _FIXED_RE.match(low)
        if m:
            return Precision.fixed(int(m.group(3)), int(m.group(4)), signed=not m.group(2).startswith("u"))
        m = _INT_RE.match(low)
        if m:
            return Precision.integer(int(m.group(3)), signed=not m.group(2).startswith("u"))
        m = re.fullmatch(r"(u?)int(\d+)", low)
        if m:
            return Precision.integer(int(m.group(2)), signed=not m.group(1))
        if re.fullmatch(r"\d+", low):
            return Precision.integer(int(low))
        m = _FLOAT_RE.match(low)
        if m:
            if m.group(3):
                return {
                    "bfloat16": Precision.bfloat16(),
                    "bf16": Precision.bfloat16(),
                    "half": Precision.float16(),
                    "double": Precision.float64(),
                }[m.group(3)]
            width = int(m.group(2) or 32)
            return {16: Precision.float16(), 32: Precision.float32(), 64: Precision.float64()}[width]
        raise ValueError(f"cannot parse precision {text!r}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "total_bits": self.total_bits, "int_bits": self.int_bits, "signed": self.signed}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> Precision:
        return Precision(str(d["kind"]), int(d["total_bits"]), int(d["int_bits"]), bool(d["signed"]))


@dataclass(frozen=True, slots=True)
class OpPrecision:
    """Number formats of one op; ``None`` means "not set by the model" (backend default)."""

    weight: Precision | None = None
    bias: Precision | None = None
    input: Precision | None = None
    output: Precision | None = None
    accum: Precision | None = None

    FIELDS = ("weight", "bias", "input", "output", "accum")

    def to_json(self) -> dict[str, Any]:
        return {f: (None if getattr(self, f) is None else getattr(self, f).to_json()) for f in self.FIELDS}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> OpPrecision:
        return OpPrecision(**{f: (None if d.get(f) is None else Precision.from_json(d[f])) for f in OpPrecision.FIELDS})

    def with_defaults(self, default: Precision) -> OpPrecision:
        """Fill unset fields with ``default``."""
        return OpPrecision(**{f: getattr(self, f) or default for f in self.FIELDS})


FLOAT32_OP = OpPrecision(*(Precision.float32(),) * 5)


# ---------------------------------------------------------------------------------------------
# Tensors and ops
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A tensor between ops: a name and its per-inference shape (no batch dimension)."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> TensorSpec:
        return TensorSpec(str(d["name"]), tuple(int(x) for x in d["shape"]), str(d.get("dtype", "float32")))


# The op kinds of the IR. Each kind's attributes are listed in hwsim.ops.OP_KINDS.
DENSE = "dense"  # y = x W^T + b over the last axis; attrs n_in, n_out, bias, activation
CONV = "conv"  # attrs dims, in_channels, out_channels, kernel, stride, pads, dilation, groups, bias
MATMUL = "matmul"  # two activations (b, m, n) x (b, n, p); attrs none
BATCHNORM = "batchnorm"  # attrs channels, axis, epsilon
ACTIVATION = "activation"  # attrs function (relu, leaky_relu, elu, sigmoid, tanh, softmax, exp, log, cosh...), alpha, axis
POOL = "pool"  # attrs function (max/avg), dims, kernel, stride, pads
GLOBAL_POOL = "global_pool"  # attrs function (max/avg), dims
REDUCE = "reduce"  # attrs function (mean/max/sum/l2/sum_square), axes, keepdims
ELEMENTWISE = "elementwise"  # attrs function (add/sub/mul/div/pow), constant operand shape in attrs
RESHAPE = "reshape"  # attrs function (flatten/reshape/transpose/squeeze/unsqueeze/identity), perm
CONCAT = "concat"  # attrs axis
LAYERNORM = "layernorm"  # attrs axis, epsilon, size (elements normalised), affine (bool)
OPAQUE = "opaque"  # a node the frontend cannot read: attrs op_type, domain; never costed

OP_KIND_NAMES = (
    DENSE,
    CONV,
    MATMUL,
    BATCHNORM,
    ACTIVATION,
    POOL,
    GLOBAL_POOL,
    REDUCE,
    ELEMENTWISE,
    RESHAPE,
    CONCAT,
    LAYERNORM,
    OPAQUE,
)


def _freeze(value: Any) -> Any:
    """Make an attribute value hashable and JSON-stable (lists -> tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return tuple(_freeze(v) for v in value.tolist())
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


class Attrs(Mapping[str, Any]):
    """An immutable, hashable mapping of op attributes (values are ints, floats, str, tuples)."""

    __slots__ = ("_items", "_hash")

    def __init__(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: dict[str, Any] = {str(k): _freeze(v) for k, v in sorted(pairs, key=lambda kv: str(kv[0]))}
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(self._items.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Attrs):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == {k: _freeze(v) for k, v in other.items()}
        return NotImplemented

    def __repr__(self) -> str:
        return f"Attrs({self._items!r})"

    def updated(self, **changes: Any) -> Attrs:
        d = dict(self._items)
        d.update(changes)
        return Attrs(d)

    def without(self, *keys: str) -> Attrs:
        return Attrs({k: v for k, v in self._items.items() if k not in keys})

    def to_json(self) -> dict[str, Any]:
        return {k: _thaw(v) for k, v in self._items.items()}


@dataclass(frozen=True, slots=True)
class Op:
    """One operator of the graph.

    ``inputs`` are the activation tensors it reads (weights are not inputs: their shapes are
    implied by ``attrs`` and their values sit in ``OpGraph.weights[op.name]``); ``outputs``
    the tensors it writes. ``origin`` names the frontend node(s) the op came from.
    """

    name: str
    kind: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    attrs: Attrs = field(default_factory=Attrs)
    precision: OpPrecision = field(default_factory=OpPrecision)
    sparsity: float = 0.0
    origin: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in OP_KIND_NAMES:
            raise ValueError(f"op {self.name!r}: unknown kind {self.kind!r}")
        if not isinstance(self.attrs, Attrs):
            object.__setattr__(self, "attrs", Attrs(self.attrs))
        if not 0.0 <= self.sparsity <= 1.0:
            raise ValueError(f"op {self.name!r}: sparsity {self.sparsity} outside [0, 1]")

    # shape helpers ------------------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.inputs[0].shape if self.inputs else ()

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.outputs[0].shape if self.outputs else ()

    @property
    def function(self) -> str:
        """The ``function`` attribute (activation, pooling, reduction...), '' if none."""
        return str(self.attrs.get("function", ""))

    # counts -------------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        """How many times a dense layer is applied (product of all but the last input axis)."""
        if self.kind != DENSE:
            return 1
        return int(math.prod(self.input_shape[:-1])) if len(self.input_shape) > 1 else 1

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """Shape of the weight tensor, PyTorch layout; () for weightless ops."""
        a = self.attrs
        if self.kind == DENSE:
            return (int(a["n_out"]), int(a["n_in"]))
        if self.kind == CONV:
            return (int(a["out_channels"]), int(a["in_channels"]) // int(a["groups"]), *map(int, a["kernel"]))
        if self.kind == BATCHNORM:
            return (int(a["channels"]),)
        if self.kind == LAYERNORM and a.get("affine", True):
            return (int(a["size"]),)
        if self.kind == ACTIVATION and self.function == "prelu":
            return tuple(int(x) for x in a.get("slope_shape", (1,)))
        return ()

    @property
    def n_weights(self) -> int:
        return int(math.prod(self.weight_shape)) if self.weight_shape else 0

    @property
    def n_bias(self) -> int:
        a = self.attrs
        if self.kind == DENSE and a.get("bias", True):
            return int(a["n_out"])
        if self.kind == CONV and a.get("bias", True):
            return int(a["out_channels"])
        if self.kind == BATCHNORM:
            return int(a["channels"])
        if self.kind == LAYERNORM and a.get("affine", True):
            return int(a["size"])
        return 0

    @property
    def n_params(self) -> int:
        """Trainable parameters as PyTorch counts them (BatchNorm: weight and bias, 2 x C)."""
        return self.n_weights + self.n_bias

    @property
    def n_nonzero_weights(self) -> int:
        return int(round(self.n_weights * (1.0 - self.sparsity)))

    @property
    def macs(self) -> int:
        """Multiply-accumulates per inference (dense weights, sparsity not applied)."""
        a = self.attrs
        if self.kind == DENSE:
            return self.rows * int(a["n_in"]) * int(a["n_out"])
        if self.kind == CONV:
            out_pixels = int(math.prod(self.output_shape[1:]))
            k = int(math.prod(a["kernel"]))
            return out_pixels * int(a["out_channels"]) * (int(a["in_channels"]) // int(a["groups"])) * k
        if self.kind == MATMUL:
            a_shape, b_shape = self.inputs[0].shape, self.inputs[1].shape
            batch = int(math.prod(self.output_shape[:-2])) if len(self.output_shape) > 2 else 1
            return batch * int(a_shape[-2] if len(a_shape) > 1 else 1) * int(a_shape[-1]) * int(b_shape[-1])
        return 0

    # canonical form ------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "attrs": self.attrs.to_json(),
            "precision": self.precision.to_json(),
            "sparsity": self.sparsity,
            "origin": list(self.origin),
        }

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> Op:
        return Op(
            name=str(d["name"]),
            kind=str(d["kind"]),
            inputs=tuple(TensorSpec.from_json(t) for t in d["inputs"]),
            outputs=tuple(TensorSpec.from_json(t) for t in d["outputs"]),
            attrs=Attrs(d.get("attrs", {})),
            precision=OpPrecision.from_json(d.get("precision", {})),
            sparsity=float(d.get("sparsity", 0.0)),
            origin=tuple(str(x) for x in d.get("origin", ())),
        )

    def evolve(self, **changes: Any) -> Op:
        """A copy with some fields changed (dataclasses.replace)."""
        return replace(self, **changes)


# ---------------------------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------------------------


class OpGraph:
    """A directed acyclic graph of :class:`Op`, connected by tensor names.

    Immutable after construction: passes build new graphs. ``networkx`` is held by
    composition (``self.nx``), one node per op name, edges labelled with the tensor.
    """

    __slots__ = ("name", "inputs", "outputs", "_ops", "_by_name", "_producer", "_consumers", "weights", "_nx", "__dict__")

    def __init__(
        self,
        ops: Sequence[Op],
        inputs: Sequence[TensorSpec],
        outputs: Sequence[str],
        name: str = "model",
        weights: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    ) -> None:
        self.name = name
        self.inputs: tuple[TensorSpec, ...] = tuple(inputs)
        self.outputs: tuple[str, ...] = tuple(outputs)
        self.weights: dict[str, dict[str, np.ndarray]] = {k: dict(v) for k, v in (weights or {}).items()}
        by_name: dict[str, Op] = {}
        producer: dict[str, str] = {}
        consumers: dict[str, list[str]] = {}
        for op in ops:
            if op.name in by_name:
                raise ModelError(f"duplicate op name {op.name!r}")
            by_name[op.name] = op
            for t in op.outputs:
                if t.name in producer:
                    raise ModelError(f"tensor {t.name!r} written by both {producer[t.name]!r} and {op.name!r}")
                producer[t.name] = op.name
        input_names = {t.name for t in self.inputs}
        edges: list[tuple[str, str, str]] = []
        preds: dict[str, set[str]] = {n: set() for n in by_name}
        succs: dict[str, list[str]] = {n: [] for n in by_name}
        for op in ops:
            for t in op.inputs:
                consumers.setdefault(t.name, []).append(op.name)
                if t.name in producer:
                    p = producer[t.name]
                    edges.append((p, op.name, t.name))
                    if p not in preds[op.name]:  # a DiGraph keeps one edge per (producer, consumer)
                        preds[op.name].add(p)
                        succs[p].append(op.name)
                elif t.name not in input_names:
                    raise ModelError(f"op {op.name!r} reads tensor {t.name!r} that nothing produces")
        for out in self.outputs:
            if out not in producer and out not in input_names:
                raise ModelError(f"graph output {out!r} is produced by no op")
        # stable topological order: ties broken by the original op order (the order
        # networkx.lexicographical_topological_sort gives with that key; Kahn's algorithm on a
        # heap of original positions, without building the networkx graph)
        import heapq

        names = list(by_name)
        order = {n: i for i, n in enumerate(names)}
        indeg = {n: len(preds[n]) for n in names}
        heap = [order[n] for n in names if indeg[n] == 0]
        heapq.heapify(heap)
        topo: list[str] = []
        while heap:
            n = names[heapq.heappop(heap)]
            topo.append(n)
            for child in succs[n]:
                indeg[child] -= 1
                if indeg[child] == 0:
                    heapq.heappush(heap, order[child])
        if len(topo) != len(names):
            raise ModelError("the operator graph has a cycle")
        self._ops: tuple[Op, ...] = tuple(by_name[n] for n in topo)
        self._by_name = by_name
        self._producer = producer
        self._consumers = {k: tuple(v) for k, v in consumers.items()}
        self._nx = None  # built on first use (nx, predecessors, successors) from the edges
        self.__dict__["_edges"] = edges

    def _nx_graph(self) -> nx.DiGraph:
        """The networkx view (nodes: op names in op order; edge attr ``tensor``), built lazily."""
        g = self._nx
        if g is None:
            g = nx.DiGraph()
            g.add_nodes_from(self._by_name)
            for p, c, t in self.__dict__["_edges"]:
                g.add_edge(p, c, tensor=t)
            self._nx = g
        return g

    # access -------------------------------------------------------------------------------
    def ops(self) -> tuple[Op, ...]:
        """The ops in a stable topological order."""
        return self._ops

    def __iter__(self) -> Iterator[Op]:
        return iter(self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    def __getitem__(self, name: str) -> Op:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def nx(self) -> nx.DiGraph:
        """A copy of the networkx view (nodes: op names; edge attr ``tensor``)."""
        return self._nx_graph().copy()

    def producer(self, tensor: str) -> Op | None:
        name = self._producer.get(tensor)
        return None if name is None else self._by_name[name]

    def consumers(self, tensor: str) -> tuple[Op, ...]:
        return tuple(self._by_name[n] for n in self._consumers.get(tensor, ()))

    def predecessors(self, op: Op | str) -> tuple[Op, ...]:
        name = op if isinstance(op, str) else op.name
        return tuple(self._by_name[n] for n in self._nx_graph().predecessors(name))

    def successors(self, op: Op | str) -> tuple[Op, ...]:
        name = op if isinstance(op, str) else op.name
        return tuple(self._by_name[n] for n in self._nx_graph().successors(name))

    def tensor(self, name: str) -> TensorSpec:
        for t in self.inputs:
            if t.name == name:
                return t
        op = self.producer(name)
        if op is None:
            raise KeyError(name)
        for t in op.outputs:
            if t.name == name:
                return t
        raise KeyError(name)  # pragma: no cover

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        return tuple(self.tensor(n) for n in self.outputs)

    # counts -------------------------------------------------------------------------------
    @cached_property
    def n_params(self) -> int:
        return sum(op.n_params for op in self._ops)

    @cached_property
    def macs(self) -> int:
        return sum(op.macs for op in self._ops)

    def kinds(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for op in self._ops:
            out[op.kind] = out.get(op.kind, 0) + 1
        return out

    # construction helpers -----------------------------------------------------------------
    def replace_ops(
        self,
        ops: Sequence[Op],
        outputs: Sequence[str] | None = None,
        weights: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    ) -> OpGraph:
        """A new graph with the same inputs and name, new ops (and optionally outputs/weights)."""
        keep = {op.name for op in ops}
        w = weights if weights is not None else {k: v for k, v in self.weights.items() if k in keep}
        return OpGraph(ops, self.inputs, self.outputs if outputs is None else outputs, self.name, w)

    def with_name(self, name: str) -> OpGraph:
        return OpGraph(self._ops, self.inputs, self.outputs, name, self.weights)

    # identity -----------------------------------------------------------------------------
    def canonical(self) -> dict[str, Any]:
        """A name-free canonical form: tensors renamed by topological position, origins and
        op names dropped, sparsity rounded to 1e-6. Two graphs of the same network from
        different frontends have the same canonical form."""
        rename: dict[str, str] = {}
        for i, t in enumerate(self.inputs):
            rename[t.name] = f"in{i}"
        for i, op in enumerate(self._ops):
            for j, t in enumerate(op.outputs):
                rename[t.name] = f"t{i}.{j}"
        ops = []
        for op in self._ops:
            ops.append(
                [
                    op.kind,
                    [[rename[t.name], list(t.shape)] for t in op.inputs],
                    [[rename[t.name], list(t.shape)] for t in op.outputs],
                    op.attrs.to_json(),
                    op.precision.to_json(),
                    round(op.sparsity, 6),
                ]
            )
        return {
            "inputs": [list(t.shape) for t in self.inputs],
            "outputs": [rename[o] for o in self.outputs],
            "ops": ops,
        }

    def fingerprint(self) -> str:
        """Stable hash of :meth:`canonical` (hex sha256, 16 chars): the search cache key."""
        fp = self.__dict__.get("_fingerprint")
        if fp is None:
            blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
            fp = hashlib.sha256(blob.encode()).hexdigest()[:16]
            self.__dict__["_fingerprint"] = fp
        return fp

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OpGraph):
            return NotImplemented
        return (
            self.name == other.name and self.inputs == other.inputs and self.outputs == other.outputs and self._ops == other._ops
        )

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __repr__(self) -> str:
        return f"OpGraph({self.name!r}, {len(self._ops)} ops, fingerprint={self.fingerprint()})"

    # JSON -----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Structure, precision and sparsity (not the weight values), with a schema version."""
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": list(self.outputs),
            "ops": [op.to_json() for op in self._ops],
            "fingerprint": self.fingerprint(),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> OpGraph:
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ModelError(f"graph JSON schema_version {version!r} is not {SCHEMA_VERSION}")
        try:
            return OpGraph(
                [Op.from_json(o) for o in d["ops"]],
                [TensorSpec.from_json(t) for t in d["inputs"]],
                [str(o) for o in d["outputs"]],
                str(d.get("name", "model")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"malformed graph JSON: {exc}") from exc

    @staticmethod
    def loads(text: str) -> OpGraph:
        return OpGraph.from_json(json.loads(text))


def weight_sparsity(array: np.ndarray | None) -> float:
    """Fraction of exact zeros in ``array`` (0.0 for None or empty)."""
    if array is None or array.size == 0:
        return 0.0
    return float(np.count_nonzero(array == 0)) / float(array.size)
