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

import math
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


# ---------------------------------------------------------------------------------------------
# fpga (hls4ml) costs of a population of chain networks (MLP / Deep Sets)
# ---------------------------------------------------------------------------------------------

#: layer kinds of a built architecture the vectorised fpga path handles (a chain of them)
FPGA_CHAIN_KINDS = frozenset({"linear", "batchnorm", "act", "reduce"})

#: totals :meth:`FpgaPopulation.cost` returns (as the fpga backend's Estimate.totals, plus
#: ``ii_s`` as hwsim.search.objective.metrics_from_estimate derives it)
FPGA_TOTALS = (
    "latency_cycles",
    "ii_cycles",
    "latency_s",
    "ii_s",
    "DSP",
    "LUT",
    "FF",
    "BRAM_18K",
    "DSP_pct",
    "LUT_pct",
    "FF_pct",
    "BRAM_18K_pct",
)


class FpgaPopulation:
    """fpga (hls4ml) totals of many candidates of a chain space (Deep Sets, MLP) at once.

    Exact by construction, not a re-implementation of the rules: every distinct *unit* of a
    chain (a ``linear`` with the ``batchnorm`` that may fold into it, or any other layer),
    entered with a given input precision (and io_stream word size), is built once as a
    two-op OpGraph with the search space's own IR builder, prepared by the backend's passes,
    planned with :func:`hwsim.backends.fpga.model.plan_layer` and costed with the backend's
    per-layer cost (the same calls ``FpgaBackend.aggregate`` makes), and the per-layer values
    (rounded as the backend rounds them) are stored in a table. A candidate is then a row of
    table indices; totals are gathered with numpy over the population, summed in layer order
    (bit-identical to the backend's Python sums) and composed (PIPELINE / DATAFLOW) over arrays.
    The table persists across calls, so a search pays for each new layer unit once.

    Limits (a :class:`~hwsim.errors.ConfigError` otherwise): layers linear, batchnorm, act,
    reduce in a chain; configs without ``LayerName`` entries (layer names in the unit graphs
    are not those of the full graph). :func:`verify_fpga` and ``tests/test_search_vectorized.py``
    compare it with ``Objective('fpga').cost`` on random candidates.
    """

    def __init__(
        self, space: SearchSpace, overrides: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None
    ) -> None:
        from hwsim.api import resolve
        from hwsim.backends.fpga import FpgaBackend
        from hwsim.backends.fpga.rules import FixedType

        self.space = space
        be, params = resolve("fpga", config, overrides)
        if not isinstance(be, FpgaBackend):  # pragma: no cover - registry misconfiguration
            raise ConfigError("the vectorised fpga path needs hwsim's FpgaBackend")
        self.backend, self.params = be, params
        cfg, consts, dev = be._ctx(params)
        if cfg.layer_name:
            raise ConfigError(
                "the vectorised fpga path supports Model/LayerType configurations only (LayerName entries: "
                f"{', '.join(sorted(cfg.layer_name))}); use Objective('fpga').cost_many"
            )
        self.cfg, self.consts, self.dev = cfg, consts, dev
        self.default = FixedType.parse(cfg.default_precision)
        self._units: dict[Any, tuple[tuple[int, ...], Any, int]] = {}
        self._unit_ops: dict[Any, tuple[Any, ...]] = {}
        # per-layer table rows: latency, ii, stream depth, DSP, LUT, FF, BRAM; row 0 = padding
        self._rows: list[tuple[int, int, int, float, float, float, float]] = [(0, 1, 0, 0.0, 0.0, 0.0, 0.0)]
        self._style_key: list[tuple[str, str, int]] = [("", "", 1)]
        self._styles: dict[tuple[tuple[str, str, int], ...], str] = {}

    # -------------------------------------------------------------- units
    def _unit(self, layers: tuple[Any, ...], in_t: Any, pack: int) -> tuple[tuple[int, ...], Any, int]:
        """Table rows, output precision and io_stream word size of one chain unit."""
        key = (layers, in_t, pack)
        hit = self._units.get(key)
        if hit is not None:
            return hit
        from hwsim.backends.fpga import model as M
        from hwsim.ir import RESHAPE
        from hwsim.search.spaces import Architecture, arch_to_graph

        ops = self._unit_ops.get(layers)
        if ops is None:  # the prepared ops of the unit do not depend on the input precision
            arch = Architecture(self.space.name, tuple(layers[0].in_shape), layers, {})
            ops = tuple(self.backend.prepare(arch_to_graph(arch, "unit"), self.params).ops())
            for op in ops:
                sup = self.backend.supports(op)
                if not sup.ok:
                    raise ConfigError(
                        f"{self.space.name}: the fpga backend does not cost {op.kind} {op.function or ''} ({sup.reason})"
                    )
            self._unit_ops[layers] = ops
        ids: list[int] = []
        t = in_t
        for op in ops:
            lp, geo = M.plan_layer(op, self.cfg, [t], self.default, None)
            geo = dict(geo)
            geo["in_pack"] = pack
            lc = self.backend._cost(geo, self.consts, self.dev, self.cfg)
            oc = self.backend._opcost(lp.name, op, lp, lc, self.consts)
            v = oc.values
            self._rows.append(
                (
                    lc.latency,
                    max(lc.ii, 1),
                    lc.stream_depth,
                    float(v["DSP"]),
                    float(v["LUT"]),
                    float(v["FF"]),
                    float(v["BRAM_18K"]),
                )
            )
            self._style_key.append((lp.hls_class, geo["config_strategy"], int(lp.extra.get("n_partitions", 1))))
            ids.append(len(self._rows) - 1)
            t = geo["result_t"]
            pack = pack if op.kind == RESHAPE else M._pixels_channels(op.output_shape)[1]
        out = (tuple(ids), t, pack)
        self._units[key] = out
        return out

    def _chain(self, arch: Any) -> list[int]:
        from hwsim.backends.fpga import model as M

        layers = arch.layers
        ids: list[int] = []
        t = self.default
        pack = M._pixels_channels(arch.input_shape)[1]
        i = 0
        n = len(layers)
        while i < n:
            lay = layers[i]
            if lay.kind not in FPGA_CHAIN_KINDS:
                raise ConfigError(
                    f"{self.space.name}: the vectorised fpga path handles {sorted(FPGA_CHAIN_KINDS)} layers, not {lay.kind!r}"
                )
            j = i + 2 if (lay.kind == "linear" and i + 1 < n and layers[i + 1].kind == "batchnorm") else i + 1
            uid, t, pack = self._unit(tuple(layers[i:j]), t, pack)
            ids.extend(uid)
            i = j
        return ids

    # -------------------------------------------------------------- population
    def encode(self, samples: Sequence[Mapping[str, Any] | Any]) -> np.ndarray:
        """(P, L) int array of table rows per candidate (0 = padding). ``samples`` are sample
        dicts (validated by :meth:`SearchSpace.build`) or built Architectures."""
        from hwsim.search.spaces import Architecture

        chains = [self._chain(s if isinstance(s, Architecture) else self.space.build(s)) for s in samples]
        width = max((len(c) for c in chains), default=0)
        out = np.zeros((len(chains), width), dtype=np.int64)
        for i, c in enumerate(chains):
            out[i, : len(c)] = c
        return out

    def _style(self, ids: np.ndarray) -> np.ndarray:
        from hwsim.backends.fpga import rules

        out = np.empty(len(ids), dtype=object)
        for i, row in enumerate(ids):
            key = tuple(self._style_key[j] for j in row if j)
            s = self._styles.get(key)
            if s is None:
                s = rules.pipeline_style(self.cfg.io_type, list(key), self.cfg.pipeline_style)[0]
                self._styles[key] = s
            out[i] = s
        return out

    def cost_ids(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Totals of encoded candidates (arrays of length P), as FpgaBackend.aggregate."""
        tab = np.asarray(self._rows, dtype=np.float64)
        P, L = ids.shape
        lat_t = tab[:, 0].astype(np.int64)
        ii_t = tab[:, 1].astype(np.int64)
        dep_t = tab[:, 2].astype(np.int64)
        sums = {k: np.zeros(P) for k in ("DSP", "LUT", "FF", "BRAM_18K")}
        for j in range(L):  # layer order: the same float sums as the backend's loop
            col = ids[:, j]
            for ci, k in enumerate(("DSP", "LUT", "FF", "BRAM_18K"), start=3):
                sums[k] += tab[col, ci]
        lats, iis, deps = lat_t[ids], ii_t[ids], dep_t[ids]
        real = ids > 0
        lat_sum = lats.sum(axis=1)
        ii_max = np.where(real, iis, 1).max(axis=1) if L else np.ones(P, dtype=np.int64)
        style = self._style(ids)
        c = self.consts
        if self.cfg.io_type == "io_stream":
            i_max = lats.argmax(axis=1) if L else np.zeros(P, dtype=np.int64)
            lat_df = lats[np.arange(P), i_max] + deps.sum(axis=1) - deps[np.arange(P), i_max]
            ii_df = ii_max + int(c["dataflow_ii_overhead"])
        else:
            multi = real.sum(axis=1) > 1  # the channel overlap needs two stages (FpgaBackend._compose)
            lat_df = np.maximum(lat_sum + np.where(multi, int(c["dataflow_parallel_latency_offset"]), 0), 0)
            ii_df = np.maximum(lat_df, ii_max)
        pipe = style == "pipeline"
        lat = np.where(pipe, lat_sum, lat_df)
        ii = np.where(pipe, ii_max, ii_df)
        empty = ~real.any(axis=1)
        lat, ii = np.where(empty, 0, lat), np.where(empty, 0, ii)
        clock = self.cfg.clock_period_ns
        out: dict[str, np.ndarray] = {
            "latency_cycles": lat.astype(np.float64),
            "ii_cycles": ii.astype(np.float64),
            "latency_s": lat * clock * 1e-9,
        }
        out["ii_s"] = out["ii_cycles"] * (float(clock) * 1e-9)
        for k, nd in (("DSP", 1), ("LUT", 0), ("FF", 0), ("BRAM_18K", 1)):
            tot = np.array([round(float(x), nd) for x in sums[k]])  # Python round, as the backend
            out[k] = tot
            avail = getattr(self.dev, k)
            out[f"{k}_pct"] = np.array([round(100.0 * float(x) / avail, 3) for x in tot]) if avail else np.full(P, np.inf)
        return out

    def cost(self, samples: Sequence[Mapping[str, Any] | Any]) -> dict[str, np.ndarray]:
        """fpga totals of every candidate (arrays of length P, keys :data:`FPGA_TOTALS`)."""
        return self.cost_ids(self.encode(samples))


def verify_fpga(
    space: SearchSpace,
    samples: Sequence[Mapping[str, Any]],
    overrides: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
    pop: FpgaPopulation | None = None,
) -> int:
    """Compare :class:`FpgaPopulation` with ``Objective('fpga').cost`` (the scalar graph path)
    on every sample; every total must be equal (exactly). Returns the number compared; raises
    AssertionError naming the first difference."""
    from hwsim.search.objective import Objective

    pop = pop or FpgaPopulation(space, overrides, config)
    vec = pop.cost(samples)
    obj = Objective("fpga", config=config, overrides=dict(overrides or {}))
    for i, s in enumerate(samples):
        r = obj.cost(space.to_graph(s))
        for k in FPGA_TOTALS:
            a, b = float(vec[k][i]), float(r[k])
            if a != b and not (math.isnan(a) and math.isnan(b)):
                raise AssertionError(f"sample {i} ({s}): vectorised {k} {a!r} != scalar {b!r}")
    return len(samples)
