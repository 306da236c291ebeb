"""The bit-operations (BOPs) metric exactly as published in the codesign paper.

Source: Weitz, Demler, McDermott, Tran, Duarte, "Neural architecture codesign for fast physics
applications", Mach. Learn.: Sci. Technol. 2025, arXiv:2501.05515, appendix A (CC-BY 4.0).
With m outputs, n inputs, weight bits b_w, activation bits b_a, density p = 1 - sparsity and
kernel size k:

* linear:  ``m n (p b_a b_w + b_a + b_w + log2 n)``
* conv2d:  ``m n k^2 (p b_a b_w + b_a + b_w + log2(n k^2))`` per output position
  (conv1d: the same with k in place of k^2; grouped convs: n = input channels per group)
* softmax over an input (b, h, w, h, w) at b_w bits:
  ``1.5 b (hw)^2 (b_w - 1) + b hw (hw - 1) + b (hw)^2``. hwsim applies it to any softmax as
  ``1.5 E (b_w - 1) + R (L - 1) + E`` with E elements, rows R and row length L — the same
  expression (E = b (hw)^2, L = hw, R = b hw).
* matmul (b, m, n) x (b, n, p): ``b m n (p b_w^2 + b_w (log2 n + 1))`` — here p is the
  output width of the product, as printed in the paper.
* a ConvAttention block is the sum of its convolutions, softmax and matmuls, which is what
  summing the IR's ops gives.

The paper defines no BOPs for other ops (activations, BatchNorm, pooling, additions): they
count 0 here and each row says so (``counted`` = false). A dense layer applied to several rows
(the Deep Sets φ network on 8 particles) counts once per row by default: the paper does not
say how it counted φ (see ../shared/data/seed-jet-deepsets.md), so ``count_rows`` is an option.
Bit widths and sparsity come from the IR (float32 models: 32 bits) or from the options.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from hwsim.backends.base import SUPPORTED, BackendBase, Estimate, OpCost, Param, Params, Support
from hwsim.ir import ACTIVATION, CONV, DENSE, MATMUL, OP_KIND_NAMES, OPAQUE, Op, OpGraph, Precision

PAPER = "Weitz et al. 2025 (arXiv:2501.05515), appendix A"


def linear_bops(m: int, n: int, b_w: float, b_a: float, p: float = 1.0) -> float:
    """BOPs of a linear layer with n inputs and m outputs."""
    return m * n * (p * b_a * b_w + b_a + b_w + math.log2(n))


def conv_bops(m: int, n: int, k2: int, b_w: float, b_a: float, p: float = 1.0, positions: int = 1) -> float:
    """BOPs of a convolution: m filters, n input channels (per group), k2 kernel elements,
    per output position times ``positions``."""
    return positions * m * n * k2 * (p * b_a * b_w + b_a + b_w + math.log2(n * k2))


def softmax_bops(elements: int, row_length: int, b_w: float) -> float:
    """BOPs of a softmax over rows of ``row_length`` (E elements in all)."""
    rows = elements // max(row_length, 1)
    return 1.5 * elements * (b_w - 1) + rows * (row_length - 1) + elements


def matmul_bops(b: int, m: int, n: int, p: int, b_w: float) -> float:
    """BOPs of a (b, m, n) x (b, n, p) product of activations."""
    return b * m * n * (p * b_w**2 + b_w * (math.log2(n) + 1))


def _bits(prec: Precision | None, default: int) -> int:
    return default if prec is None else prec.bits


class BopsBackend(BackendBase):
    """Bit operations (BOPs), MACs and parameters — the codesign paper's metric."""

    name: ClassVar[str] = "bops"
    description: ClassVar[str] = "bit operations of the codesign paper (appendix A), MACs, parameters"
    claims: ClassVar[frozenset[str]] = frozenset(k for k in OP_KIND_NAMES if k != OPAQUE)
    totals_keys: ClassVar[tuple[str, ...]] = ("bops", "macs", "params")
    passes: ClassVar[tuple[str, ...]] = ()

    def default_params(self) -> Params:
        return Params(
            {
                "weight_bits": Param(0, "option; 0 = from the IR (float32 = 32 bits, ternary = 2, binary = 1)", "bit", "b_w"),
                "act_bits": Param(0, "option; 0 = from the IR", "bit", "b_a"),
                "sparsity": Param(-1.0, "option; -1 = read from the weights (fraction of exact zeros)", "", "1 - p"),
                "count_rows": Param(
                    True,
                    f"assumption: {PAPER} does not say how a layer applied per particle is counted",
                    "",
                    "count a dense layer once per row it is applied to",
                ),
            }
        )

    def supports(self, op: Op) -> Support:
        if op.kind == OPAQUE:
            return Support(False, f"ONNX op {op.attrs.get('op_type', '?')} was not read by the frontend")
        return SUPPORTED

    def _bw_ba(self, op: Op, params: Params) -> tuple[int, int]:
        bw = int(params.value("weight_bits", 0)) or _bits(op.precision.weight, 32)
        ba = int(params.value("act_bits", 0)) or _bits(op.precision.input, 32)
        return bw, ba

    def _density(self, op: Op, params: Params) -> float:
        s = float(params.value("sparsity", -1.0))
        return 1.0 - (op.sparsity if s < 0 else s)

    def estimate(self, op: Op, params: Params) -> OpCost:
        bw, ba = self._bw_ba(op, params)
        p = self._density(op, params)
        a = op.attrs
        bops = 0.0
        counted = True
        info: dict[str, Any] = {}
        if op.kind == DENSE:
            n, m = int(a["n_in"]), int(a["n_out"])
            rows = op.rows if params.value("count_rows", True) else 1
            bops = rows * linear_bops(m, n, bw, ba, p)
            info = {"b_w": bw, "b_a": ba, "p": round(p, 6), "rows": rows}
        elif op.kind == CONV:
            groups = int(a["groups"])
            n = int(a["in_channels"]) // groups
            m = int(a["out_channels"])
            k2 = int(math.prod(a["kernel"]))
            positions = int(math.prod(op.output_shape[1:]))
            # a grouped conv is `groups` independent convs of m/groups filters each
            bops = conv_bops(m, n, k2, bw, ba, p, positions)
            info = {"b_w": bw, "b_a": ba, "p": round(p, 6), "positions": positions}
        elif op.kind == ACTIVATION and op.function == "softmax":
            shape = op.input_shape
            axis = int(a.get("axis", -1)) % max(len(shape), 1)
            bw_s = int(params.value("weight_bits", 0)) or _bits(op.precision.input, 32)
            bops = softmax_bops(int(math.prod(shape)), int(shape[axis]) if shape else 1, bw_s)
            info = {"b_w": bw_s}
        elif op.kind == MATMUL:
            sa, sb = op.inputs[0].shape, op.inputs[1].shape
            m = int(sa[-2]) if len(sa) > 1 else 1
            n = int(sa[-1])
            pdim = int(sb[-1])
            b = int(math.prod(op.output_shape[:-2])) if len(op.output_shape) > 2 else 1
            bw_m = int(params.value("weight_bits", 0)) or _bits(op.precision.input, 32)
            bops = matmul_bops(b, m, n, pdim, bw_m)
            info = {"b_w": bw_m}
        else:
            counted = False
        info["counted"] = counted
        return OpCost(
            op.name,
            op.kind + (f":{op.function}" if op.function else ""),
            {"bops": bops, "macs": float(op.macs), "params": float(op.n_params)},
            info,
        )

    def aggregate(self, graph: OpGraph, costs: Sequence[OpCost], params: Params) -> Estimate:
        totals = {
            "bops": float(sum(c.values["bops"] for c in costs)),
            "macs": int(sum(c.values["macs"] for c in costs)),
            "params": int(sum(c.values["params"] for c in costs)),
        }
        return Estimate(
            backend=self.name,
            model=graph.name,
            totals=totals,
            layers=tuple(c.row() for c in costs),
            params=params.updated({"formulas": Param(PAPER, "paper")}),
            fingerprint=graph.fingerprint(),
        )

    def features(self, op: Op, params: Params) -> Mapping[str, float]:
        return {}
