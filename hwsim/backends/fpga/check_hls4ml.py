"""``hwsim check-hls4ml``: convert a model with hls4ml (no synthesis) and compare, layer by
layer, what hls4ml really builds with what the fpga cost model assumes it builds.

The fpga backend predicts hls4ml's decisions without importing hls4ml (``FpgaBackend.plan``,
the contract in :mod:`hwsim.backends.fpga.plan`): the hls4ml layer class, the operands of
each multiplication (``n_in``, ``n_out`` as the reuse-factor check sees them), the requested
and the snapped reuse factor, the strategy, the conv ParallelizationFactor, the multiplier
limit, the resolved precisions and the top-level pipeline style. This module asks hls4ml
1.3.0 itself (``convert_from_pytorch_model``, the optimizer flow, ``write()``) and reports
every field on which the two disagree.

Where each hls4ml value is read (hls4ml 1.3.0 sources):

* layer class: ``Layer.class_name()`` (the backend wrapper's base class);
* ``n_in``/``n_out``: ``FPGABackend.get_layer_mult_size`` (``backends/fpga/fpga_backend.py``),
  the very function ``init_dense``/``init_conv*`` pass to ``set_closest_reuse_factor``;
* requested reuse factor: ``HLSConfig.get_reuse_factor(layer)``; snapped: the layer's
  ``reuse_factor`` attribute after the flow; the snapping warnings hls4ml prints are
  captured from stdout;
* strategy / ParallelizationFactor: the layer attributes set by ``vivado_backend.py``;
* multiplier limit: evaluated from the ``multiplier_limit`` line of the layer's generated
  config struct (``config_cpp``, the text hls4ml writes into ``firmware/parameters.h``:
  ``DIV_ROUNDUP(n_in * n_out, reuse_factor) - n_zeros / reuse_factor``);
* precisions: ``layer.types`` after the ``infer_precision`` pass (so ``'auto'`` is resolved);
* pipeline style: ``model.config.pipeline_style`` (``backends/vivado/passes/pipeline_style.py``)
  cross-checked with the ``#pragma HLS PIPELINE``/``DATAFLOW`` of the written
  ``firmware/myproject.cpp``.

``--csim`` compiles hls4ml's bit-accurate C++ model with g++ (``ModelGraph.compile``) and
compares ``predict`` with the float PyTorch model on the same inputs.

hls4ml, torch and onnx are imported only inside the functions that need them.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import logging
import math
import operator
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwsim.errors import ConfigError, HwsimError, ModelError, OptionalDependencyError, UnsupportedOpError

log = logging.getLogger(__name__)

#: hls4ml 1.3.0 Vitis backend defaults (``hls4ml/backends/vitis/vitis_backend.py``
#: ``create_initial_config``): part, clock period (ns), I/O type
DEFAULT_PART = "xcvu13p-flga2577-2-e"
DEFAULT_CLOCK_NS = 5.0
DEFAULT_IO_TYPE = "io_parallel"
DEFAULT_BACKEND = "Vitis"
#: the hls4ml default precision and reuse factor (``hls4ml.utils.config_from_pytorch_model``)
DEFAULT_PRECISION = "ap_fixed<16,6>"
DEFAULT_REUSE = 1

#: sections of an hls4ml configuration that go to ``hls_config`` (``converters/__init__.py``
#: ``_check_hls_config``)
HLS_SECTIONS = ("Model", "LayerName", "LayerType", "Flows", "Optimizers", "SkipOptimizers")
#: top-level keys that are keyword arguments of the converter
HLS_KWARGS = {
    "Part": "part",
    "ClockPeriod": "clock_period",
    "IOType": "io_type",
    "ClockUncertainty": "clock_uncertainty",
    "Backend": "backend",
}
#: keys of an hls4ml YAML project file that describe the run, not the hardware: accepted, ignored
IGNORED_KEYS = (
    "OutputDir",
    "ProjectName",
    "KerasModel",
    "KerasJson",
    "KerasH5",
    "OnnxModel",
    "PytorchModel",
    "InputShape",
    "InputData",
    "OutputPredictions",
    "Board",
    "XilinxPart",
    "Version",
    "Stamp",
    "WriterConfig",
)
STRATEGIES = ("latency", "resource", "resource_unrolled", "distributed_arithmetic", "da")
IO_TYPES = ("io_parallel", "io_stream")
#: precision keys every plan must state when hls4ml has them; others are compared when given
CORE_PRECISIONS = ("weight", "bias", "result", "accum")
#: hls4ml layer classes grouped into families: layers of one family may be paired by the
#: alignment (then the class itself is reported as a disagreement)
FAMILIES: dict[str, tuple[str, ...]] = {
    "linear": (
        "Dense",
        "Conv1D",
        "Conv2D",
        "PointwiseConv1D",
        "PointwiseConv2D",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
        "Conv2DBatchnorm",
        "EinsumDense",
        "Einsum",
        "MatMul",
        "Dot",
    ),
    "activation": (
        "Activation",
        "ParametrizedActivation",
        "HardActivation",
        "PReLU",
        "Softmax",
        "TernaryTanh",
        "UnaryLUT",
        "LeakyReLU",
        "ELU",
        "ThresholdedReLU",
    ),
    "norm": ("BatchNormalization", "ApplyAlpha", "LayerNormalization", "BatchNormOnnx"),
    "pool": ("Pooling1D", "Pooling2D", "GlobalPooling1D", "GlobalPooling2D"),
    "merge": ("Merge", "Concatenate", "BiasAdd"),
    "shape": ("Reshape", "Transpose", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "Resize"),
}
_FAMILY_OF = {c: f for f, cs in FAMILIES.items() for c in cs}


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass
class HlsLayer:
    """One layer as hls4ml 1.3.0 built it (see the module docstring for where each is read)."""

    name: str
    hls_class: str
    n_in: int | None = None
    n_out: int | None = None
    reuse_factor_requested: int | None = None
    reuse_factor: int | None = None
    strategy: str | None = None
    parallelization_factor: int | None = None
    multiplier_limit: int | None = None
    n_zeros: int | None = None
    precision: dict[str, str] = field(default_factory=dict)
    inplace: bool = False  # an io_parallel Reshape / io_stream flatten: no hardware
    warnings: list[str] = field(default_factory=list)


@dataclass
class HlsModel:
    """What hls4ml built for the whole model."""

    layers: list[HlsLayer]
    pipeline_style: str
    pipeline_style_source: str
    io_type: str
    part: str
    clock_period_ns: float
    backend: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class Row:
    """One compared field: ``ok`` is False on a disagreement."""

    layer: str
    field: str
    hls4ml: Any
    hwsim: Any
    ok: bool
    note: str = ""


@dataclass
class CheckResult:
    """The comparison (``to_dict`` is the ``--format json`` output)."""

    model: str
    source: str
    rows: list[Row]
    pairs: list[dict[str, Any]]
    hls: HlsModel
    notes: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    csim: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    hls4ml_version: str = ""
    hwsim_warnings: list[str] = field(default_factory=list)

    @property
    def disagreements(self) -> list[Row]:
        return [r for r in self.rows if not r.ok]

    @property
    def agree(self) -> bool:
        return not self.disagreements

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "source": self.source,
            "hls4ml_version": self.hls4ml_version,
            "agree": self.agree,
            "n_compared": len(self.rows),
            "n_disagree": len(self.disagreements),
            "disagreements": [asdict(r) for r in self.disagreements],
            "rows": [asdict(r) for r in self.rows],
            "pairs": self.pairs,
            "hls4ml": {
                "pipeline_style": self.hls.pipeline_style,
                "pipeline_style_source": self.hls.pipeline_style_source,
                "io_type": self.hls.io_type,
                "part": self.hls.part,
                "clock_period_ns": self.hls.clock_period_ns,
                "backend": self.hls.backend,
                "layers": [asdict(h) for h in self.hls.layers],
                "warnings": self.hls.warnings,
            },
            "hwsim_warnings": self.hwsim_warnings,
            "config": _jsonable(self.config),
            "notes": self.notes,
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
            "csim": self.csim,
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


# ---------------------------------------------------------------------------------------------
# Configuration: one hls4ml configuration for both tools
# ---------------------------------------------------------------------------------------------


@dataclass
class SplitConfig:
    """An hls4ml configuration split into what each side reads.

    ``hls_config``: the ``hls_config`` argument of the converter (``Model``, ``LayerName``...);
    ``kwargs``: converter keyword arguments (part, clock_period, io_type, backend...);
    ``hwsim``: the flat configuration given to ``FpgaBackend.resolve_params`` (the DESIGN.md
    contract: ``Model``/``LayerName`` sections plus ``Part``, ``ClockPeriod``, ``IOType``).
    """

    hls_config: dict[str, Any]
    kwargs: dict[str, Any]
    hwsim: dict[str, Any]
    notes: list[str]


def _check_precision_string(text: Any, where: str) -> None:
    if isinstance(text, str) and text.strip().lower() == "auto":
        return
    try:
        parse_precision(str(text))
    except ValueError:
        raise ConfigError(f"{where}: cannot read precision {text!r} (expected e.g. ap_fixed<16,6>, ap_int<8>, auto)") from None


def _check_precision_entry(value: Any, where: str) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_precision_string(v, f"{where}.{k}")
    else:
        _check_precision_string(value, where)


def _check_section(section: Any, where: str) -> None:
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(section).__name__}")
    if "Precision" in section:
        _check_precision_entry(section["Precision"], f"{where}.Precision")
    if "ReuseFactor" in section:
        rf = section["ReuseFactor"]
        if isinstance(rf, bool) or not isinstance(rf, int) or rf < 1:
            raise ConfigError(f"{where}.ReuseFactor: expected a positive integer, got {rf!r}")
    if "Strategy" in section:
        st = section["Strategy"]
        if not isinstance(st, str) or st.lower() not in STRATEGIES:
            raise ConfigError(
                f"{where}.Strategy: expected one of Latency, Resource, resource_unrolled, distributed_arithmetic; got {st!r}"
            )
    if "ParallelizationFactor" in section:
        pf = section["ParallelizationFactor"]
        if isinstance(pf, bool) or not isinstance(pf, int) or pf < 1:
            raise ConfigError(f"{where}.ParallelizationFactor: expected a positive integer, got {pf!r}")


def split_config(config: Mapping[str, Any] | None, source: str = "config") -> SplitConfig:
    """Validate an hls4ml configuration and split it for hls4ml and hwsim.

    Accepts the flat form of DESIGN.md and hls4ml's own project-file form (sections under
    ``HLSConfig``). Raises :class:`ConfigError` naming the key at fault.
    """
    cfg: dict[str, Any] = dict(config or {})
    notes: list[str] = []
    if "HLSConfig" in cfg:
        inner = cfg.pop("HLSConfig")
        if not isinstance(inner, Mapping):
            raise ConfigError(f"{source}: HLSConfig must be a mapping")
        for k, v in inner.items():
            cfg.setdefault(k, v)
    hls_config: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    hwsim: dict[str, Any] = {}
    for key, value in cfg.items():
        if key in HLS_SECTIONS:
            hls_config[key] = value
            if key in ("Model", "LayerName", "LayerType"):
                hwsim[key] = value
        elif key in HLS_KWARGS:
            kwargs[HLS_KWARGS[key]] = value
            hwsim[key] = value
        elif key in IGNORED_KEYS:
            notes.append(f"{source}: key {key!r} describes an hls4ml run, not the hardware: ignored")
        else:
            known = ", ".join((*HLS_SECTIONS, *HLS_KWARGS))
            raise ConfigError(f"{source}: unknown key {key!r} (an hls4ml configuration has {known})")
    model = hls_config.setdefault("Model", {})
    _check_section(model, f"{source}: Model")
    for section in ("LayerName", "LayerType"):
        if section in hls_config:
            sec = hls_config[section]
            if not isinstance(sec, Mapping):
                raise ConfigError(f"{source}: {section} must be a mapping of names to settings")
            for name, layer_cfg in sec.items():
                _check_section(layer_cfg, f"{source}: {section}.{name}")
    io_type = kwargs.get("io_type", DEFAULT_IO_TYPE)
    if io_type not in IO_TYPES:
        raise ConfigError(f"{source}: IOType must be io_parallel or io_stream, got {io_type!r}")
    clock = kwargs.get("clock_period", DEFAULT_CLOCK_NS)
    if isinstance(clock, bool) or not isinstance(clock, (int, float)) or not math.isfinite(clock) or clock <= 0:
        raise ConfigError(f"{source}: ClockPeriod must be a positive number of ns, got {clock!r}")
    part = kwargs.get("part", DEFAULT_PART)
    if not isinstance(part, str) or not part.strip():
        raise ConfigError(f"{source}: Part must be an FPGA part name, got {part!r}")
    backend = kwargs.get("backend", DEFAULT_BACKEND)
    if not isinstance(backend, str) or backend.lower() not in ("vitis", "vivado"):
        raise ConfigError(f"{source}: Backend {backend!r} is not checked here (Vitis or Vivado)")
    # the converter needs them explicitly, and so does hwsim for an apples-to-apples run
    kwargs.setdefault("part", DEFAULT_PART)
    kwargs.setdefault("clock_period", DEFAULT_CLOCK_NS)
    kwargs.setdefault("io_type", DEFAULT_IO_TYPE)
    kwargs.setdefault("backend", DEFAULT_BACKEND)
    hwsim.setdefault("Model", model)
    hwsim.setdefault("Part", kwargs["part"])
    hwsim.setdefault("ClockPeriod", kwargs["clock_period"])
    hwsim.setdefault("IOType", kwargs["io_type"])
    return SplitConfig(hls_config, kwargs, hwsim, notes)


# ---------------------------------------------------------------------------------------------
# Precision strings
# ---------------------------------------------------------------------------------------------

_PREC_RE = re.compile(r"^\s*(?:ap_)?(u?)(fixed|int)\s*<\s*([^>]*)>\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedPrecision:
    """A fixed-point / integer type: ``signed``, ``width``, ``integer`` bits, and the
    rounding / saturation modes when the string states them (None: not stated)."""

    signed: bool
    width: int
    integer: int
    rounding: str | None = None
    saturation: str | None = None
    sat_bits: int | None = None
    other: str | None = None  # float and other non-fixed types, compared as text
    is_int: bool = False  # spelled ap_int / ap_uint (same value set as ap_fixed<W,W>)

    def canonical(self) -> str:
        if self.other is not None:
            return self.other
        if self.is_int:
            return f"ap_{'' if self.signed else 'u'}int<{self.width}>"
        base = f"ap_{'' if self.signed else 'u'}fixed<{self.width},{self.integer}"
        modes = [m for m in (self.rounding, self.saturation) if m]
        if modes and (self.rounding, self.saturation) != ("TRN", "WRAP"):
            base += "," + ",".join(modes)
        return base + ">"


def parse_precision(text: str) -> ParsedPrecision:
    """Parse hls4ml's spellings (``fixed<16,6,TRN,WRAP,0>``, ``ap_fixed<16,6>``,
    ``ap_fixed<18,8,AP_RND,AP_SAT>``, ``ap_int<8>``, ``uint<1>``, ``float``) into one form."""
    s = str(text).strip()
    m = _PREC_RE.match(s)
    if not m:
        if s.lower() in ("float", "double", "half", "bfloat16"):
            return ParsedPrecision(True, 0, 0, other=s.lower())
        raise ValueError(f"cannot parse precision {text!r}")
    signed = m.group(1) == ""
    parts = [p.strip() for p in m.group(3).split(",") if p.strip()]
    try:
        width = int(parts[0])
        if m.group(2).lower() == "int":
            return ParsedPrecision(signed, width, width, is_int=True)
        integer = int(parts[1])
    except (IndexError, ValueError):
        raise ValueError(f"cannot parse precision {text!r}") from None
    rnd = parts[2].upper().removeprefix("AP_") if len(parts) > 2 else None
    sat = parts[3].upper().removeprefix("AP_") if len(parts) > 3 else None
    nbits = int(parts[4]) if len(parts) > 4 and parts[4].lstrip("-").isdigit() else None
    return ParsedPrecision(signed, width, integer, rnd, sat, nbits)


def compare_precision(hls: str, hw: str) -> tuple[bool, str]:
    """(agree, note). Sign, width and integer bits must match; rounding and saturation are
    compared when the hwsim string states them (hls4ml always does), else noted."""
    try:
        a = parse_precision(hls)
    except ValueError:
        return str(hls) == str(hw), "unparsed hls4ml type"
    try:
        b = parse_precision(hw)
    except ValueError:
        return False, f"hwsim precision {hw!r} cannot be parsed"
    if a.other is not None or b.other is not None:
        return a.other == b.other, ""
    if (a.signed, a.width, a.integer) != (b.signed, b.width, b.integer):
        return False, ""
    a_modes = (a.rounding or "TRN", a.saturation or "WRAP")
    if b.rounding is None and b.saturation is None:
        if a_modes != ("TRN", "WRAP"):
            return True, f"hwsim does not state hls4ml's rounding/saturation {','.join(a_modes)}"
        return True, ""
    b_modes = (b.rounding or "TRN", b.saturation or "WRAP")
    return a_modes == b_modes, "" if a_modes == b_modes else "rounding/saturation differ"


# ---------------------------------------------------------------------------------------------
# Evaluating the generated config structs (multiplier_limit)
# ---------------------------------------------------------------------------------------------

_STRUCT_RE = re.compile(r"struct\s+(\w+)\s*:\s*[\w:]+\s*\{(.*?)\n\s*\}\s*;", re.DOTALL)
_CONST_RE = re.compile(r"static\s+const\s+(?:unsigned|int|bool)\s+(\w+)\s*=\s*([^;]+);", re.DOTALL)
_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def _eval_int(expr: str, env: Mapping[str, int]) -> int:
    """Evaluate an unsigned C++ constant expression of a config struct (integer division,
    ``DIV_ROUNDUP``), with the struct's earlier constants in ``env``."""
    py = re.sub(r"(?<![/])/(?![/])", "//", expr.replace("\n", " "))
    py = re.sub(r"\btrue\b", "1", re.sub(r"\bfalse\b", "0", py))
    tree = ast.parse(py.strip(), mode="eval")

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return int(node.value)
        if isinstance(node, ast.Name):
            if node.id not in env:
                raise KeyError(node.id)
            return int(env[node.id])
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return int(_BINOPS[type(node.op)](ev(node.left), ev(node.right)))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "DIV_ROUNDUP"
            and len(node.args) == 2
        ):
            n, d = ev(node.args[0]), ev(node.args[1])
            return (n + d - 1) // d
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("MIN", "MAX")
            and len(node.args) == 2
        ):
            f = min if node.func.id == "MIN" else max
            return int(f(ev(node.args[0]), ev(node.args[1])))
        raise ValueError(f"unsupported expression {ast.dump(node)}")

    return ev(tree)


