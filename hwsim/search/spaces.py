"""Search spaces as data: a YAML file describes a block-structured space; a *sample* (one value
per parameter) builds a concrete architecture, which becomes an :class:`~hwsim.ir.OpGraph`
(directly, fast: no export) and, on request, the identical ``torch.nn.Module`` (for training).

The YAML schema is documented in ``hwsim/search/spaces/README.md``. In short::

    name: deepsets
    input_shape: [8, 3]            # per inference, no batch dimension
    task: {metric: accuracy, direction: maximize}
    blocks:
      - {type: mlp, name: phi, layers: {choices: [1, 2, 3, 4]}, width: {choices: [4, 8, 16]},
         out: {choices: [1, 2, 4, 8, 16, 32, 64]}, norm: {choices: [batch, none]},
         activation: {choices: [relu, leaky_relu, none]}}
      - {type: aggregate, name: agg, axis: 0, function: {choices: [mean, max]}}
      - {type: mlp, name: rho, layers: 2, width: 32, out: 5, norm: none, activation: relu}

A value is a literal, ``{choices: [...]}`` (categorical) or ``{low: a, high: b[, step: s, log:
bool]}`` (an integer range). Parameter names are ``BLOCK.FIELD`` or, for per-layer fields,
``BLOCK.FIELD_i``; inside a ``choice`` block, ``BLOCK`` picks the option and the option's
parameters are named ``BLOCK.OPTION.FIELD[_i]`` (sampled only when that option is chosen).

Shipped spaces (``hwsim/search/spaces/*.yaml``): the codesign paper's BraggNN and Deep Sets
spaces (Weitz et al. 2025, appendix C) and their nac-opt 2023-2024 variants used to decode the
logged searches.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from hwsim.errors import ConfigError
from hwsim.ir import (
    ACTIVATION,
    BATCHNORM,
    CONV,
    DENSE,
    ELEMENTWISE,
    FLOAT32_OP,
    LAYERNORM,
    MATMUL,
    REDUCE,
    RESHAPE,
    Attrs,
    Op,
    OpGraph,
    TensorSpec,
)
from hwsim.search.objective import InfeasibleCandidate

log = logging.getLogger(__name__)

SPACES_DIR = Path(__file__).with_name("spaces")

ACTIVATIONS = ("relu", "leaky_relu", "gelu", "sigmoid", "tanh", "none")
NORMS = ("batch", "batch_rows", "layer", "none")
AGGREGATES = ("mean", "max", "sum")
BLOCK_TYPES = ("mlp", "conv", "conv_attention", "choice", "aggregate", "flatten", "identity")

_BLOCK_FIELDS: dict[str, dict[str, tuple[bool, Any]]] = {
    # field -> (per_layer, default)
    "mlp": {
        "layers": (False, None),
        "width": (True, None),
        "out": (False, None),
        "norm": (True, "none"),
        "activation": (True, "none"),
    },
    "conv": {
        "layers": (False, 1),
        "channels": (True, None),
        "kernel": (True, 3),
        "norm": (True, "none"),
        "activation": (True, "none"),
    },
    "conv_attention": {"hidden": (False, None), "activation": (False, "none")},
    "aggregate": {"function": (False, "mean"), "axis": (False, 0)},
    "flatten": {},
    "identity": {},
}
_BLOCK_OPTIONS = {
    "mlp": {"norm_axis"},
    "conv": {"padding"},
    "conv_attention": set(),
    "aggregate": set(),
    "flatten": set(),
    "identity": set(),
}


# ---------------------------------------------------------------------------------------------
# parameter specs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter: categorical ``choices`` or an integer range."""

    name: str
    choices: tuple[Any, ...] | None = None
    low: int | None = None
    high: int | None = None
    step: int = 1
    log: bool = False

    def values(self) -> tuple[Any, ...]:
        """Every value (the choices, or the integers of the range)."""
        if self.choices is not None:
            return self.choices
        assert self.low is not None and self.high is not None
        return tuple(range(self.low, self.high + 1, self.step))

    def suggest(self, trial: Any) -> Any:
        """Sample with an Optuna trial (``suggest_categorical`` / ``suggest_int``)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        return trial.suggest_int(self.name, int(self.low), int(self.high), step=self.step, log=self.log)  # type: ignore[arg-type]

    def random(self, rng: random.Random) -> Any:
        if self.choices is not None:
            return rng.choice(self.choices)
        assert self.low is not None and self.high is not None
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return min(self.high, max(self.low, int(v)))
        return rng.randrange(self.low, self.high + 1, self.step)

    def check(self, value: Any) -> Any:
        if self.choices is not None:
            if value in self.choices:
                return value
            raise ConfigError(f"parameter {self.name!r}: value {value!r} is not one of {list(self.choices)}")
        if isinstance(value, bool) or not isinstance(value, int) or not (self.low <= value <= self.high):  # type: ignore[operator]
            raise ConfigError(f"parameter {self.name!r}: value {value!r} is not an integer in [{self.low}, {self.high}]")
        return value


@dataclass(frozen=True)
class Value:
    """A block field: a fixed literal or a :class:`ParamSpec` (``shared`` for per-layer fields
    means one sample for every layer)."""

    fixed: Any = None
    spec: ParamSpec | None = None
    shared: bool = False


def _parse_value(raw: Any, where: str, name: str, allowed: Sequence[Any] | None = None, kind: type | None = None) -> Value:
    """``where`` names the YAML key for error messages; ``name`` is the parameter name."""

    def _check_literal(v: Any) -> Any:
        if isinstance(v, str) and kind is int:
            raise ConfigError(f"{where}: {v!r} is not an integer")
        if v is None and allowed is not None and "none" in allowed:
            v = "none"
        if isinstance(v, str) and allowed is not None:
            v = v.lower()
        if allowed is not None and v not in allowed:
            raise ConfigError(f"{where}: {v!r} is not one of {list(allowed)}")
        if kind is int and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ConfigError(f"{where}: {v!r} is not a positive integer")
        return v

    if isinstance(raw, Mapping):
        unknown = set(raw) - {"choices", "low", "high", "step", "log", "shared"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} (allowed: choices, low, high, step, log, shared)")
        shared = bool(raw.get("shared", False))
        if "choices" in raw:
            if {"low", "high"} & set(raw):
                raise ConfigError(f"{where}: give either choices or low/high, not both")
            ch = raw["choices"]
            if not isinstance(ch, list) or not ch:
                raise ConfigError(f"{where}.choices: expected a non-empty list")
            vals = tuple(_check_literal(c) for c in ch)
            if len(set(map(repr, vals))) != len(vals):
                raise ConfigError(f"{where}.choices: duplicate values {list(vals)}")
            return Value(spec=ParamSpec(name, choices=vals), shared=shared)
        if "low" in raw or "high" in raw:
            if kind is not int:
                raise ConfigError(f"{where}: an integer range (low/high) is only allowed for integer fields")
            try:
                low, high, step = int(raw["low"]), int(raw["high"]), int(raw.get("step", 1))
            except (KeyError, TypeError, ValueError):
                raise ConfigError(f"{where}: an integer range needs integer low and high (and optional step)") from None
            if not (1 <= low <= high) or step < 1:
                raise ConfigError(f"{where}: need 1 <= low <= high and step >= 1, got low={low} high={high} step={step}")
            return Value(spec=ParamSpec(name, low=low, high=high, step=step, log=bool(raw.get("log", False))), shared=shared)
        raise ConfigError(f"{where}: a mapping needs 'choices' or 'low'/'high'")
    if isinstance(raw, list):
        raise ConfigError(f"{where}: a list is ambiguous; write {{choices: [...]}} to search over it")
    return Value(fixed=_check_literal(raw))


# ---------------------------------------------------------------------------------------------
# blocks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    type: str
    name: str
    fields: dict[str, Value]
    options: dict[str, Any]
    alternatives: dict[str, Block] | None = None  # choice blocks
    choice: ParamSpec | None = None


_ALLOWED = {"norm": NORMS, "activation": ACTIVATIONS, "function": AGGREGATES}
_INT_FIELDS = {"layers", "width", "out", "channels", "kernel", "hidden"}


def _parse_block(raw: Any, where: str, prefix: str, seen: set[str]) -> Block:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: a block must be a mapping with a 'type'")
    btype = raw.get("type")
    if btype not in BLOCK_TYPES:
        raise ConfigError(f"{where}.type: {btype!r} is not one of {list(BLOCK_TYPES)}")
    name = raw.get("name", prefix)
    if not isinstance(name, str) or not name or "." in name:
        raise ConfigError(f"{where}.name: {name!r} must be a non-empty string without '.'")
    full = name if prefix == "" or prefix == name else prefix
    if btype == "choice":
        opts = raw.get("options")
        if not isinstance(opts, Mapping) or not opts:
            raise ConfigError(f"{where}.options: a choice block needs a mapping option-name -> block")
        unknown = set(raw) - {"type", "name", "options"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} for a choice block")
        if full in seen:
            raise ConfigError(f"{where}.name: duplicate block name {full!r}")
        seen.add(full)
        alts: dict[str, Block] = {}
        for oname, oraw in opts.items():
            oname = str(oname)
            if oraw is None:
                oraw = {"type": "identity"}
            if isinstance(oraw, Mapping) and oraw.get("type") == "choice":
                raise ConfigError(f"{where}.options.{oname}: nested choice blocks are not supported")
            sub = dict(oraw) if isinstance(oraw, Mapping) else oraw
            if isinstance(sub, dict):
                sub["name"] = f"{full}.{oname}"
            alts[oname] = _parse_block_fields(sub, f"{where}.options.{oname}", f"{full}.{oname}")
        return Block("choice", full, {}, {}, alts, ParamSpec(full, choices=tuple(alts)))
    if full in seen:
        raise ConfigError(f"{where}.name: duplicate block name {full!r}")
    seen.add(full)
    return _parse_block_fields(raw, where, full)


def _max_layers_raw(raw: Any) -> int:
    if isinstance(raw, Mapping):
        vals = raw.get("choices") or [raw.get("high", 2)]
        return max(int(v) for v in vals if isinstance(v, int)) if any(isinstance(v, int) for v in vals) else 2
    return int(raw) if isinstance(raw, int) and not isinstance(raw, bool) else 2


def _parse_block_fields(raw: Any, where: str, full: str) -> Block:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: a block must be a mapping with a 'type'")
    btype = raw.get("type")
    if btype not in _BLOCK_FIELDS:
        raise ConfigError(f"{where}.type: {btype!r} is not one of {[t for t in BLOCK_TYPES if t != 'choice']}")
    spec = _BLOCK_FIELDS[btype]
    unknown = set(raw) - set(spec) - _BLOCK_OPTIONS[btype] - {"type", "name"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)} for a {btype} block (allowed: {sorted(set(spec) | _BLOCK_OPTIONS[btype])})"
        )
    fields: dict[str, Value] = {}
    for fname, (_per_layer, default) in spec.items():
        if fname in raw:
            rawv = raw[fname]
        elif default is not None:
            rawv = default
        elif btype == "mlp" and fname == "width" and _max_layers_raw(raw.get("layers")) <= 1:
            fields[fname] = Value(fixed=None)  # a single layer has no hidden width
            continue
        else:
            raise ConfigError(f"{where}: missing required key {fname!r} for a {btype} block")
        if fname == "axis":
            if isinstance(rawv, bool) or not isinstance(rawv, int):
                raise ConfigError(f"{where}.axis: expected an integer axis of the per-inference shape")
            fields[fname] = Value(fixed=rawv)
            continue
        fields[fname] = _parse_value(
            rawv, f"{where}.{fname}", f"{full}.{fname}", _ALLOWED.get(fname), int if fname in _INT_FIELDS else None
        )
    options: dict[str, Any] = {}
    if "norm_axis" in raw:
        if raw["norm_axis"] not in ("features", "rows"):
            raise ConfigError(f"{where}.norm_axis: expected 'features' or 'rows', got {raw['norm_axis']!r}")
        options["norm_axis"] = raw["norm_axis"]
    if "padding" in raw:
        if raw["padding"] not in ("valid", "same"):
            raise ConfigError(f"{where}.padding: expected 'valid' or 'same', got {raw['padding']!r}")
        options["padding"] = raw["padding"]
    return Block(btype, full, fields, options)


# ---------------------------------------------------------------------------------------------
# concrete architectures
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One concrete layer of a built architecture (see :meth:`SearchSpace.build`).

    kind: linear (n_in, n_out) | batchnorm (channels, axis, transpose) | layernorm (shape) |
    act (function, alpha) | conv2d (cin, cout, k, pad) | flatten | reduce (function, axis) |
    attention (channels, hidden, activation, alpha).
    """

    kind: str
    args: tuple[Any, ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


@dataclass(frozen=True)
class Architecture:
    name: str
    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]
    sample: dict[str, Any]

    @property
    def n_params(self) -> int:
        """Trainable parameters, counted as PyTorch counts them."""
        n = 0
        for layer in self.layers:
            a = layer.args
            if layer.kind == "linear":
                n += a[0] * a[1] + a[1]
            elif layer.kind == "conv2d":
                n += a[0] * a[1] * a[2] * a[2] + a[1]
            elif layer.kind == "batchnorm":
                n += 2 * a[0]
            elif layer.kind == "layernorm":
                n += 2 * math.prod(a[0])
            elif layer.kind == "attention":
                c, h = a[0], a[1]
                n += 3 * (c * h + h) + (h * c + c)
        return n


