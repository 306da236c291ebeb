"""The aimc backend: a mixed-precision analog in-memory computing chip (PCM crossbar tiles with
a local digital unit each, plus one digital processing unit) as a tile pipeline.

Cost model (Kösters et al. 2022, Sec. III B, generalised; every constant is a :class:`Param`)
-------------------------------------------------------------------------------------------
* **Mapping.** A dense layer (``n_in`` x ``n_out``) is split into ``ceil(n_in/R) x
  ceil(n_out/C)`` blocks of an ``R x C`` tile, one tile each, partial sums added digitally
  (aihwkit's convention). The bias is digital, in the tile's LDPU, so it takes no crossbar row.
  A convolution is im2col: ``C_in/groups * prod(kernel)`` rows by ``C_out/groups`` columns per
  group, one MVM per output pixel; small groups (depthwise) sit block-diagonally on a tile.
  A dense layer applied to ``rows`` vectors (Deep Sets: 8 particles) costs ``rows`` MVMs.
* **Units.** MVMs run on tiles; affine scaling, bias and the activations in ``ldpu_functions``
  (ReLU, fused by the ``fuse_activations`` pass) run on the tile's LDPU inside the tile's
  pipeline stage; everything else that computes (cosh/exp/log LUTs, ELU, softmax, distances,
  reductions, pooling, normalisation, element-wise ops with constants) runs on the DPU;
  reshapes/concats are data routing (no compute, communication is inside the unit powers).
  Activation x activation matmuls (attention) are unsupported: their "weights" change per
  inference, and PCM cannot be re-programmed per inference (program-and-verify takes ms).
* **Pipeline.** Each tile layer is a stage of ``ceil(MVMs / copies) x stage_time_s``; a layer
  spanning more than one row block gets one more stage (``psum_stage_s``) for the digital
  partial-sum reduction (latency only). Consecutive DPU ops form one DPU stage, chained
  through the DPU's LUT -> multiplier -> adder-tree pipeline, lasting
  ``ceil(elements x passes / dpu_lanes) x stage_time_s`` for its largest op (passes = 2 for
  softmax, which needs the sum before the division); all DPU stages share the one DPU.
  Throughput = 1 / (busiest unit's time per inference); latency = sum of the stages.
* **Energy.** Each unit draws its full power while busy (the paper's assumption: every
  component at full power for each 50 ns stage): tile = ``p_crossbar_w + p_ldpu_w + p_comm_w``
  per MVM-stage (crossbar only for ``mvm_latency_s`` with ``crossbar_duty_cycle``), DPU =
  ``p_dpu_w`` for its busy time. ``power_w`` = energy per inference x throughput (the
  average power at full throughput, as the paper states it). For the seed design this
  gives 0.64 W / 32.0 nJ (RBM, one tile) and 2.02 W / 101.0 nJ (SVDD, four tiles): the paper
  states 0.63 W / 2.03 W, which no consistent rounding of its component figures reproduces
  (see ``reports/aimc/seed_reproduction.md``); both are within 0.01 W / 0.5 nJ.
* **Overflow.** More tiles than the chip has: ``strict_fit`` (or ``--strict``) raises
  :class:`BackendError`. Otherwise ``overflow=chips`` (default) chains enough chips, weights
  resident (PCM is non-volatile; re-programming in the inference loop is neither fast nor
  within PCM endurance), adding ``chip_hop_s`` of latency per chip boundary;
  ``overflow=reprogram`` runs sequential passes over a batch of ``reprogram_batch``
  inferences, re-programming the chip between passes (``reprogram_time_s``,
  ``reprogram_energy_j`` per tile, both order-of-magnitude assumptions).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hwsim.backends.aimc.chip import DEFAULT_CHIP, load_chip
from hwsim.backends.base import SUPPORTED, BackendBase, Estimate, OpCost, Param, Params, Support
from hwsim.errors import BackendError, ConfigError
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
    Op,
    OpGraph,
)
from hwsim.ops import ACTIVATION_FUNCTIONS

log = logging.getLogger(__name__)

TILE, DPU, ROUTE = "tile", "dpu", "routing"

#: reductions the DPU adder tree / comparator tree evaluates
_REDUCE_FUNCS = frozenset({"mean", "max", "min", "sum", "l2", "sum_square", "prod"})
_ELEMENTWISE_FUNCS = frozenset({"add", "sub", "mul", "div", "pow", "max", "min"})
#: DPU passes over the data: a normalisation needs a reduction first, then a second sweep
_TWO_PASS = frozenset({"softmax", "log_softmax"})

_OVERFLOW = ("chips", "reprogram")

# Parameters that are not part of a chip description (the mapper's and the cost model's own)
_MODEL_PARAMS: dict[str, Param] = {
    "crossbar_duty_cycle": Param(
        False,
        "Kösters 2022 charge the crossbar for the whole 50 ns stage (their totals fit this better, reference/aimc.md); true charges it only for mvm_latency_s",
        doc="charge the crossbar only while the MVM runs (mvm_latency_s) instead of the full stage",
    ),
    "ldpu_functions": Param(
        ["relu"],
        "Kösters 2022 Sec. III B: the LDPU does affine scaling, bias and optionally ReLU",
        doc="activations the tile's LDPU applies (fused into the MVM stage)",
    ),
    "psum_stage_s": Param(
        5e-8,
        "assumption: adding row-block partial sums in digital takes one extra pipeline stage (Kösters 2022 stage time, 50 ns)",
        "s",
        "latency of the digital partial-sum reduction of a layer spanning >1 row block",
    ),
    "pack": Param(
        False,
        "assumption (aihwkit never packs; reference/aimc.md): off by default",
        doc="pack single-tile layers block-diagonally into shared tiles",
    ),
    "replicate": Param(
        1,
        "assumption: no weight replication by default (aihwkit maps each layer once)",
        doc="copies of each multi-MVM layer (conv, Deep Sets); 0 = auto (balance the pipeline with the chip's spare tiles)",
    ),
    "strict_fit": Param(
        False,
        "hwsim default: time-multiplex instead of failing (--strict sets it)",
        doc="raise an error when the network needs more tiles than the chip has",
    ),
    "overflow": Param(
        "chips",
        "assumption: PCM weights stay resident (non-volatile; programming is ms-slow and wears the cells), so extra tiles mean extra chips",
        doc="chips | reprogram: what happens when the network needs more tiles than the chip has",
    ),
    "idle_power_fraction": Param(
        0.0,
        "assumption: a used unit waiting for an unbalanced pipeline is clock/power-gated; Kösters 2022 give full-load powers only",
        "fraction",
        "power drawn by a used tile/DPU while idle, as a fraction of its full-load power",
    ),
    "chip_hop_s": Param(
        5e-8,
        "assumption: a chip-to-chip link adds one 50 ns stage of latency per boundary, pipelined (no throughput cost)",
        "s",
        "latency per chip boundary (overflow=chips)",
    ),
    "reprogram_time_s": Param(
        5e-3,
        "assumption (order of magnitude): 512 rows programmed row by row, ~10 program-and-verify iterations of ~1 us each; all tiles of a pass in parallel",
        "s",
        "time to re-program the tiles of one pass (overflow=reprogram)",
    ),
    "reprogram_energy_j": Param(
        2.6e-5,
        "assumption (order of magnitude): 512x512 PCM cells x ~10 pulses x ~10 pJ per pulse",
        "J per tile",
        "energy to re-program one tile (overflow=reprogram)",
    ),
    "reprogram_batch": Param(
        1000000,
        "Kösters 2022 Sec. IV: batch of 1e6 events in the particle-physics benchmark",
        "inferences",
        "inferences streamed per programming pass (overflow=reprogram)",
    ),
    "out_noise": Param(
        0.04,
        "reference/aimc.md (aihwkit PCM preset): additive output noise ~0.04 of the output bound",
        doc="--noise: aihwkit forward.out_noise",
    ),
    "g_max": Param(
        25.0, "aihwkit PCMLikeNoiseModel default g_max = 25 uS (Joshi 2020)", "uS", "--noise: PCM maximal conductance"
    ),
}


def _chip_params(chip: str) -> Params:
    data = load_chip(chip)
    cid = str(data.get("id", chip))
    d: dict[str, Param] = {
        "chip": Param(
            chip,
            f"chip description {data['path']} ({data.get('name', cid)})",
            doc="chip id (kosters2022, hermes) or path to a chip JSON",
        )
    }
    for key, entry in data["params"].items():
        d[key] = Param(entry["value"], f"{entry['source']} [chip {cid}]", str(entry.get("unit", "")))
    # keep integer-valued parameters integers and floats floats, whatever the JSON spelt
    for key in ("tile_rows", "tile_cols", "tiles", "dac_bits", "adc_bits", "dpu_lanes"):
        p = d[key]
        d[key] = Param(int(p.value), p.source, p.unit)
    for key in ("mvm_latency_s", "stage_time_s", "p_crossbar_w", "p_ldpu_w", "p_dpu_w", "p_comm_w"):
        p = d[key]
        d[key] = Param(float(p.value), p.source, p.unit)
    d.update(_MODEL_PARAMS)
    return Params(d)


# ---------------------------------------------------------------------------------------------
# per-op mapping
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TileMap:
    """How one dense/conv op maps onto crossbar tiles (one copy of its weights)."""

    row_blocks: int
    col_blocks: int
    tiles: int  # tiles for one copy
    mvms: int  # MVMs per inference
    weights: int  # weights mapped (cells used, one per weight)
    used_rows: int  # rows occupied when the op fits one tile (for packing), else R
    used_cols: int
    groups_per_tile: int = 1


def tile_map(op: Op, rows: int, cols: int) -> TileMap:
    """Map a dense or conv op onto ``rows x cols`` tiles (see the module docstring)."""
    a = op.attrs
    if op.kind == DENSE:
        n_in, n_out = int(a["n_in"]), int(a["n_out"])
        rb, cb = math.ceil(n_in / rows), math.ceil(n_out / cols)
        fits = rb == 1 and cb == 1
        return TileMap(rb, cb, rb * cb, op.rows, n_in * n_out, n_in if fits else rows, n_out if fits else cols)
    if op.kind == CONV:
        g = int(a["groups"])
        k = int(math.prod(int(x) for x in a["kernel"]))
        r_g = int(a["in_channels"]) // g * k
        c_g = int(a["out_channels"]) // g
        out_pixels = int(math.prod(op.output_shape[1:])) if len(op.output_shape) > 1 else 1
        rb, cb = math.ceil(r_g / rows), math.ceil(c_g / cols)
        if rb == 1 and cb == 1:
            per_tile = max(1, min(rows // r_g, cols // c_g))
            tiles = math.ceil(g / per_tile)
            n_on_one = min(g, per_tile)
            return TileMap(
                1,
                1,
                tiles,
                out_pixels,
                g * r_g * c_g,
                n_on_one * r_g if tiles == 1 else rows,
                n_on_one * c_g if tiles == 1 else cols,
                per_tile,
            )
        return TileMap(rb, cb, g * rb * cb, out_pixels, g * r_g * c_g, rows, cols)
    raise ValueError(f"{op.name}: {op.kind} ops are not mapped to tiles")


def dpu_work(op: Op) -> tuple[int, int]:
    """(elements, passes) an op costs on the DPU: elements read (reductions, pooling,
    normalisation) or written (element-wise), and sweeps over them."""
    if op.kind in (REDUCE, POOL, GLOBAL_POOL):
        return sum(t.size for t in op.inputs[:1]), 1
    if op.kind == LAYERNORM:
        return op.inputs[0].size, 2
    if op.kind == ACTIVATION and op.function in _TWO_PASS:
        return op.outputs[0].size, 2
    return (op.outputs[0].size if op.outputs else 0), 1


# ---------------------------------------------------------------------------------------------
# the backend
# ---------------------------------------------------------------------------------------------


@dataclass
class _Layer:
    """Mutable mapping state of one tile layer during aggregation."""

    name: str
    tm: TileMap
    copies: int = 1
    tile_ids: list[int] = field(default_factory=list)
    packed: bool = False

    @property
    def tiles(self) -> int:
        return self.tm.tiles * self.copies

    @property
    def mvm_rounds(self) -> int:
        return math.ceil(self.tm.mvms / self.copies)


class AimcBackend(BackendBase):
    """Mixed-precision analog in-memory computing (PCM tiles + LDPUs + a DPU) as a tile
    pipeline; see the module docstring for the model and its sources."""

    name: ClassVar[str] = "aimc"
    description: ClassVar[str] = "analog in-memory computing: PCM crossbar tiles + LDPU + DPU pipeline (Kösters et al. 2022)"
    claims: ClassVar[frozenset[str]] = frozenset(
        {DENSE, CONV, ACTIVATION, BATCHNORM, LAYERNORM, POOL, GLOBAL_POOL, REDUCE, ELEMENTWISE, RESHAPE, CONCAT}
    )
    totals_keys: ClassVar[tuple[str, ...]] = (
        "tiles",
        "latency_s",
        "throughput_per_s",
        "power_w",
        "energy_per_inference_j",
        "utilization",
        "stages",
    )
    passes: ClassVar[tuple[str, ...]] = ("drop_identities", "fold_batchnorm", "fuse_activations")

    # parameters ----------------------------------------------------------------------------
    def default_params(self) -> Params:
        return _chip_params(DEFAULT_CHIP)

    def resolve_params(
        self, config: Mapping[str, Any] | None, overrides: Mapping[str, str], profile: Mapping[str, Any] | None = None
    ) -> Params:
        """defaults (the chip named by ``chip``, default kosters2022) <- profile <- config <-
        ``--set``: a ``chip`` option swaps the whole chip description, other options override
        single values on top of it."""
        config = dict(config or {})
        overrides = dict(overrides or {})
        chip = overrides.get("chip", config.get("chip"))
        params = super().resolve_params(config, overrides, profile)
        if chip is not None and str(chip) != DEFAULT_CHIP:
            base = _chip_params(str(chip))
            user = {k: p for k, p in params.items() if p.source.startswith(("user", "fit")) and k != "chip"}
            params = base.updated(user).updated({"chip": Param(str(chip), f"user; {base['chip'].source}", doc=base["chip"].doc)})
        self._validate(params)
        return params

    @staticmethod
    def _validate(params: Params) -> None:
        for key in ("tile_rows", "tile_cols", "tiles", "dac_bits", "adc_bits", "dpu_lanes", "reprogram_batch"):
            if int(params.value(key)) < 1:
                raise ConfigError(f"option {key!r}: must be a positive integer, got {params.value(key)!r}")
        for key in ("mvm_latency_s", "stage_time_s"):
            if float(params.value(key)) <= 0:
                raise ConfigError(f"option {key!r}: must be positive, got {params.value(key)!r}")
        for key in (
            "p_crossbar_w",
            "p_ldpu_w",
            "p_dpu_w",
            "p_comm_w",
            "psum_stage_s",
            "chip_hop_s",
            "reprogram_time_s",
            "reprogram_energy_j",
        ):
            if float(params.value(key)) < 0:
                raise ConfigError(f"option {key!r}: must be non-negative, got {params.value(key)!r}")
        if float(params.value("mvm_latency_s")) > float(params.value("stage_time_s")):
            raise ConfigError("option 'mvm_latency_s' exceeds 'stage_time_s': the MVM must fit its pipeline stage")
        if int(params.value("replicate")) < 0:
            raise ConfigError(f"option 'replicate': expected 0 (auto) or a positive integer, got {params.value('replicate')!r}")
        if str(params.value("overflow")) not in _OVERFLOW:
            raise ConfigError(f"option 'overflow': expected one of {', '.join(_OVERFLOW)}, got {params.value('overflow')!r}")
        bad = [f for f in params.value("ldpu_functions") if f not in ACTIVATION_FUNCTIONS]
        if bad:
            raise ConfigError(f"option 'ldpu_functions': unknown activation(s) {', '.join(bad)}")

    # passes ---------------------------------------------------------------------------------
    def prepare(self, graph: OpGraph, params: Params) -> OpGraph:
        """drop_identities, fold_batchnorm, then fuse the LDPU's activations into the MVM."""
        from hwsim.passes import drop_identities, fold_batchnorm, fuse_activations

        g = fold_batchnorm(drop_identities(graph).graph).graph
        return fuse_activations(g, tuple(params.value("ldpu_functions", ["relu"]))).graph

    # support ---------------------------------------------------------------------------------
    def supports(self, op: Op) -> Support:
        if op.kind == MATMUL:
            return Support(
                False,
                "activation x activation matmul: the operands change every inference and PCM crossbars cannot be re-programmed per inference (program-and-verify takes ~ms); run it on a digital unit",
            )
        if op.kind == OPAQUE:
            return Support(False, f"unknown operator {op.attrs.get('op_type', '?')}: the frontend could not read it")
        if op.kind == ACTIVATION and op.function not in ACTIVATION_FUNCTIONS:
            return Support(False, f"activation {op.function!r} has no DPU look-up table")
        if op.kind == REDUCE and op.function not in _REDUCE_FUNCS:
            return Support(False, f"reduction {op.function!r} is not an adder/comparator-tree operation")
        if op.kind == ELEMENTWISE and op.function not in _ELEMENTWISE_FUNCS:
            return Support(False, f"element-wise {op.function!r} is not a DPU operation")
        if op.kind in self.claims:
            return SUPPORTED
        return Support(False, f"the aimc backend does not cost {op.kind} ops")

    # one op ------------------------------------------------------------------------------------
    def estimate(self, op: Op, params: Params) -> OpCost:
        """The op's unit and intrinsic work for one copy of its weights; aggregate() decides
        packing, replication, overflow and converts to time, energy and power."""
        stage = float(params.value("stage_time_s"))
        if op.kind in (DENSE, CONV):
            R, C = int(params.value("tile_rows")), int(params.value("tile_cols"))
            tm = tile_map(op, R, C)
            act = str(op.attrs.get("activation", ""))
            ldpu = (
                ["scale"]
                + (["bias"] if op.attrs.get("bias", False) else [])
                + ([act] if act and act in params.value("ldpu_functions") else [])
            )
            info: dict[str, Any] = {
                "unit": TILE,
                "blocks": f"{tm.row_blocks}x{tm.col_blocks}"
                + (f" x{int(op.attrs['groups'])}g" if op.kind == CONV and int(op.attrs["groups"]) > 1 else ""),
                "ldpu": "+".join(ldpu),
            }
            values = {
                "tiles": float(tm.tiles),
                "mvms": float(tm.mvms),
                "weights": float(tm.weights),
                "utilization": tm.weights / (tm.tiles * R * C),
                "busy_s": tm.mvms * stage,
            }
            warns: tuple[str, ...] = ()
            if act and act not in params.value("ldpu_functions"):
                info["dpu_after"] = act
                warns = (f"{op.name}: fused activation {act} is not an LDPU function: costed on the DPU",)
            return OpCost(op.name, op.kind, values, info, warns)
        if op.kind in (RESHAPE, CONCAT):
            return OpCost(op.name, op.kind, {"busy_s": 0.0}, {"unit": ROUTE})
        elements, passes = dpu_work(op)
        lanes = int(params.value("dpu_lanes"))
        t = math.ceil(elements * passes / lanes) * stage if elements else 0.0
        fn = op.function or op.kind
        return OpCost(
            op.name,
            op.kind + (f":{op.function}" if op.function else ""),
            {"elements": float(elements), "busy_s": t},
            {"unit": DPU, "dpu": fn},
        )

    # the graph -------------------------------------------------------------------------------
    def aggregate(self, graph: OpGraph, costs: Sequence[OpCost], params: Params) -> Estimate:
        P = {k: p.value for k, p in params.items()}
        R, C, T = int(P["tile_rows"]), int(P["tile_cols"]), int(P["tiles"])
        stage, t_mvm = float(P["stage_time_s"]), float(P["mvm_latency_s"])
        lanes = int(P["dpu_lanes"])
        by_name = {c.name: c for c in costs}
        warnings: list[str] = [w for c in costs for w in c.warnings]

        # 1. tile layers and DPU stages in topological order ---------------------------------
        layers: dict[str, _Layer] = {}
        sequence: list[tuple[str, Any]] = []  # ("tile", name) | ("dpu", [names])
        dpu_run: list[str] = []
        for op in graph.ops():
            c = by_name.get(op.name)
            if c is None:
                continue
            unit = c.info.get("unit")
            if unit == TILE:
                if dpu_run:
                    sequence.append((DPU, dpu_run))
                    dpu_run = []
                layers[op.name] = _Layer(op.name, tile_map(op, R, C))
                sequence.append((TILE, op.name))
                if c.info.get("dpu_after"):
                    dpu_run.append(op.name + "#act")
            elif unit == DPU:
                dpu_run.append(op.name)
        if dpu_run:
            sequence.append((DPU, dpu_run))

        def dpu_time(name: str) -> float:
            if name.endswith("#act"):
                op = graph[name[:-4]]
                return math.ceil(op.outputs[0].size / lanes) * stage
            return float(by_name[name].values["busy_s"])

        dpu_stage_times = [max((dpu_time(n) for n in names), default=0.0) for kind, names in sequence if kind == DPU]
        dpu_busy = sum(dpu_stage_times)
        dpu_stage_of = {n: (k, names) for k, names in enumerate(names for kind, names in sequence if kind == DPU) for n in names}

        # 2. replication ---------------------------------------------------------------------
        rep = int(P["replicate"])
        if rep > 1:
            for L in layers.values():
                L.copies = max(1, min(rep, L.tm.mvms))
        elif rep == 0 and layers:
            used = sum(L.tiles for L in layers.values())
            for _ in range(10000):
                slow = max(layers.values(), key=lambda L: L.mvm_rounds)
                if slow.mvm_rounds * stage <= dpu_busy or slow.copies >= slow.tm.mvms or used + slow.tm.tiles > T:
                    break
                # jump to the next copy count that shortens the stage
                target = math.ceil(slow.tm.mvms / (slow.mvm_rounds - 1)) if slow.mvm_rounds > 1 else slow.copies + 1
                extra = (target - slow.copies) * slow.tm.tiles
                if used + extra > T:
                    break
                slow.copies = target
                used += extra

        # 3. tile assignment (optional block-diagonal packing) ---------------------------------
        tile_busy: list[int] = []  # per physical tile: MVM rounds per inference
        tile_members: list[list[str]] = []
        pack = bool(P["pack"])
        shared: list[tuple[int, list[int]]] = []  # packed tiles: (tile id, [row offset, col offset])
        for L in layers.values():
            if pack and L.tiles == 1 and L.copies == 1:
                tm = L.tm
                slot = next(
                    ((tid, off) for tid, off in shared if off[0] + tm.used_rows <= R and off[1] + tm.used_cols <= C), None
                )
                if slot is None:
                    slot = (len(tile_members), [0, 0])
                    shared.append(slot)
                    tile_members.append([])
                    tile_busy.append(0)
                tid, off = slot
                off[0] += tm.used_rows
                off[1] += tm.used_cols
                L.packed = True
                L.tile_ids = [tid]
                tile_members[tid].append(L.name)
                tile_busy[tid] = max(tile_busy[tid], L.mvm_rounds)
                continue
            for _ in range(L.tiles):
                L.tile_ids.append(len(tile_members))
                tile_members.append([L.name])
                tile_busy.append(L.mvm_rounds)
        n_tiles = len(tile_members)
        packed_tiles = sum(1 for m in tile_members if len(m) > 1)
        if pack and packed_tiles:
            warnings.append(
                f"packing: {sum(len(m) for m in tile_members if len(m) > 1)} layers share {packed_tiles} tile(s) block-diagonally (one MVM serves each for a different in-flight inference)"
            )

        # 4. fit / overflow ------------------------------------------------------------------------
        overflow = str(P["overflow"])
        n_chips, passes = 1, 1
        if n_tiles > T:
            detail = ", ".join(
                f"{L.name}: {L.tm.row_blocks}x{L.tm.col_blocks} blocks" + (f" x{L.copies} copies" if L.copies > 1 else "")
                for L in layers.values()
                if L.tiles > 1 or n_tiles <= 12
            )
            why = f"the network needs {n_tiles} tiles of {R}x{C} but the chip has {T} ({detail})"
            if bool(P["strict_fit"]):
                raise BackendError(
                    f"{graph.name}: {why}; allow time-multiplexing (drop --strict / strict_fit), set tiles={n_tiles}, pack=true, or a chip with larger tiles"
                )
            if overflow == "chips":
                n_chips = math.ceil(n_tiles / T)
                warnings.append(
                    f"{why}: mapped onto {n_chips} chained chips, weights resident (overflow=chips; latency +{n_chips - 1} x chip_hop_s)"
                )
            else:
                warnings.append(
                    f"{why}: sequential passes with re-programming between them (overflow=reprogram; PCM endurance limits how often this can be done)"
                )

        # 5. stages, time ----------------------------------------------------------------------------
        tile_rows: dict[str, dict[str, Any]] = {}
        latency = 0.0
        n_stages = 0
        max_tile_busy_s = max(tile_busy, default=0) * stage
        for kind, item in sequence:
            if kind == TILE:
                L = layers[item]
                # a packed layer's own MVMs ride on the shared tile's rounds: its stage takes
                # its own rounds (the tile as a whole is busy for the largest member's rounds)
                busy_s = L.mvm_rounds * stage
                psum = float(P["psum_stage_s"]) if L.tm.row_blocks > 1 else 0.0
                latency += busy_s + psum
                n_stages += 1 + (1 if psum else 0)
                tile_rows[item] = {"busy_s": busy_s, "stage_latency_s": busy_s + psum}
            else:
                t = max(dpu_time(n) for n in item)
                latency += t
                n_stages += 1
        latency += (n_chips - 1) * float(P["chip_hop_s"])
        slowest = max(max_tile_busy_s, dpu_busy)
        throughput = 1.0 / slowest if slowest > 0 else math.inf

        # 6. energy per inference -----------------------------------------------------------------
        p_tile_dig = float(P["p_ldpu_w"]) + float(P["p_comm_w"])
        p_x = float(P["p_crossbar_w"])
        t_x = t_mvm if bool(P["crossbar_duty_cycle"]) else stage
        layer_energy: dict[str, float] = {}
        for tid, members in enumerate(tile_members):
            rounds: float = tile_busy[tid]
            if len(members) == 1:
                L = layers[members[0]]
                # a replicated layer's copies share its MVMs: count the MVMs, not the rounds
                rounds = L.tm.mvms / L.copies
            e = rounds * (stage * p_tile_dig + t_x * p_x)
            for m in members:
                layer_energy[m] = layer_energy.get(m, 0.0) + e / len(members)
        e_dpu = float(P["p_dpu_w"]) * dpu_busy
        energy = sum(layer_energy.values()) + e_dpu

        # idle units of an unbalanced pipeline (a tile waiting for a slower conv stage)
        idle_frac = float(P["idle_power_fraction"])
        e_idle = 0.0
        if idle_frac > 0 and math.isfinite(throughput):
            cycle = 1.0 / throughput
            p_tile = p_tile_dig + p_x
            for tid, members in enumerate(tile_members):
                e = idle_frac * p_tile * max(0.0, cycle - tile_busy[tid] * stage)
                e_idle += e
                for m in members:
                    layer_energy[m] += e / len(members)
            if dpu_busy > 0:
                e_idle += idle_frac * float(P["p_dpu_w"]) * max(0.0, cycle - dpu_busy)
            energy += e_idle
        totals_extra: dict[str, Any] = {"energy_idle_j": e_idle} if idle_frac > 0 else {}
        if n_tiles > T and overflow == "reprogram":
            B = int(P["reprogram_batch"])
            # greedy passes in pipeline order; a layer larger than the chip gets passes of its own
            group_of: dict[str, int] = {}
            g_tiles: list[int] = [0]
            for L in layers.values():
                need = len(set(L.tile_ids))
                if need > T:
                    first = len(g_tiles) if g_tiles[-1] else len(g_tiles) - 1
                    k = math.ceil(need / T)
                    g_tiles[first:] = [T] * (k - 1) + [need - T * (k - 1)]
                    group_of[L.name] = first  # its sub-passes are first..first+k-1
                    g_tiles.append(0)
                    continue
                if g_tiles[-1] + need > T:
                    g_tiles.append(0)
                g_tiles[-1] += need
                group_of[L.name] = len(g_tiles) - 1
            if not g_tiles[-1]:
                g_tiles.pop()
            passes = len(g_tiles)
            busy_g = [0.0] * passes
            lat_g = [0.0] * passes
            cur = 0
            for kind, item in sequence:
                if kind == TILE:
                    L = layers[item]
                    cur = group_of[item]
                    k = max(1, math.ceil(len(set(L.tile_ids)) / T))
                    for j in range(cur, cur + k):
                        busy_g[j] = max(busy_g[j], tile_rows[item]["busy_s"])
                        lat_g[j] += tile_rows[item]["stage_latency_s"]
                else:
                    t = max(dpu_time(n) for n in item)
                    busy_g[cur] = max(busy_g[cur], t)
                    lat_g[cur] += t
            t_prog, e_prog = float(P["reprogram_time_s"]), float(P["reprogram_energy_j"])
            makespan = sum(t_prog + (B - 1) * busy_g[j] + lat_g[j] for j in range(passes))
            throughput = B / makespan
            latency = makespan
            energy += sum(g_tiles) * e_prog / B
            totals_extra = {"passes": passes, "reprogram_batch": B}
            warnings.append(
                f"overflow=reprogram: {passes} passes per batch of {B} (re-programming {t_prog:g} s per pass); latency_s is the batch makespan"
            )
        power = energy * throughput if math.isfinite(throughput) else 0.0

        # 7. rows ------------------------------------------------------------------------------------
        rows: list[dict[str, Any]] = []
        for c in costs:
            row = c.row()
            if c.info.get("unit") == TILE:
                L = layers[c.name]
                e = layer_energy[c.name] + (dpu_time(c.name + "#act") * float(P["p_dpu_w"]) if c.info.get("dpu_after") else 0.0)
                row.update(
                    {
                        "tiles": len(set(L.tile_ids)),
                        "copies": L.copies,
                        "tile_ids": ",".join(map(str, sorted(set(L.tile_ids))))
                        if len(set(L.tile_ids)) <= 8
                        else f"{min(L.tile_ids)}..{max(L.tile_ids)}",
                        "packed": L.packed and len(tile_members[L.tile_ids[0]]) > 1,
                        "busy_s": tile_rows[c.name]["busy_s"],
                        "latency_s": tile_rows[c.name]["stage_latency_s"],
                        "energy_j": e,
                        "power_w": e * throughput if math.isfinite(throughput) else 0.0,
                    }
                )
            elif c.info.get("unit") == DPU:
                # the ops of one DPU stage are chained in the DPU pipeline: share its energy
                k, names = dpu_stage_of[c.name]
                e = dpu_stage_times[k] * float(P["p_dpu_w"]) / len(names)
                row.update(
                    {
                        "dpu_stage": k,
                        "latency_s": c.values["busy_s"],
                        "energy_j": e,
                        "power_w": e * throughput if math.isfinite(throughput) else 0.0,
                    }
                )
            else:
                row.update({"latency_s": 0.0, "energy_j": 0.0, "power_w": 0.0})
            rows.append(row)
        weights_mapped = sum(L.tm.weights * L.copies for L in layers.values())
        utilization = weights_mapped / (n_tiles * R * C) if n_tiles else 0.0
        totals: dict[str, Any] = {
            "tiles": n_tiles,
            "latency_s": latency,
            "throughput_per_s": throughput,
            "power_w": power,
            "energy_per_inference_j": energy,
            "utilization": utilization,
            "stages": n_stages,
            "chip_tiles": T,
            "chips": n_chips,
            "dpu_busy_s": dpu_busy,
            "energy_dpu_j": e_dpu,
        }
        totals.update(totals_extra)
        if not layers:
            warnings.append("no dense/conv layer: nothing runs on the analog tiles")
        return Estimate(
            backend=self.name,
            model=graph.name,
            totals=totals,
            layers=tuple(rows),
            params=params,
            warnings=tuple(warnings),
            fingerprint=graph.fingerprint(),
        )
