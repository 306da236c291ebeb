"""The deterministic rules of hls4ml 1.3.0, re-implemented without importing hls4ml.

Each function names the hls4ml source it mirrors; ``tests/test_fpga_rules.py`` checks them
against hls4ml's own functions when hls4ml is installed.

* reuse-factor validity and snapping: ``hls4ml/backends/fpga/fpga_backend.py``
  (``_validate_reuse_factor``, ``get_valid_reuse_factors``, ``get_closest_reuse_factor``,
  ``set_closest_reuse_factor``), called from ``backends/vivado/vivado_backend.py``
  (``init_dense``/``init_conv1d``/``init_conv2d``/``init_depconv*``) only for the Resource
  (and resource_unrolled) strategies;
* conv ParallelizationFactor snapping: ``get_valid_conv_partition_splits``;
* the multiplier limit: ``backends/vivado/passes/core_templates.py``
  (``DIV_ROUNDUP(n_in * n_out, reuse_factor) - n_zeros / reuse_factor``);
* 'auto' precision inference: ``model/optimizer/passes/infer_precision.py``;
* the top-level pipeline style: ``backends/vivado/passes/pipeline_style.py``.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

# ---------------------------------------------------------------------------------------------
# Reuse factor
# ---------------------------------------------------------------------------------------------


def validate_reuse_factor(n_in: int, n_out: int, rf: int) -> bool:
    """hls4ml ``FPGABackend._validate_reuse_factor`` (same arithmetic, same result)."""
    multfactor = min(n_in, rf)
    multiplier_limit = int(math.ceil((n_in * n_out) / float(multfactor)))
    ok = ((multiplier_limit % n_out) == 0) or (rf >= n_in)
    ok = ok and (((rf % n_in) == 0) or (rf < n_in))
    ok = ok and (((n_in * n_out) % rf) == 0)
    return ok


def _divisors(n: int) -> list[int]:
    small, large = [], []
    i = 1
    while i * i <= n:
        if n % i == 0:
            small.append(i)
            if i * i != n:
                large.append(n // i)
        i += 1
    return small + large[::-1]


@lru_cache(maxsize=4096)
def valid_reuse_factors(n_in: int, n_out: int) -> tuple[int, ...]:
    """The sorted valid reuse factors, as ``get_valid_reuse_factors`` lists them.

    hls4ml scans 1..n_in*n_out with ``_validate_reuse_factor``; the accepted set is exactly
    {divisors of n_in} ∪ {n_in*k : k divides n_out} (for rf < n_in the first two conditions
    reduce to ``n_in % rf == 0``; for rf >= n_in to ``rf = n_in*k`` with ``k | n_out``), so it
    is built directly in O(sqrt(n)) instead of O(n_in*n_out).
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"n_in and n_out must be positive, got {n_in}, {n_out}")
    s = set(_divisors(n_in)) | {n_in * k for k in _divisors(n_out)}
    return tuple(sorted(s))


def closest_reuse_factor(valid_rf: Sequence[int], chosen_rf: int) -> int:
    """hls4ml ``get_closest_reuse_factor``: nearest valid value, ties to the smaller one."""
    pos = bisect_left(valid_rf, chosen_rf)
    if pos == 0:
        return int(valid_rf[0])
    if pos == len(valid_rf):
        return int(valid_rf[-1])
    before = valid_rf[pos - 1]
    after = valid_rf[pos]
    if after - chosen_rf < chosen_rf - before:
        return int(after)
    return int(before)


def reuse_factor_warning(layer: str, chosen: int, closest: int, valid: Iterable[int]) -> str:
    """The exact text hls4ml prints (``set_closest_reuse_factor``; note the missing space
    after the full stop, as in hls4ml)."""
    valid_str = ",".join(map(str, valid))
    return (
        f'WARNING: Invalid ReuseFactor={chosen} in layer "{layer}".'
        f"Using ReuseFactor={closest} instead. Valid ReuseFactor(s): {valid_str}."
    )