# ---------------------------------------------------------------------------------------------
# the space
# ---------------------------------------------------------------------------------------------


class SearchSpace:
    """A parsed search space (see the module docstring and spaces/README.md)."""

    def __init__(self, data: Mapping[str, Any], source: str = "<space>") -> None:
        self.source = source
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: a search space must be a mapping")
        unknown = set(data) - {"name", "description", "input_shape", "task", "blocks", "leaky_relu_alpha", "reference"}
        if unknown:
            raise ConfigError(f"{source}: unknown top-level key(s) {sorted(unknown)}")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{source}: missing required key 'name'")
        self.name = name
        self.description = str(data.get("description", ""))
        self.reference = str(data.get("reference", ""))
        shape = data.get("input_shape")
        if (
            not isinstance(shape, list)
            or not shape
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
        ):
            raise ConfigError(f"{source}: 'input_shape' must be a list of positive integers (per inference, no batch)")
        self.input_shape: tuple[int, ...] = tuple(shape)
        task = data.get("task", {}) or {}
        if not isinstance(task, Mapping):
            raise ConfigError(f"{source}: 'task' must be a mapping")
        unknown = set(task) - {"metric", "direction", "kind"}
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {sorted(unknown)} in 'task'")
        self.metric = str(task.get("metric", "accuracy"))
        self.direction = str(task.get("direction", "maximize"))
        if self.direction not in ("maximize", "minimize"):
            raise ConfigError(f"{source}: task.direction must be maximize or minimize, got {self.direction!r}")
        self.task_kind = str(task.get("kind", "classification"))
        if self.task_kind not in ("classification", "regression"):
            raise ConfigError(f"{source}: task.kind must be classification or regression, got {self.task_kind!r}")
        alpha = data.get("leaky_relu_alpha", 0.01)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < 1:
            raise ConfigError(f"{source}: 'leaky_relu_alpha' must be a number in [0, 1)")
        self.leaky_relu_alpha = float(alpha)
        blocks = data.get("blocks")
        if not isinstance(blocks, list) or not blocks:
            raise ConfigError(f"{source}: 'blocks' must be a non-empty list")
        seen: set[str] = set()
        self.blocks: tuple[Block, ...] = tuple(
            _parse_block(b, f"{source}: blocks[{i}]", (b.get("name", f"b{i}") if isinstance(b, Mapping) else f"b{i}"), seen)
            for i, b in enumerate(blocks)
        )

    # ---------------------------------------------------------------- loading
    @staticmethod
    def load(path_or_name: str | Path) -> SearchSpace:
        """Load a YAML file, or a shipped space by name (``deepsets``, ``braggnn``...)."""
        import yaml

        p = Path(path_or_name)
        if not p.is_file():
            shipped = SPACES_DIR / f"{path_or_name}.yaml"
            if shipped.is_file():
                p = shipped
            else:
                raise ConfigError(
                    f"{path_or_name}: no such search-space file, and not a shipped space (known: {', '.join(shipped_spaces())})"
                )
        try:
            data = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {str(exc).splitlines()[0]}") from None
        return SearchSpace(data, str(p))

    # ---------------------------------------------------------------- parameters
    def parameters(self) -> list[ParamSpec]:
        """Every parameter the space can sample (for layer-count fields, up to the maximum)."""
        out: list[ParamSpec] = []
        for b in self.blocks:
            if b.type == "choice":
                assert b.choice is not None and b.alternatives is not None
                out.append(b.choice)
                for alt in b.alternatives.values():
                    out.extend(self._block_params(alt))
            else:
                out.extend(self._block_params(b))
        return out

    def _block_params(self, b: Block) -> list[ParamSpec]:
        out: list[ParamSpec] = []
        nmax = self._max_layers(b)
        for fname, val in b.fields.items():
            if val.spec is None:
                continue
            if self._per_layer(b, fname) and not val.shared:
                count = nmax - 1 if (b.type == "mlp" and fname == "width") else nmax
                out.extend(
                    ParamSpec(f"{b.name}.{fname}_{i}", val.spec.choices, val.spec.low, val.spec.high, val.spec.step, val.spec.log)
                    for i in range(count)
                )
            else:
                out.append(val.spec)
        return out

    @staticmethod
    def _per_layer(b: Block, fname: str) -> bool:
        return _BLOCK_FIELDS[b.type][fname][0]

    @staticmethod
    def _max_layers(b: Block) -> int:
        lv = b.fields.get("layers")
        if lv is None:
            return 1
        if lv.spec is None:
            return int(lv.fixed)
        return int(max(lv.spec.values()))

    # ---------------------------------------------------------------- sampling
    def sample(self, trial: Any) -> dict[str, Any]:
        """Sample with an Optuna trial, define-by-run: a parameter is suggested only when the
        architecture uses it (hidden widths beyond the sampled layer count are not)."""
        return self._walk(lambda spec: spec.suggest(trial))

    def sample_random(self, rng: random.Random | int | None = None) -> dict[str, Any]:
        """A uniformly random sample (``rng``: a ``random.Random`` or a seed)."""
        r = rng if isinstance(rng, random.Random) else random.Random(rng)
        return self._walk(lambda spec: spec.random(r))

    def _walk(self, draw: Any) -> dict[str, Any]:
        sample: dict[str, Any] = {}

        def get(spec: ParamSpec) -> Any:
            if spec.name not in sample:
                sample[spec.name] = draw(spec)
            return sample[spec.name]

        for b in self.blocks:
            if b.type == "choice":
                assert b.choice is not None and b.alternatives is not None
                self._walk_block(b.alternatives[get(b.choice)], get)
            else:
                self._walk_block(b, get)
        return sample

    def _walk_block(self, b: Block, get: Any) -> None:
        n = self._value(b, "layers", None, get) if "layers" in b.fields else 1
        for fname in b.fields:
            if fname == "layers":
                continue
            if self._per_layer(b, fname):
                count = n - 1 if (b.type == "mlp" and fname == "width") else n
                for i in range(count):
                    self._value(b, fname, i, get)
            else:
                self._value(b, fname, None, get)

    def _value(self, b: Block, fname: str, i: int | None, get: Any) -> Any:
        val = b.fields[fname]
        if val.spec is None:
            return val.fixed
        if i is None or val.shared:
            return get(val.spec)
        s = val.spec
        return get(ParamSpec(f"{b.name}.{fname}_{i}", s.choices, s.low, s.high, s.step, s.log))

    # ---------------------------------------------------------------- building
    def build(self, sample: Mapping[str, Any]) -> Architecture:
        """The concrete architecture of ``sample`` (parameter name -> value).

        Raises :class:`~hwsim.errors.ConfigError` naming the parameter when a value is missing
        or not allowed, :class:`~hwsim.search.objective.InfeasibleCandidate` when the
        architecture cannot be built (shapes collapse).
        """
        specs = self.__dict__.get("_spec_map")
        if specs is None:  # the blocks do not change after parsing: build the map once
            specs = self.__dict__["_spec_map"] = {p.name: p for p in self.parameters()}
        unknown = set(sample) - specs.keys()
        if unknown:
            raise ConfigError(f"{self.name}: unknown parameter(s) {sorted(unknown)} (known: {', '.join(sorted(specs))})")

        def get(spec: ParamSpec) -> Any:
            if spec.name not in sample:
                raise ConfigError(f"{self.name}: the sample has no value for parameter {spec.name!r}")
            return spec.check(sample[spec.name])

        layers: list[Layer] = []
        shape = self.input_shape
        for b in self.blocks:
            if b.type == "choice":
                assert b.choice is not None and b.alternatives is not None
                blk = b.alternatives[get(b.choice)]
            else:
                blk = b
            shape = self._build_block(blk, shape, get, layers)
        return Architecture(self.name, self.input_shape, tuple(layers), dict(sample))

    def _act(self, fn: str, shape: tuple[int, ...], layers: list[Layer]) -> None:
        if fn != "none":
            layers.append(Layer("act", (fn, self.leaky_relu_alpha if fn == "leaky_relu" else None), shape, shape))

    def _build_block(self, b: Block, shape: tuple[int, ...], get: Any, layers: list[Layer]) -> tuple[int, ...]:
        def v(f: str, i: int | None = None) -> Any:
            return self._value(b, f, i, get)

        out: tuple[int, ...]
        if b.type == "identity":
            return shape
        if b.type == "flatten":
            out = (math.prod(shape),)
            if len(shape) > 1:
                layers.append(Layer("flatten", (), shape, out))
            return out
        if b.type == "aggregate":
            axis = int(v("axis"))
            if not -len(shape) <= axis < len(shape) or len(shape) < 2:
                raise InfeasibleCandidate(f"{b.name}: cannot aggregate axis {axis} of shape {shape}")
            axis %= len(shape)
            out = tuple(int(s) for j, s in enumerate(shape) if j != axis)
            layers.append(Layer("reduce", (str(v("function")), axis), shape, out))
            return out
        if b.type == "mlp":
            n = int(v("layers"))
            widths = [int(v("width", i)) for i in range(n - 1)] + [int(v("out"))]
            norm_axis = b.options.get("norm_axis", "features")
            for i, w in enumerate(widths):
                out = shape[:-1] + (w,)
                layers.append(Layer("linear", (shape[-1], w), shape, out))
                shape = out
                norm = str(v("norm", i))
                if norm == "batch_rows" or (norm == "batch" and norm_axis == "rows"):
                    # nac-opt's Deep Sets phi: BatchNorm1d(rows) on (batch, rows, features),
                    # i.e. over axis 0 of the per-inference shape (on a vector: its features)
                    layers.append(Layer("batchnorm", (shape[0], 0, False), shape, shape))
                elif norm == "batch":
                    # over the features (last axis); a (rows, features) tensor is transposed
                    # around it (PyTorch's BatchNorm1d wants channels on axis 1)
                    if len(shape) > 2:
                        raise InfeasibleCandidate(f"{b.name}: batch norm over features of a rank-{len(shape)} tensor")
                    layers.append(Layer("batchnorm", (shape[-1], len(shape) - 1, len(shape) == 2), shape, shape))
                elif norm == "layer":
                    layers.append(Layer("layernorm", ((w,),), shape, shape))
                self._act(str(v("activation", i)), shape, layers)
            return shape
        if b.type == "conv":
            if len(shape) != 3:
                raise InfeasibleCandidate(f"{b.name}: a conv block needs a (C, H, W) input, got {shape}")
            n = int(v("layers"))
            same = b.options.get("padding", "valid") == "same"
            for i in range(n):
                cout, k = int(v("channels", i)), int(v("kernel", i))
                c, h, w = shape
                pad = (k - 1) // 2 if same else 0
                ho, wo = h + 2 * pad - k + 1, w + 2 * pad - k + 1
                if ho < 1 or wo < 1:
                    raise InfeasibleCandidate(f"{b.name}: a {k}x{k} convolution does not fit a {h}x{w} image")
                out = (cout, ho, wo)
                layers.append(Layer("conv2d", (c, cout, k, pad), shape, out))
                shape = out
                norm = str(v("norm", i))
                if norm in ("batch", "batch_rows"):
                    layers.append(Layer("batchnorm", (cout, 0, False), shape, shape))
                elif norm == "layer":
                    layers.append(Layer("layernorm", (shape,), shape, shape))
                self._act(str(v("activation", i)), shape, layers)
            return shape
        if b.type == "conv_attention":
            if len(shape) != 3:
                raise InfeasibleCandidate(f"{b.name}: an attention block needs a (C, H, W) input, got {shape}")
            fn = str(v("activation"))
            layers.append(
                Layer(
                    "attention",
                    (shape[0], int(v("hidden")), fn, self.leaky_relu_alpha if fn == "leaky_relu" else None),
                    shape,
                    shape,
                )
            )
            return shape
        raise ConfigError(f"{b.name}: unknown block type {b.type!r}")  # pragma: no cover

    def to_graph(self, sample: Mapping[str, Any] | Architecture, name: str | None = None) -> OpGraph:
        """The IR of ``sample``, built directly (same fingerprint as ``from_torch`` of
        :meth:`to_torch`; tested in tests/test_search_spaces.py)."""
        arch = sample if isinstance(sample, Architecture) else self.build(sample)
        return arch_to_graph(arch, name or self.name)

    def to_torch(self, sample: Mapping[str, Any] | Architecture) -> Any:
        """The ``torch.nn.Module`` of ``sample`` (input ``(batch, *input_shape)``)."""
        arch = sample if isinstance(sample, Architecture) else self.build(sample)
        return arch_to_torch(arch)

    def example_input(self, batch: int = 1) -> Any:
        import torch

        return torch.zeros((batch, *self.input_shape))