def struct_constants(config_cpp: str) -> dict[str, dict[str, int]]:
    """The integer constants of every ``struct configN ... {}`` in generated config text."""
    out: dict[str, dict[str, int]] = {}
    for m in _STRUCT_RE.finditer(config_cpp):
        env: dict[str, int] = {}
        for c in _CONST_RE.finditer(m.group(2)):
            try:
                env[c.group(1)] = _eval_int(c.group(2), env)
            except (KeyError, ValueError, SyntaxError, ZeroDivisionError):
                continue  # a type name or something else: not an integer constant
        out[m.group(1)] = env
    return out


def multiplier_limit_from_config(config_cpp: str, index: int | None = None) -> tuple[int | None, int | None]:
    """(multiplier_limit, n_zeros) of a layer's config struct ``config<index>`` (else the
    first struct that has one, e.g. a conv's ``config<index>_mult``)."""
    structs = struct_constants(config_cpp)
    order = sorted(structs, key=lambda n: (n != f"config{index}", n))
    for name in order:
        env = structs[name]
        if "multiplier_limit" in env:
            return env["multiplier_limit"], env.get("n_zeros")
    return None, None


# ---------------------------------------------------------------------------------------------
# The model to check
# ---------------------------------------------------------------------------------------------


@dataclass
class ModelRef:
    """The model under test, as each side needs it."""

    label: str
    torch_module: Any = None  # the float reference (and hls4ml's input for PyTorch)
    input_shape: tuple[int, ...] = ()
    input_kind: str = "float"
    hwsim_model: Any = None  # what hwsim.api.lower receives
    hwsim_example: Any = None
    source: str = ""  # "zoo PyTorch definition", "ONNX (qonnx clean-up)", ...
    onnx_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    tags: tuple[str, ...] = ()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _zoo_match(path: Path) -> str | None:
    """The zoo name whose shipped ONNX file is byte-identical to ``path`` (manifest sha256)."""
    from hwsim.frontends import zoo

    try:
        digest = _sha256(path)
    except OSError:
        return None
    for name in zoo.names():
        try:
            info = zoo.info(name)
        except HwsimError:
            continue
        if info.get("sha256") == digest:
            return name
        try:
            if Path(info["path"]).resolve() == path.resolve():
                return name
        except OSError:
            continue
    return None


