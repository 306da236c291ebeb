"""Costs of a whole Deep Sets population at once (numpy), for searches that need thousands of
evaluations a second.

The generic path (sample -> OpGraph -> passes -> backend, ~1-2 ms per distinct candidate in
Python) is exact for any space. For the Deep Sets block structure (``mlp`` phi, ``aggregate``,
``mlp`` rho) the BOPs backend's formulas reduce to sums over at most 4 + 4 dense layers, so a
population is encoded as padded integer arrays and costed in a few numpy operations.
:func:`verify` compares every value with the scalar path; ``tests/test_search_vectorized.py``
and ``benchmarks/search_bench.py`` run it.

BOPs (Weitz et al. 2025, appendix A, as ``hwsim.backends.bops``): a dense layer with n inputs,
m outputs applied to ``rows`` rows costs ``rows * m n (p b_a b_w + b_a + b_w + log2 n)``
(dense weights, p = 1); every other op of these graphs counts 0. MACs = rows * n * m;
parameters = sum(n m + m) + 2 x (normalised channels) per BatchNorm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.errors import ConfigError
from hwsim.search.spaces import SearchSpace


@dataclass(frozen=True)
class DeepSetsBatch:
    """A population of Deep Sets samples as arrays (P candidates, L = max layers).

    ``phi_dims``/``rho_dims``: (P, L+1) layer widths, input first, 0 past the last layer;
    ``phi_bn``/``rho_bn``: (P, L) channels normalised by the BatchNorm after each layer (0 for
    none); ``rows``: particles (phi is applied to each).
    """

    phi_dims: np.ndarray
    rho_dims: np.ndarray
    phi_bn: np.ndarray
    rho_bn: np.ndarray
    rows: int

    def __len__(self) -> int:
        return int(self.phi_dims.shape[0])


def _check_structure(space: SearchSpace) -> None:
    types = [b.type for b in space.blocks]
    if types != ["mlp", "aggregate", "mlp"] or len(space.input_shape) != 2:
        raise ConfigError(
            f"{space.name}: the vectorised path needs a Deep Sets space (mlp, aggregate, mlp on a (rows, features) input), got {types}"
        )


def encode(space: SearchSpace, samples: Sequence[Mapping[str, Any]]) -> DeepSetsBatch:
    """Encode samples (validated by building each architecture's layer list)."""
    _check_structure(space)
    rows, feats = space.input_shape
    archs = [space.build(s) for s in samples]
    nets: dict[str, list[list[int]]] = {"phi": [], "rho": []}
    bns: dict[str, list[list[int]]] = {"phi": [], "rho": []}
    for arch in archs:
        part = "phi"
        dims: dict[str, list[int]] = {"phi": [], "rho": []}
        bn: dict[str, list[int]] = {"phi": [], "rho": []}
        for layer in arch.layers:
            if layer.kind == "reduce":
                part = "rho"
            elif layer.kind == "linear":
                if not dims[part]:
                    dims[part].append(layer.args[0])
                dims[part].append(layer.args[1])
                bn[part].append(0)
            elif layer.kind == "batchnorm":
                bn[part][-1] = int(layer.args[0])
        for p in ("phi", "rho"):
            nets[p].append(dims[p])
            bns[p].append(bn[p])
    width = max(max(len(d) for d in nets[p]) for p in nets)

    def pad(lists: list[list[int]], n: int) -> np.ndarray:
        out = np.zeros((len(lists), n), dtype=np.int64)
        for i, v in enumerate(lists):
            out[i, : len(v)] = v
        return out

    return DeepSetsBatch(
        pad(nets["phi"], width), pad(nets["rho"], width), pad(bns["phi"], width - 1), pad(bns["rho"], width - 1), rows
    )


def encode_fast(space: SearchSpace, samples: Sequence[Mapping[str, Any]]) -> DeepSetsBatch:
    """Like :func:`encode` but reading the sample dicts directly (no per-sample build); the
    samples must be valid samples of ``space`` (e.g. drawn by it)."""
    _check_structure(space)
    rows, feats = space.input_shape
    phi, agg, rho = space.blocks
    lmax = max(SearchSpace._max_layers(phi), SearchSpace._max_layers(rho))
    P = len(samples)
    out: dict[str, np.ndarray] = {}
    for blk, first in ((phi, feats), (rho, None)):
        dims = np.zeros((P, lmax + 1), dtype=np.int64)
        bn = np.zeros((P, lmax), dtype=np.int64)
        norm_axis = blk.options.get("norm_axis", "features")
        for i, s in enumerate(samples):

            def val(f: str, j: int | None = None, b: Any = blk, smp: Mapping[str, Any] = s) -> Any:
                return SearchSpace._value(space, b, f, j, lambda spec: smp[spec.name])

            n = int(val("layers"))
            ws = [int(val("width", j)) for j in range(n - 1)] + [int(val("out"))]
            d0 = first if first is not None else int(out["phi_last"][i])  # rho reads the bottleneck
            dims[i, 0] = d0
            dims[i, 1 : n + 1] = ws
            for j in range(n):
                norm = str(val("norm", j))
                if norm == "batch_rows" or (norm == "batch" and norm_axis == "rows"):
                    bn[i, j] = rows if blk is phi else ws[j]
                elif norm == "batch":
                    bn[i, j] = ws[j]
        key = "phi" if blk is phi else "rho"
        out[f"{key}_dims"], out[f"{key}_bn"] = dims, bn
        if blk is phi:
            last = np.array([d[d > 0][-1] for d in dims], dtype=np.int64)
            out["phi_last"] = last
    return DeepSetsBatch(out["phi_dims"], out["rho_dims"], out["phi_bn"], out["rho_bn"], rows)


def _dense_terms(dims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = dims[:, :-1].astype(np.float64)
    m = dims[:, 1:].astype(np.float64)
    valid = (n > 0) & (m > 0)
    return np.where(valid, n, 0.0), np.where(valid, m, 0.0)


def bops(batch: DeepSetsBatch, weight_bits: int = 32, act_bits: int = 32, count_rows: bool = True) -> dict[str, np.ndarray]:
    """BOPs, MACs and parameters of every candidate (arrays of length P), exactly as the
    ``bops`` backend computes them for dense, unpruned Deep Sets graphs."""
    bw, ba = float(weight_bits), float(act_bits)
    out = {
        "bops": np.zeros(len(batch)),
        "macs": np.zeros(len(batch), dtype=np.int64),
        "params": np.zeros(len(batch), dtype=np.int64),
    }
    for dims, bn, rows in ((batch.phi_dims, batch.phi_bn, batch.rows if count_rows else 1), (batch.rho_dims, batch.rho_bn, 1)):
        n, m = _dense_terms(dims)
        with np.errstate(divide="ignore", invalid="ignore"):
            per = np.where(n > 0, m * n * (ba * bw + ba + bw + np.log2(np.where(n > 0, n, 1.0))), 0.0)
        out["bops"] += rows * per.sum(axis=1)
        mac_rows = batch.rows  # MACs always count every row (Op.macs)
        out["macs"] += (mac_rows if dims is batch.phi_dims else 1) * (n * m).sum(axis=1).astype(np.int64)
        out["params"] += (n * m + m).sum(axis=1).astype(np.int64) + 2 * bn.sum(axis=1)
    return out


def verify(
    space: SearchSpace, samples: Sequence[Mapping[str, Any]], weight_bits: int = 8, act_bits: int = 8, rtol: float = 1e-12
) -> dict[str, float]:
    """Largest relative difference between the vectorised and the scalar (graph) path for each
    total; raises AssertionError beyond ``rtol``."""
    from hwsim.search.objective import Objective

    obj = Objective("bops", overrides={"weight_bits": str(weight_bits), "act_bits": str(act_bits)})
    vec = bops(encode_fast(space, samples), weight_bits, act_bits)
    worst: dict[str, float] = {}
    for i, s in enumerate(samples):
        r = obj.cost(space.to_graph(s))
        for k in ("bops", "macs", "params"):
            a, b = float(vec[k][i]), float(r[k])
            d = abs(a - b) / max(abs(b), 1e-300)
            worst[k] = max(worst.get(k, 0.0), d)
            if d > rtol:
                raise AssertionError(f"sample {i}: vectorised {k} {a} != scalar {b}")
    return worst