def shipped_spaces() -> list[str]:
    return sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))


def load_space(path_or_name: str | Path) -> SearchSpace:
    return SearchSpace.load(path_or_name)


# ---------------------------------------------------------------------------------------------
# IR
# ---------------------------------------------------------------------------------------------


class _IRBuilder:
    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.n = 0

    def t(self, shape: tuple[int, ...]) -> TensorSpec:
        self.n += 1
        return TensorSpec(f"t{self.n}", tuple(int(s) for s in shape))

    def add(
        self, name: str, kind: str, inputs: tuple[TensorSpec, ...], out_shape: tuple[int, ...], attrs: Mapping[str, Any]
    ) -> TensorSpec:
        out = self.t(out_shape)
        self.ops.append(Op(f"{name}_{len(self.ops)}", kind, inputs, (out,), Attrs(attrs), FLOAT32_OP))
        return out


def _act_attrs(fn: str, alpha: float | None) -> dict[str, Any]:
    if fn == "leaky_relu":
        return {"function": "leaky_relu", "alpha": float(alpha if alpha is not None else 0.01)}
    if fn == "gelu":
        return {"function": "gelu", "approximate": "none"}  # nn.GELU() default (exact erf form)
    return {"function": fn}


def _conv_attrs(cin: int, cout: int, k: int, pad: int) -> dict[str, Any]:
    return {
        "dims": 2,
        "in_channels": cin,
        "out_channels": cout,
        "kernel": (k, k),
        "stride": (1, 1),
        "pads": (pad, pad, pad, pad),
        "dilation": (1, 1),
        "groups": 1,
        "bias": True,
    }