def _qonnx_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("qonnx") is not None


def resolve_model(model: Any, example_input: Any = None) -> ModelRef:
    """A zoo name, a path to an ``.onnx`` file, or a ``torch.nn.Module`` (with ``example_input``)."""
    import os

    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        path = Path(text)
        if path.suffix.lower() == ".onnx" or os.sep in text or path.exists():
            if not path.is_file():
                raise ModelError(f"{text}: model file not found")
            if path.suffix.lower() != ".onnx":
                raise ModelError(f"{text}: check-hls4ml reads .onnx files or zoo names")
            return _resolve_onnx(path)
        from hwsim.frontends import zoo

        if not zoo.exists(text):
            raise ModelError(f"{text}: no such file, and not a bundled model (known: {', '.join(zoo.names())})")
        return _resolve_zoo(text)
    if hasattr(model, "forward") and hasattr(model, "parameters"):
        if example_input is None:
            raise ModelError("a torch.nn.Module needs an example_input (a tensor of shape (1, ...))")
        shape = tuple(int(s) for s in example_input.shape[1:])
        return ModelRef(
            label=type(model).__name__,
            torch_module=model.eval(),
            input_shape=shape,
            hwsim_model=model,
            hwsim_example=example_input,
            source="PyTorch module",
        )
    raise ModelError(f"cannot check an object of type {type(model).__name__} (a zoo name, an .onnx file or a torch.nn.Module)")