def snap_reuse_factor(layer: str, n_in: int, n_out: int, chosen: int, include_max_rf: bool = True) -> tuple[int, str | None]:
    """``set_closest_reuse_factor``: (reuse factor hls4ml uses, warning text or None)."""
    valid = list(valid_reuse_factors(n_in, n_out))
    if not include_max_rf:
        valid.pop()
    if chosen in valid:
        return chosen, None
    closest = closest_reuse_factor(valid, chosen)
    return closest, reuse_factor_warning(layer, chosen, closest, valid)


# ---------------------------------------------------------------------------------------------
# Conv partitions (ParallelizationFactor)
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def valid_conv_partition_splits(out_height: int, out_width: int) -> tuple[int, ...]:
    """hls4ml ``get_valid_conv_partition_splits``: divisors of the output pixel count up to
    half of it, then the count itself."""
    n = out_height * out_width
    vals = [i for i in _divisors(n) if i <= n // 2]
    vals.append(n)
    return tuple(sorted(set(vals)))


def pf_warning(layer: str, chosen: int, closest: int, valid: Iterable[int]) -> str:
    valid_str = ",".join(map(str, valid))
    return (
        f'WARNING: Invalid ParallelizationFactor={chosen} in layer "{layer}".'
        f"Using ParallelizationFactor={closest} instead. Valid ParallelizationFactor(s): {valid_str}."
    )


def snap_parallelization_factor(layer: str, out_height: int, out_width: int, chosen: int) -> tuple[int, str | None]:
    valid = valid_conv_partition_splits(out_height, out_width)
    if chosen in valid:
        return chosen, None
    closest = closest_reuse_factor(valid, chosen)
    return closest, pf_warning(layer, chosen, closest, valid)


def multiplier_limit(n_in: int, n_out: int, rf: int, n_zeros: int = 0) -> int:
    """``DIV_ROUNDUP(n_in * n_out, reuse_factor) - n_zeros / reuse_factor`` (C++ unsigned
    integer division) from hls4ml's dense config template."""
    return -(-(n_in * n_out) // rf) - (n_zeros // rf)


# ---------------------------------------------------------------------------------------------
# Fixed-point types and 'auto' inference
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FixedType:
    """``ap_fixed<width, integer>`` (``signed``); integers have integer == width. Floats are
    represented with ``is_float`` (hls4ml then falls back to the default precision)."""

    width: int
    integer: int
    signed: bool = True
    is_float: bool = False

    @property
    def fractional(self) -> int:
        return self.width - self.integer

    def __str__(self) -> str:
        if self.is_float:
            return "float" if self.width == 32 else ("half" if self.width == 16 else "double")
        return f"ap_{'' if self.signed else 'u'}fixed<{self.width},{self.integer}>"

    @staticmethod
    def parse(text: str) -> FixedType:
        """Parse the strings hls4ml accepts: ``ap_fixed<16,6>``, ``fixed<16,6,RND,SAT>``,
        ``ap_ufixed<8,0>``, ``ap_int<8>``, ``int<4>``, ``uint<1>``, ``float``, ``double``."""
        import re

        s = str(text).strip().lower().replace(" ", "")
        if s in ("float", "double", "half"):
            return FixedType({"float": 32, "double": 64, "half": 16}[s], 0, True, True)
        m = re.fullmatch(r"(?:ap_)?(u?)fixed<(\d+),(-?\d+)(?:,[^>]*)?>", s)
        if m:
            return FixedType(int(m.group(2)), int(m.group(3)), not m.group(1))
        m = re.fullmatch(r"(?:ap_)?(u?)int<(\d+)>", s)
        if m:
            return FixedType(int(m.group(2)), int(m.group(2)), not m.group(1))
        raise ValueError(f"cannot parse precision {text!r}")


def infer_common_precision(inp: FixedType, weight: FixedType, bias: FixedType, n_ops: int) -> FixedType | None:
    """``InferPrecisionTypes._infer_common_precision`` (Dense, Conv: accum and result types).
    Returns None when a type is float (hls4ml then uses the default precision)."""
    if inp.is_float or weight.is_float or bias.is_float:
        return None
    lg = math.ceil(math.log2(n_ops)) if n_ops > 0 else 0
    bitwidth = weight.width + inp.width + lg
    integers = weight.integer + inp.integer + lg
    signed = weight.signed or inp.signed
    frac = bitwidth - integers
    integers = max(integers + (bias.signed and not signed), bias.integer + (signed and not bias.signed)) + 1
    bitwidth = integers + max(frac, bias.width - bias.integer)
    signed = signed or bias.signed
    return FixedType(int(bitwidth), int(integers), bool(signed))


def infer_bn_precision(inp: FixedType, scale: FixedType, bias: FixedType) -> FixedType | None:
    """``_infer_bn_precision`` (result type of a BatchNormalization layer)."""
    if inp.is_float or scale.is_float or bias.is_float:
        return None
    s_signed = scale.signed or inp.signed
    s_width = inp.width + scale.width
    s_int = inp.integer + scale.integer
    out_signed = s_signed or bias.signed
    out_int = max(s_int + (bias.signed and not s_signed), bias.integer + (s_signed and not bias.signed)) + 1
    out_width = out_int + max(s_width - s_int, bias.fractional)
    return FixedType(int(out_width), int(out_int), bool(out_signed))


def infer_avg_pool_accum(inp: FixedType, pool_size: int) -> FixedType | None:
    """``_infer_pooling_precision`` for average pooling (max pooling keeps the input type)."""
    if inp.is_float:
        return None
    extra = int(math.ceil(math.log2(pool_size))) if pool_size > 1 else 0
    return FixedType(inp.width + 2 * extra, inp.integer + extra, inp.signed)


def infer_merge_precision(op: str, a: FixedType, b: FixedType) -> FixedType | None:
    """``_infer_merge_precision`` (add/subtract/average, multiply, maximum/minimum)."""
    if a.is_float or b.is_float:
        return None
    if op in ("add", "subtract", "average"):
        signed = a.signed or b.signed or op == "subtract"
        new_int = max(a.integer + (b.signed and not a.signed), b.integer + (a.signed and not b.signed)) + 1
        return FixedType(new_int + max(a.fractional, b.fractional), new_int, signed)
    if op == "multiply":
        return FixedType(a.width + b.width, a.integer + b.integer, a.signed or b.signed)
    if op in ("maximum", "minimum"):
        return infer_cat_precision(a, b)
    return None


def infer_cat_precision(a: FixedType, b: FixedType) -> FixedType | None:
    """``_infer_cat_precision`` (Concatenate) and the max/min branch of Merge."""
    if a == b:
        return a
    if a.is_float or b.is_float:
        return None
    signed = a.signed or b.signed
    ai = a.integer + (1 if signed and not a.signed else 0)
    bi = b.integer + (1 if signed and not b.signed else 0)
    new_int = max(ai, bi)
    return FixedType(max(a.fractional, b.fractional) + new_int, new_int, signed)


# ---------------------------------------------------------------------------------------------
# Pipeline style
# ---------------------------------------------------------------------------------------------


def pipeline_style(io_type: str, layers: Sequence[tuple[str, str, int]], requested: str = "auto") -> tuple[str, str | None]:
    """``SetPipelineStyle.transform``: layers are (hls_class, strategy, n_partitions).

    Order of the checks as in hls4ml: io_stream -> dataflow; any Conv1D/Conv2D (incl.
    pointwise and depthwise subclasses) with n_partitions != 1 -> dataflow; any Resource
    strategy layer -> dataflow; any resource_unrolled -> pipeline; io_parallel -> pipeline.
    Returns (style, warning)."""
    req = (requested or "auto").lower()
    warning = None
    if req not in ("auto", "pipeline", "dataflow"):
        warning = f'WARNING: Pipeline style set to {requested}, valid values: auto, pipeline, dataflow. Using "auto".'
        req = "auto"
    if req != "auto":
        return req, warning
    if io_type == "io_stream":
        return "dataflow", warning
    for cls, _strategy, n_part in layers:
        if ("Conv1D" in cls or "Conv2D" in cls) and n_part != 1:
            return "dataflow", warning
    for _cls, strategy, _n in layers:
        if strategy in ("resource", "compressed"):
            return "dataflow", warning
    for _cls, strategy, _n in layers:
        if strategy == "resource_unrolled":
            return "pipeline", warning
    if io_type == "io_parallel":
        return "pipeline", warning
    return "dataflow", warning