def arch_to_graph(arch: Architecture, name: str = "candidate") -> OpGraph:
    """Build the OpGraph of a concrete architecture (ops in the order the PyTorch module runs)."""
    b = _IRBuilder()
    x = TensorSpec("input", arch.input_shape)
    cur = x
    for layer in arch.layers:
        a = layer.args
        if layer.kind == "linear":
            cur = b.add("dense", DENSE, (cur,), layer.out_shape, {"n_in": a[0], "n_out": a[1], "bias": True})
        elif layer.kind == "batchnorm":
            ch, axis, transpose = a
            # a feature BatchNorm on (rows, features) is one batchnorm on the last axis (the
            # ONNX frontend folds the exporter's Transpose-BN-Transpose the same way)
            cur = b.add("bn", BATCHNORM, (cur,), layer.out_shape, {"channels": ch, "axis": axis, "epsilon": 1e-5})
        elif layer.kind == "layernorm":
            nshape = a[0]
            cur = b.add(
                "ln",
                LAYERNORM,
                (cur,),
                layer.out_shape,
                {"axis": len(layer.in_shape) - len(nshape), "size": math.prod(nshape), "epsilon": 1e-5, "affine": True},
            )
        elif layer.kind == "act":
            cur = b.add("act", ACTIVATION, (cur,), layer.out_shape, _act_attrs(a[0], a[1]))
        elif layer.kind == "conv2d":
            cur = b.add("conv", CONV, (cur,), layer.out_shape, _conv_attrs(*a))
        elif layer.kind == "flatten":
            cur = b.add("flatten", RESHAPE, (cur,), layer.out_shape, {"function": "flatten"})
        elif layer.kind == "reduce":
            cur = b.add("reduce", REDUCE, (cur,), layer.out_shape, {"function": a[0], "axes": (a[1],), "keepdims": False})
        elif layer.kind == "attention":
            c, hid, fn, alpha = a
            _, h, w = layer.in_shape
            hw = h * w
            xin = cur
            # the order in which the PyTorch module (and its ONNX export) runs them
            q = b.add("conv_q", CONV, (xin,), (hid, h, w), _conv_attrs(c, hid, 1, 0))
            q = b.add("reshape", RESHAPE, (q,), (hid, hw), {"function": "reshape"})
            q = b.add("transpose", RESHAPE, (q,), (hw, hid), {"function": "transpose", "perm": (1, 0)})
            k = b.add("conv_k", CONV, (xin,), (hid, h, w), _conv_attrs(c, hid, 1, 0))
            k = b.add("reshape", RESHAPE, (k,), (hid, hw), {"function": "reshape"})
            v = b.add("conv_v", CONV, (xin,), (hid, h, w), _conv_attrs(c, hid, 1, 0))
            v = b.add("reshape", RESHAPE, (v,), (hid, hw), {"function": "reshape"})
            v = b.add("transpose", RESHAPE, (v,), (hw, hid), {"function": "transpose", "perm": (1, 0)})
            z = b.add("matmul", MATMUL, (q, k), (hw, hw), {})
            z = b.add("softmax", ACTIVATION, (z,), (hw, hw), {"function": "softmax", "axis": 1})
            z = b.add("matmul", MATMUL, (z, v), (hw, hid), {})
            z = b.add("transpose", RESHAPE, (z,), (hid, hw), {"function": "transpose", "perm": (1, 0)})
            z = b.add("reshape", RESHAPE, (z,), (hid, h, w), {"function": "reshape"})
            z = b.add("conv_proj", CONV, (z,), (c, h, w), _conv_attrs(hid, c, 1, 0))
            cur = b.add("add", ELEMENTWISE, (xin, z), (c, h, w), {"function": "add", "n_const": 0})
            if fn != "none":
                cur = b.add("act", ACTIVATION, (cur,), (c, h, w), _act_attrs(fn, alpha))
        else:  # pragma: no cover
            raise ConfigError(f"unknown layer kind {layer.kind!r}")
    return OpGraph(b.ops, [x], [cur.name], name=name)