def _resolve_zoo(name: str) -> ModelRef:
    from hwsim.frontends import zoo

    module, example = zoo.module(name)
    info = zoo.info(name)
    return ModelRef(
        label=name,
        torch_module=module,
        input_shape=tuple(int(s) for s in example.shape[1:]),
        input_kind=str(info.get("input_kind", "float")),
        tags=tuple(str(t) for t in info.get("tags", ())),
        hwsim_model=name,
        source=f"zoo model {name}: hls4ml converts its PyTorch definition (models/zoo_defs.py), hwsim lowers its ONNX export",
    )


def _resolve_onnx(path: Path) -> ModelRef:
    if _qonnx_available():
        import onnx

        proto = onnx.load(str(path))
        dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim][1:]
        return ModelRef(
            label=str(path),
            input_shape=tuple(int(d) for d in dims),
            hwsim_model=str(path),
            source="ONNX file through qonnx clean-up (channels-last, Gemm->MatMul) and convert_from_onnx_model",
            onnx_path=path,
        )
    name = _zoo_match(path)
    if name is not None:
        ref = _resolve_zoo(name)
        ref.label = str(path)
        ref.hwsim_model = str(path)
        ref.source = (
            f"{path} is the zoo model {name} (same sha256 as the shipped file): qonnx is not installed, so hls4ml "
            f"converts the PyTorch definition of {name} instead of the ONNX graph"
        )
        ref.notes.append(ref.source)
        return ref
    raise OptionalDependencyError(
        f"{path}: hls4ml 1.3.0 reads ONNX only after qonnx clean-up (channels-last, Gemm->MatMul), and qonnx is not "
        "installed (pip install qonnx), nor is the file a zoo model; pass the PyTorch module through the Python API "
        "(hwsim.backends.fpga.check_hls4ml.check) instead"
    )


# ---------------------------------------------------------------------------------------------
# hls4ml side
# ---------------------------------------------------------------------------------------------


def _require_hls4ml() -> Any:
    try:
        import hls4ml
    except ImportError as exc:
        raise OptionalDependencyError(f"check-hls4ml needs hls4ml 1.3.0: pip install 'hwsim[fpga]' ({exc})") from None
    return hls4ml


@contextlib.contextmanager
def _hls4ml_bn_fuse_workaround() -> Iterator[list[str]]:
    """Work around an hls4ml 1.3.0 bug, only while converting.

    ``RemoveTransposeBeforeFlatten`` (``model/optimizer/passes/convert_to_channels_last.py``)
    replaces the weights of the Dense after Conv -> Flatten with a new ``WeightVariable``
    that lacks ``data_unquantized``; a following BatchNorm then makes ``FuseBatchNormalization.match``
    raise ``AttributeError`` (tutorial CNN, BraggNN small/medium). The variable holds
    unquantized float data (no quantizer), so reading ``data`` is what hls4ml means. The
    patch adds that fallback on the class and is removed afterwards; ``used`` records
    whether it was needed.
    """
    from hls4ml.model.types import WeightVariable

    used: list[str] = []
    if "data_unquantized" in WeightVariable.__dict__:
        yield used
        return

    def _get(self: Any) -> Any:
        d = self.__dict__
        if "data_unquantized" not in d:
            used.append(getattr(self, "name", "?"))
            return self.data
        return d["data_unquantized"]

    def _set(self: Any, value: Any) -> None:
        self.__dict__["data_unquantized"] = value

    WeightVariable.data_unquantized = property(_get, _set)
    try:
        yield used
    finally:
        with contextlib.suppress(AttributeError):
            del WeightVariable.data_unquantized


_RF_WARN_RE = re.compile(r'Invalid (\w*ReuseFactor|ParallelizationFactor)=(\d+) in layer "([^"]+)"')


def default_hls_config(
    ref: ModelRef,
    precision: str = DEFAULT_PRECISION,
    reuse_factor: int = DEFAULT_REUSE,
    strategy: str = "Latency",
    io_type: str = DEFAULT_IO_TYPE,
) -> dict[str, Any]:
    """hls4ml's own configuration of the model (``config_from_pytorch_model``,
    granularity='name'), without the PyTorch object and input shape (given at conversion)."""
    hls4ml = _require_hls4ml()
    if ref.torch_module is None:
        raise ModelError(f"{ref.label}: a default hls4ml configuration needs the PyTorch model (give --config)")
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cfg = hls4ml.utils.config_from_pytorch_model(
                ref.torch_module,
                input_shape=tuple(ref.input_shape),
                granularity="name",
                backend=DEFAULT_BACKEND,
                default_precision=precision,
                default_reuse_factor=reuse_factor,
                # io_stream cannot transpose the inputs in hardware: hls4ml wants 'internal' there
                channels_last_conversion="internal" if io_type == "io_stream" else "full",
            )
    except Exception as exc:
        raise UnsupportedOpError(
            f"{ref.label}: hls4ml {hls4ml.__version__} cannot configure this PyTorch model: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    cfg.pop("PytorchModel", None)
    cfg.pop("InputShape", None)
    cfg["Model"]["Strategy"] = strategy
    return dict(cfg)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def convert(ref: ModelRef, split: SplitConfig, output_dir: str) -> tuple[Any, list[str]]:
    """Convert with hls4ml into ``output_dir`` (the optimizer flow runs; nothing is
    synthesised). Returns the ``ModelGraph`` and hls4ml's printed output lines."""
    hls4ml = _require_hls4ml()
    import copy

    hls_config = copy.deepcopy(split.hls_config)
    buf = io.StringIO()
    try:
        with (
            _hls4ml_bn_fuse_workaround() as used,
            contextlib.redirect_stdout(buf),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            if ref.onnx_path is not None and ref.torch_module is None:
                hm = _convert_onnx(ref, hls_config, split.kwargs, output_dir)
            else:
                hls_config["InputShape"] = tuple(ref.input_shape)
                hls_config["Model"] = dict(hls_config.get("Model") or {})
                if "ChannelsLastConversion" not in hls_config["Model"]:
                    hls_config["Model"]["ChannelsLastConversion"] = channels_last_mode(split)
                hm = hls4ml.converters.convert_from_pytorch_model(
                    ref.torch_module, hls_config=hls_config, output_dir=output_dir, **split.kwargs
                )
    except HwsimError:
        raise
    except Exception as exc:
        log.debug("hls4ml conversion failed; its output:\n%s", buf.getvalue())
        raise UnsupportedOpError(
            f"{ref.label}: hls4ml {hls4ml.__version__} cannot convert this model: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    lines = buf.getvalue().splitlines()
    if ref.torch_module is not None and "ChannelsLastConversion" not in dict(split.hls_config.get("Model") or {}):
        lines.append(
            f"hwsim: Model.ChannelsLastConversion not set: converted with {channels_last_mode(split)!r}, as "
            "config_from_pytorch_model writes it (hls4ml's converter default 'off' breaks PyTorch conv models)"
        )
    lines += [f"{w.category.__name__}: {w.message}" for w in caught if "hls4ml" in str(w.filename) or "hls4ml" in str(w.message)]
    if used:
        lines.append(
            "hwsim: applied the hls4ml 1.3.0 workaround for WeightVariable.data_unquantized (BatchNorm after Conv->Flatten->Dense)"
        )
    log.debug("hls4ml output:\n%s", "\n".join(lines))
    return hm, lines


def channels_last_mode(split: SplitConfig) -> str:
    """The ChannelsLastConversion hls4ml converts with: the config's, else what
    ``config_from_pytorch_model`` writes ('full'; 'internal' for io_stream, where hls4ml
    cannot transpose the inputs)."""
    model = dict(split.hls_config.get("Model") or {})
    if "ChannelsLastConversion" in model:
        return str(model["ChannelsLastConversion"]).lower()
    return "internal" if split.kwargs.get("io_type") == "io_stream" else "full"


def _convert_onnx(ref: ModelRef, hls_config: dict[str, Any], kwargs: Mapping[str, Any], output_dir: str) -> Any:
    """ONNX through qonnx's clean-up, as hls4ml 1.3.0's documentation prescribes."""
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    model = ModelWrapper(str(ref.onnx_path))
    model = cleanup_model(model)
    model = model.transform(ConvertToChannelsLastAndClean())
    model = model.transform(GemmToMatMul())
    model = cleanup_model(model)
    return hls4ml.converters.convert_from_onnx_model(model.model, hls_config=hls_config, output_dir=output_dir, **kwargs)


def _type_str(t: Any) -> str:
    prec = getattr(t, "precision", t)
    return str(prec)


def extract(hm: Any, output_lines: Sequence[str], project_dir: str | None) -> HlsModel:
    """Read what hls4ml built from the converted ``ModelGraph`` (and the written project)."""
    from hls4ml.model.types import InplaceTensorVariable

    backend = hm.config.backend
    warn_by_layer: dict[str, list[str]] = {}
    model_warnings: list[str] = []
    for line in output_lines:
        if "WARNING" in line or "Warning" in line or line.startswith("hwsim:"):
            m = _RF_WARN_RE.search(line)
            if m:
                warn_by_layer.setdefault(m.group(3), []).append(line.strip())
            else:
                model_warnings.append(line.strip())
    layers: list[HlsLayer] = []
    for layer in hm.get_layers():
        cls = str(layer.class_name)
        if cls in ("Input", "Constant"):
            continue
        hl = HlsLayer(name=layer.name, hls_class=cls)
        try:
            sizes = backend.get_layer_mult_size(layer)
            if isinstance(sizes, tuple) and len(sizes) >= 2 and all(isinstance(s, int) for s in sizes[:2]):
                hl.n_in, hl.n_out = int(sizes[0]), int(sizes[1])
        except Exception:  # hls4ml raises a bare Exception for layers without a multiplication
            pass
        with contextlib.suppress(Exception):
            hl.reuse_factor_requested = int(hm.config.get_reuse_factor(layer))
        rf = layer.get_attr("reuse_factor")
        hl.reuse_factor = int(rf) if rf is not None else None
        st = layer.get_attr("strategy")
        hl.strategy = str(st).lower() if st is not None else None
        pf = layer.get_attr("parallelization_factor")
        hl.parallelization_factor = int(pf) if pf is not None else None
        cpp = layer.get_attr("config_cpp")
        if isinstance(cpp, str):
            hl.multiplier_limit, hl.n_zeros = multiplier_limit_from_config(cpp, layer.index)
        for tname, t in layer.types.items():
            key = tname[:-2] if tname.endswith("_t") else tname
            hl.precision[key] = _type_str(t)
        with contextlib.suppress(Exception):
            hl.precision["result"] = _type_str(layer.get_output_variable().type)
            hl.inplace = isinstance(layer.get_output_variable(), InplaceTensorVariable)
        hl.warnings = warn_by_layer.get(layer.name, [])
        layers.append(hl)
    style = str(hm.config.pipeline_style or "auto").lower()
    style_source = "model.config.pipeline_style"
    if project_dir is not None:
        top = Path(project_dir) / "firmware" / f"{hm.config.get_project_name()}.cpp"
        if top.is_file():
            text = top.read_text()
            fw = (
                "dataflow" if "#pragma HLS DATAFLOW" in text else "pipeline" if re.search(r"#pragma HLS PIPELINE", text) else None
            )
            if fw is not None:
                if fw != style:
                    model_warnings.append(
                        f"pipeline style attribute {style!r} but the written firmware has {fw!r}: using the firmware's"
                    )
                style, style_source = fw, f"firmware/{top.name} pragma"
    return HlsModel(
        layers=layers,
        pipeline_style=style,
        pipeline_style_source=style_source,
        io_type=str(hm.config.get_config_value("IOType")),
        part=str(hm.config.get_config_value("Part")),
        clock_period_ns=float(hm.config.get_config_value("ClockPeriod")),
        backend=str(hm.config.get_config_value("Backend") or DEFAULT_BACKEND),
        warnings=model_warnings,
    )


# ---------------------------------------------------------------------------------------------
# hwsim side
# ---------------------------------------------------------------------------------------------


def hwsim_plan(ref: ModelRef, split: SplitConfig) -> Any:
    """Lower the model with hwsim and ask the fpga backend what it assumes hls4ml builds."""
    from hwsim.api import lower
    from hwsim.backends.base import get_backend

    backend = get_backend("fpga")
    if not hasattr(backend, "plan"):
        raise HwsimError("the fpga backend has no plan() (hwsim.backends.fpga.plan contract)")
    graph = lower(ref.hwsim_model, example_input=ref.hwsim_example)
    params = backend.resolve_params(split.hwsim, {})
    prepared = backend.prepare(graph, params)
    return backend.plan(prepared, params)


# ---------------------------------------------------------------------------------------------
# Alignment and comparison
# ---------------------------------------------------------------------------------------------


def _tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[^0-9a-zA-Z]+", name.lower()) if t}


def _pair_score(h_cls: str, h_name: str, p_cls: str, p_name: str, p_ops: Sequence[str]) -> int:
    """Score of pairing an hls4ml layer with a hwsim layer; 0 = may not pair."""
    if h_cls == p_cls:
        score = 4
    elif _FAMILY_OF.get(h_cls) is not None and _FAMILY_OF.get(h_cls) == _FAMILY_OF.get(p_cls):
        score = 2
    else:
        return 0
    names = _tokens(p_name)
    for o in p_ops:
        names |= _tokens(o)
    if _tokens(h_name) and _tokens(h_name) <= names:
        score += 1
    return score


def align(hls: Sequence[tuple[str, str]], plan: Sequence[tuple[str, str, Sequence[str]]]) -> list[tuple[int | None, int | None]]:
    """Order-preserving alignment of hls4ml layers ``(name, class)`` with hwsim layers
    ``(name, class, ops)`` maximising the pairing score (a Needleman-Wunsch alignment with
    zero-cost gaps). Returns ``(i, j)`` pairs in order; ``None`` marks an unmatched layer."""
    n, m = len(hls), len(plan)
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            s = _pair_score(hls[i][1], hls[i][0], plan[j][1], plan[j][0], plan[j][2])
            options = [best[i + 1][j], best[i][j + 1]]
            if s:
                options.append(s + best[i + 1][j + 1])
            best[i][j] = max(options)
    out: list[tuple[int | None, int | None]] = []
    i = j = 0
    while i < n and j < m:
        s = _pair_score(hls[i][1], hls[i][0], plan[j][1], plan[j][0], plan[j][2])
        if s and best[i][j] == s + best[i + 1][j + 1]:
            out.append((i, j))
            i += 1
            j += 1
        elif best[i][j] == best[i + 1][j]:
            out.append((i, None))
            i += 1
        else:
            out.append((None, j))
            j += 1
    out += [(k, None) for k in range(i, n)]
    out += [(None, k) for k in range(j, m)]
    return out


def _layer_label(h: HlsLayer | None, p: Any | None) -> str:
    if h is not None and p is not None:
        return h.name if h.name == p.name else f"{h.name} ~ {p.name}"
    return h.name if h is not None else str(getattr(p, "name", "?"))


def compare_layer(h: HlsLayer, p: Any) -> list[Row]:
    """Compare one paired layer field by field (fields hls4ml does not define are skipped)."""
    label = _layer_label(h, p)
    rows: list[Row] = [Row(label, "hls_class", h.hls_class, p.hls_class, h.hls_class == p.hls_class)]
    if h.n_in is not None:
        rows.append(Row(label, "n_in", h.n_in, p.n_in, h.n_in == p.n_in))
        rows.append(Row(label, "n_out", h.n_out, p.n_out, h.n_out == p.n_out))
    if h.reuse_factor_requested is not None:
        rows.append(
            Row(
                label,
                "reuse_factor_requested",
                h.reuse_factor_requested,
                p.reuse_factor_requested,
                h.reuse_factor_requested == p.reuse_factor_requested,
            )
        )
    if h.reuse_factor is not None:
        note = "; ".join(h.warnings)
        rows.append(Row(label, "reuse_factor", h.reuse_factor, p.reuse_factor, h.reuse_factor == p.reuse_factor, note))
    if h.strategy is not None:
        hw = str(p.strategy).lower()
        hw = "distributed_arithmetic" if hw == "da" else hw
        rows.append(Row(label, "strategy", h.strategy, hw, h.strategy == hw))
    if h.parallelization_factor is not None:
        rows.append(
            Row(
                label,
                "parallelization_factor",
                h.parallelization_factor,
                p.parallelization_factor,
                h.parallelization_factor == p.parallelization_factor,
            )
        )
    if h.multiplier_limit is not None:
        note = f"n_zeros={h.n_zeros}" if h.n_zeros else ""
        rows.append(
            Row(label, "multiplier_limit", h.multiplier_limit, p.multiplier_limit, h.multiplier_limit == p.multiplier_limit, note)
        )
    plan_prec = {str(k).removesuffix("_t"): str(v) for k, v in dict(p.precision or {}).items()}
    for key in sorted(set(h.precision) | set(plan_prec), key=lambda k: (k not in CORE_PRECISIONS, k)):
        hv, pv = h.precision.get(key), plan_prec.get(key)
        if hv is None:
            continue  # hwsim states a type hls4ml does not have: informational only
        if pv is None:
            if key in CORE_PRECISIONS:
                rows.append(Row(label, f"precision.{key}", _canon(hv), None, False, "hwsim states no such type"))
            continue
        ok, note = compare_precision(hv, pv)
        rows.append(Row(label, f"precision.{key}", _canon(hv), pv, ok, note))
    return rows


def _canon(text: str) -> str:
    try:
        return parse_precision(text).canonical()
    except ValueError:
        return text


def compare(hls: HlsModel, plan: Any) -> tuple[list[Row], list[dict[str, Any]]]:
    """All rows (model-level fields first, then per layer in order) and the layer pairing."""
    rows: list[Row] = []
    rows.append(
        Row(
            "(model)",
            "pipeline_style",
            hls.pipeline_style,
            str(plan.pipeline_style).lower(),
            hls.pipeline_style == str(plan.pipeline_style).lower(),
            hls.pipeline_style_source,
        )
    )
    rows.append(Row("(model)", "io_type", hls.io_type, plan.io_type, hls.io_type == plan.io_type))
    rows.append(Row("(model)", "part", hls.part, plan.part, hls.part == plan.part))
    rows.append(
        Row(
            "(model)",
            "clock_period_ns",
            hls.clock_period_ns,
            float(plan.clock_period_ns),
            math.isclose(hls.clock_period_ns, float(plan.clock_period_ns)),
        )
    )
    rows.append(Row("(model)", "backend", hls.backend, plan.backend, hls.backend.lower() == str(plan.backend).lower()))
    players = list(plan.layers)
    pairs = align([(h.name, h.hls_class) for h in hls.layers], [(p.name, p.hls_class, tuple(p.ops)) for p in players])
    pairing: list[dict[str, Any]] = []
    for i, j in pairs:
        h = hls.layers[i] if i is not None else None
        p = players[j] if j is not None else None
        pairing.append(
            {
                "hls4ml": h.name if h else None,
                "hls4ml_class": h.hls_class if h else None,
                "hwsim": p.name if p else None,
                "hwsim_class": p.hls_class if p else None,
                "hwsim_ops": list(p.ops) if p else [],
            }
        )
        if h is not None and p is not None:
            rows.extend(compare_layer(h, p))
        elif h is not None:
            if h.inplace:
                rows.append(Row(h.name, "layer", h.hls_class, None, True, "in-place in hls4ml (no hardware); hwsim has no layer"))
            else:
                rows.append(
                    Row(h.name, "layer", h.hls_class, None, False, "hls4ml builds this layer; hwsim has no matching layer")
                )
        elif p is not None:
            rows.append(
                Row(
                    p.name,
                    "layer",
                    None,
                    p.hls_class,
                    False,
                    f"hwsim plans this layer (ops {', '.join(p.ops)}); hls4ml has no matching layer",
                )
            )
    return rows, pairing


# ---------------------------------------------------------------------------------------------
# C simulation
# ---------------------------------------------------------------------------------------------


def sample_inputs(ref: ModelRef, n: int, seed: int, input_range: tuple[float, float] | None = None) -> Any:
    """``n`` seeded inputs of the model's shape.

    Default: standard normal clipped to ±4 — the standardised (zero mean, unit variance)
    features physics taggers are trained on (hls4ml jet-tagging tutorial); ``±1`` spins for
    NQS models (zoo ``input_kind='spins'``); uniform in ``input_range`` when given (e.g.
    ``0,1`` for normalised detector images such as BraggNN patches).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (n, *ref.input_shape)
    if input_range is not None:
        lo, hi = input_range
        return rng.uniform(lo, hi, size=shape).astype(np.float32)
    if ref.input_kind == "spins":
        return (rng.integers(0, 2, size=shape) * 2 - 1).astype(np.float32)
    return np.clip(rng.standard_normal(shape), -4.0, 4.0).astype(np.float32)


def load_data(path: str, ref: ModelRef) -> Any:
    """Inputs from a ``.npy`` file: ``(N, *input_shape)`` or one ``input_shape`` sample."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: data file not found")
    try:
        x = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise ConfigError(f"{path}: not a readable .npy array: {_first_line(exc)}") from None
    shape = tuple(ref.input_shape)
    if tuple(x.shape) == shape:
        x = x[None]
    if tuple(x.shape[1:]) != shape:
        raise ConfigError(f"{path}: inputs of shape {tuple(x.shape)}; the model takes (N, {', '.join(map(str, shape))})")
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise ConfigError(f"{path}: inputs must be finite numbers")
    return x.astype(np.float32)


def csim(hm: Any, ref: ModelRef, x: Any, channels_last_inputs: bool, classifier: bool = False) -> dict[str, Any]:
    """Compile hls4ml's bit-accurate C++ model with g++ and compare its outputs with the float
    PyTorch model on ``x``: per output, the max and mean absolute deviation and the relative
    deviation (mean |Δ| / mean |float|); for multi-output models the argmax agreement
    (meaningful when ``classifier``)."""
    import numpy as np
    import torch

    if ref.torch_module is None:
        raise ModelError(f"{ref.label}: --csim needs the float PyTorch model as the reference")
    if shutil.which("g++") is None:
        raise OptionalDependencyError("--csim needs g++ to compile hls4ml's C++ model")
    t0 = time.perf_counter()
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            hm.compile()
    except Exception as exc:
        log.debug("hls4ml compile output:\n%s", buf.getvalue())
        raise HwsimError(f"hls4ml's C++ model did not compile: {_first_line(exc)}") from None
    t_compile = time.perf_counter() - t0
    xin = x
    if channels_last_inputs and x.ndim > 2:
        xin = np.moveaxis(x, 1, -1)  # (N, C, ...) -> (N, ..., C): hls4ml 'internal' channels-last
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(buf):
        y_hls = np.asarray(hm.predict(np.ascontiguousarray(xin)), dtype=np.float64)
    t_predict = time.perf_counter() - t0
    with torch.no_grad():
        y_ref_t = ref.torch_module(torch.from_numpy(x))
    y_ref = y_ref_t.detach().cpu().numpy().astype(np.float64)
    n = x.shape[0]
    if y_ref.ndim > 2:  # hls4ml keeps channels-last outputs (TransposeOutputs False)
        y_ref = np.moveaxis(y_ref, 1, -1)
    y_ref = y_ref.reshape(n, -1)
    y_hls = y_hls.reshape(n, -1)
    if y_hls.shape != y_ref.shape:
        raise HwsimError(f"hls4ml's C++ model gives outputs of shape {y_hls.shape}, PyTorch {y_ref.shape}")
    d = np.abs(y_hls - y_ref)
    per_output = []
    for k in range(y_ref.shape[1]):
        scale = float(np.mean(np.abs(y_ref[:, k])))
        per_output.append(
            {
                "output": k,
                "max_abs_dev": float(d[:, k].max()),
                "mean_abs_dev": float(d[:, k].mean()),
                "rel_dev": float(d[:, k].mean() / scale) if scale > 0 else None,
                "float_mean_abs": scale,
            }
        )
    scale_all = float(np.mean(np.abs(y_ref)))
    out: dict[str, Any] = {
        "n_samples": int(n),
        "max_abs_dev": float(d.max()),
        "mean_abs_dev": float(d.mean()),
        "rel_dev": float(d.mean() / scale_all) if scale_all > 0 else None,
        "outputs": per_output,
        "classifier": bool(classifier),
        "compile_s": t_compile,
        "predict_s": t_predict,
    }
    if y_ref.shape[1] > 1:
        out["argmax_agreement"] = float(np.mean(np.argmax(y_hls, axis=1) == np.argmax(y_ref, axis=1)))
        # how decisive the float classifier is: argmax flips are expected where the two
        # largest float outputs lie closer than the fixed-point step
        top2 = np.sort(y_ref, axis=1)[:, -2:]
        out["float_top2_margin_median"] = float(np.median(top2[:, 1] - top2[:, 0]))
    warns = []
    const = [k for k in range(y_ref.shape[1]) if n > 1 and np.ptp(y_hls[:, k]) == 0 and np.ptp(y_ref[:, k]) > 0]
    if const:
        which = ", ".join(f"{k} (= {y_hls[0, k]:.6g})" for k in const[:8]) + (" ..." if len(const) > 8 else "")
        warns.append(
            f"hls4ml output(s) {which} constant over the {n} inputs while the float outputs vary: the fixed-point "
            "types collapse them (e.g. a Softmax input type too wide: its exp table is indexed with the top 10 bits; "
            "set the result precision of the layer before it)"
        )
    out["warnings"] = warns
    return out


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def write_config(
    model: Any,
    path: str | Path,
    example_input: Any = None,
    precision: str = DEFAULT_PRECISION,
    reuse_factor: int = DEFAULT_REUSE,
    strategy: str = "Latency",
    part: str = DEFAULT_PART,
    clock_period: float = DEFAULT_CLOCK_NS,
    io_type: str = DEFAULT_IO_TYPE,
) -> dict[str, Any]:
    """Write hls4ml's own configuration of ``model`` (``config_from_pytorch_model``,
    granularity='name') plus ``Part``, ``ClockPeriod``, ``IOType`` as YAML: a file both
    hls4ml and ``hwsim estimate --backend fpga --config`` accept. Returns the dict."""
    import yaml

    _check_precision_string(precision, "--precision")
    if strategy.lower() not in STRATEGIES:
        raise ConfigError(
            f"--strategy: expected Latency, Resource, resource_unrolled or distributed_arithmetic, got {strategy!r}"
        )
    if reuse_factor < 1:
        raise ConfigError(f"--reuse-factor must be a positive integer, got {reuse_factor}")
    if io_type not in IO_TYPES:
        raise ConfigError(f"--io-type must be io_parallel or io_stream, got {io_type!r}")
    ref = resolve_model(model, example_input)
    cfg = default_hls_config(ref, precision, reuse_factor, strategy, io_type)
    cfg["Part"] = part
    cfg["ClockPeriod"] = clock_period
    cfg["IOType"] = io_type
    cfg = _plain(cfg)
    out = Path(path)
    if out.parent and not out.parent.exists():
        raise ConfigError(f"{path}: directory {out.parent} does not exist")
    text = yaml.safe_dump(cfg, sort_keys=False)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)  # nothing half-written
    return dict(cfg)


def _plain(v: Any) -> Any:
    """YAML-safe copy (tuples to lists, numpy scalars to Python)."""
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and callable(v.item):
        return v.item()
    return v


def check(
    model: Any,
    config: Mapping[str, Any] | None = None,
    example_input: Any = None,
    run_csim: bool = False,
    data: str | None = None,
    n_samples: int = 1000,
    seed: int = 0,
    input_range: tuple[float, float] | None = None,
    keep_project: str | None = None,
    config_source: str = "config",
) -> CheckResult:
    """Convert ``model`` with hls4ml and compare it with the fpga backend's plan.

    ``config`` is an hls4ml configuration (``None``: hls4ml's own default for the model,
    ``config_from_pytorch_model`` at ap_fixed<16,6>, RF 1, Latency, Vitis defaults).
    Raises :class:`HwsimError` subclasses on bad input or an unconvertible model.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ref = resolve_model(model, example_input)
    notes = list(ref.notes)
    if config is None:
        config = default_hls_config(ref)
        config_source = "hls4ml default"
        notes.append(
            "no --config: using hls4ml's own configuration of the model (config_from_pytorch_model, ap_fixed<16,6>, RF 1, Latency)"
        )
    split = split_config(config, config_source)
    notes += split.notes
    if ref.torch_module is not None and "ChannelsLastConversion" not in dict(split.hls_config.get("Model") or {}):
        # hls4ml's converter treats a missing key as 'off', which breaks PyTorch conv models;
        # convert with what config_from_pytorch_model writes, and tell hwsim the same
        mode = channels_last_mode(split)
        for section in (split.hls_config, split.hwsim):
            section["Model"] = {**dict(section.get("Model") or {}), "ChannelsLastConversion": mode}
        notes.append(
            f"Model.ChannelsLastConversion not set: both tools use {mode!r}, as config_from_pytorch_model writes it (hls4ml's converter default 'off' breaks PyTorch conv models)"
        )
    x = None
    if run_csim:
        if n_samples < 1:
            raise ConfigError(f"--n-samples must be positive, got {n_samples}")
        x = load_data(data, ref) if data else sample_inputs(ref, n_samples, seed, input_range)
    timings["resolve_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    plan = hwsim_plan(ref, split)
    timings["hwsim_plan_s"] = time.perf_counter() - t0

    hls4ml = _require_hls4ml()
    tmp = None
    if keep_project:
        project_dir = str(Path(keep_project))
        Path(project_dir).mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="hwsim-hls4ml-")
        project_dir = tmp
    try:
        t0 = time.perf_counter()
        hm, lines = convert(ref, split, project_dir)
        timings["hls4ml_convert_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hm.write()
        timings["hls4ml_write_s"] = time.perf_counter() - t0
        hls = extract(hm, lines, project_dir)
        rows, pairing = compare(hls, plan)
        result = CheckResult(
            model=ref.label,
            source=ref.source,
            rows=rows,
            pairs=pairing,
            hls=hls,
            notes=notes,
            timings_s=timings,
            config=split.hwsim,
            hls4ml_version=str(hls4ml.__version__),
            hwsim_warnings=[str(w) for w in getattr(plan, "warnings", ())],
        )
        if run_csim:
            chl = ref.torch_module is not None and channels_last_mode(split) == "internal"
            classifier = bool(hls.layers and hls.layers[-1].hls_class == "Softmax") or bool(
                {"jets", "classifier"} & set(ref.tags)
            )
            result.csim = csim(hm, ref, x, chl, classifier)
            timings["csim_compile_s"] = result.csim["compile_s"]
            timings["csim_predict_s"] = result.csim["predict_s"]
        if keep_project:
            notes.append(f"hls4ml project kept in {project_dir}")
        return result
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