# ---------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------


def arch_to_torch(arch: Architecture) -> Any:
    """The ``torch.nn.Sequential`` of a concrete architecture (torch imported here)."""
    import torch
    from torch import nn

    class ConvAttention(nn.Module):
        """BraggNN's non-local attention block (no 1/sqrt(d) scaling, as in BraggNN and nac-opt)."""

        def __init__(self, channels: int, hidden: int, act: nn.Module | None) -> None:
            super().__init__()
            self.hidden = hidden
            self.Wq = nn.Conv2d(channels, hidden, 1)
            self.Wk = nn.Conv2d(channels, hidden, 1)
            self.Wv = nn.Conv2d(channels, hidden, 1)
            self.softmax = nn.Softmax(dim=-1)
            self.proj = nn.Conv2d(hidden, channels, 1)
            self.act = act

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, _, h, w = x.shape
            q = self.Wq(x).reshape(b, self.hidden, h * w).permute(0, 2, 1)
            k = self.Wk(x).reshape(b, self.hidden, h * w)
            v = self.Wv(x).reshape(b, self.hidden, h * w).permute(0, 2, 1)
            z = self.softmax(torch.matmul(q, k))
            z = torch.matmul(z, v).permute(0, 2, 1).reshape(b, self.hidden, h, w)
            y = x + self.proj(z)
            return cast("torch.Tensor", self.act(y)) if self.act is not None else y

    class Aggregate(nn.Module):
        """Permutation-invariant pooling over one per-inference axis (Deep Sets)."""

        def __init__(self, function: str, axis: int) -> None:
            super().__init__()
            self.function = function
            self.dim = axis + 1

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.function == "mean":
                return x.mean(dim=self.dim)
            if self.function == "max":
                return x.amax(dim=self.dim)
            return x.sum(dim=self.dim)

    class FeatureBatchNorm(nn.Module):
        """BatchNorm over the last axis of a (batch, rows, features) tensor."""

        def __init__(self, features: int) -> None:
            super().__init__()
            self.norm = nn.BatchNorm1d(features)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return cast("torch.Tensor", self.norm(x.transpose(1, 2))).transpose(1, 2)

    def act(fn: str, alpha: float | None) -> nn.Module | None:
        table: dict[str, Callable[[], nn.Module | None]] = {
            "relu": lambda: nn.ReLU(),
            "leaky_relu": lambda: nn.LeakyReLU(negative_slope=float(alpha if alpha is not None else 0.01)),
            "gelu": lambda: nn.GELU(),
            "sigmoid": lambda: nn.Sigmoid(),
            "tanh": lambda: nn.Tanh(),
            "none": lambda: None,
        }
        return table[fn]()

    mods: list[nn.Module] = []
    for layer in arch.layers:
        a = layer.args
        if layer.kind == "linear":
            mods.append(nn.Linear(a[0], a[1]))
        elif layer.kind == "batchnorm":
            ch, _axis, transpose = a
            if transpose:
                mods.append(FeatureBatchNorm(ch))
            elif len(layer.in_shape) == 3:
                mods.append(nn.BatchNorm2d(ch))
            else:
                mods.append(nn.BatchNorm1d(ch))
        elif layer.kind == "layernorm":
            mods.append(nn.LayerNorm(list(a[0])))
        elif layer.kind == "act":
            m = act(a[0], a[1])
            assert m is not None
            mods.append(m)
        elif layer.kind == "conv2d":
            mods.append(nn.Conv2d(a[0], a[1], a[2], padding=a[3]))
        elif layer.kind == "flatten":
            mods.append(nn.Flatten())
        elif layer.kind == "reduce":
            mods.append(Aggregate(a[0], a[1]))
        elif layer.kind == "attention":
            mods.append(ConvAttention(a[0], a[1], act(a[2], a[3])))
    return nn.Sequential(*mods)
