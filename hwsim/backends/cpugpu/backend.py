"""The cpu and gpu backends: an analytical kernel-sequence model (cpu-gpu.md).

Per op::

    t_op = overhead(runtime, device)
         + max( flops / (eff(op class) * shape(M, N, K) * peak(precision) * p),   # compute
                sum_f n_elem_f * t_elem(f) / p,                                 # element functions
                bytes / bw(level) )                                             # memory

* CPU: kernels run one after another, ``T = t_call + sum t_op``; ``p`` is the number of
  threads an op uses (``min(threads, work / grain)``); the memory level is chosen by the
  op's working set against the caches of the cores in use; ``shape`` is Hockney's
  half-performance form ``M/(M+m_half) * N/(N+n_half) * K/(K+k_half)`` (skinny GEMMs slow).
* GPU: asynchronous launches, ``T = t_call + t_h2d + max(sum issue, issue_0 + sum
  max(t_kernel, t_min)) + t_d2h + t_host_ops``; the compute term uses wave quantisation of
  ``tile x tile`` output blocks over the SMs; ``host_tail=true`` runs the weightless ops after
  the last linear op on the host in numpy (the seed's SVDD distance) after a device-to-host
  copy of their input.
* Energy: ``E = P_static * T + e_flop * (flops + element work) + e_byte * DRAM bytes``
  (+ one busy host core for GPU runs; ``energy_scope=node`` adds the idle power of the host
  sockets and the node baseline, as the seed's node-level DC measurement does). ``e_flop``
  = (TDP − static) / peak: a device at its peak draws its TDP.

Every constant is a :class:`~hwsim.backends.base.Param` with its source; device figures
come from ``devices.json``, kernel-library constants from its ``runtimes`` section or from a
fitted profile (``calibration/profiles/cpu/``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hwsim.backends.base import BackendBase, Estimate, OpCost, Param, Params, coerce_like
from hwsim.backends.cpugpu import devices as dev
from hwsim.backends.cpugpu.work import ELEM_CLASSES, Work, op_work
from hwsim.errors import ConfigError
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
)

NAN = float("nan")
CLAIMS = frozenset(
    {DENSE, CONV, MATMUL, BATCHNORM, ACTIVATION, POOL, GLOBAL_POOL, REDUCE, ELEMENTWISE, RESHAPE, CONCAT, LAYERNORM}
)
RUNTIMES = ("onnxruntime", "torch")
SCOPES = ("device", "node")

#: flop-equivalents per element of each function class (for the dynamic energy term);
#: the same instruction counts as the GPU element model (devices.json runtimes.gpu elem_ops)
ELEM_FLOP_EQ = {
    "simple": 1,
    "div": 2,
    "sqrt": 2,
    "img": 0,
    "norm_t": 3,
    "pool": 1,
    "norm": 3,
    "row": 10,
    "mat": 0,
    "exp": 4,
    "log": 4,
    "cosh": 10,
    "tanh": 8,
    "sigmoid": 6,
    "erf": 12,
    "softmax": 8,
    "pow": 10,
}

#: passes per runtime: onnxruntime's graph optimiser folds BatchNorm into Conv/Gemm and
#: fuses Conv/Gemm+Relu (ORT transformers ConvBNFusion, ConvActivationFusion,
#: GemmActivationFusion); eager PyTorch runs every module as written.
RUNTIME_PASSES = {
    "onnxruntime": ("drop_identities", "fold_batchnorm", "fuse_activations"),
    "torch": ("drop_identities",),
    "numpy": ("drop_identities",),
}


def _p(value: Any, source: str, unit: str = "", doc: str = "") -> Param:
    return Param(value, source, unit, doc)


def _common_params(kind: str, default_device: str) -> dict[str, Param]:
    names = dev.cpu_names() if kind == "cpu" else dev.gpu_names()
    d = {
        "device": _p(default_device, "default", "", f"device from the catalog: {', '.join(names)}"),
        "batch": _p(1, "default", "inferences", "batch size of one call"),
        "precision": _p("fp32", "default", "", "arithmetic precision: fp32, fp16, bf16, int8, fp64"),
        "runtime": _p("onnxruntime", "default", "", "kernel library: onnxruntime or torch (overheads and efficiencies differ)"),
        "host_tail": _p(
            False,
            "default",
            "",
            "run the weightless ops after the last linear op on the host in numpy (the seed's SVDD distance)",
        ),
        "energy_scope": _p(
            "device",
            "default",
            "",
            "device: the processor's power; node: plus host sockets' idle and the node baseline (seed: node DC energy)",
        ),
    }
    if kind == "gpu":
        d["inputs_on_device"] = _p(
            False, "default", "", "inputs already in device memory (a loop over a device tensor): no host-to-device copy per call"
        )
    return d


def _batch_totals(T: float, E: float, batch: int, costs: Sequence[OpCost], shares: Mapping[str, float]) -> dict[str, Any]:
    """The totals cpu and gpu share: one batch takes ``T`` seconds and ``E`` joules; the
    bound is the category with the largest share of the time."""
    return {
        "latency_s": T,
        "throughput_per_s": batch / T,
        "energy_per_inference_j": E / batch,
        "energy_per_batch_j": E,
        "power_w": E / T,
        "flops": sum(float(x.values["flops"]) for x in costs),
        "bound": sorted(shares.items(), key=lambda kv: kv[1])[-1][0],
    }


class _CpuGpuBase(BackendBase):
    kind: ClassVar[str] = ""
    default_device: ClassVar[str] = ""
    claims = CLAIMS
    totals_keys: ClassVar[tuple[str, ...]] = (
        "latency_s",
        "throughput_per_s",
        "energy_per_inference_j",
        "energy_per_batch_j",
        "power_w",
        "flops",
        "bound",
    )

    # ---- parameters ----------------------------------------------------------------------
    def _catalog_params(self) -> dict[str, Param]:
        raise NotImplementedError

    def default_params(self) -> Params:
        d = _common_params(self.kind, self.default_device)
        d.update(self._catalog_params())
        return Params(d)

    def resolve_params(
        self, config: Mapping[str, Any] | None, overrides: Mapping[str, str], profile: Mapping[str, Any] | None = None
    ) -> Params:
        """defaults <- profile <- config <- --set, then validate the options and fill every
        constant still unset (NaN) from the device catalog / runtime table with its source.

        A profile that names the device/runtime it was fitted for (``applies_to``) selects
        them unless the user set them; a conflicting explicit choice is a ConfigError."""
        params = super().resolve_params(config, overrides, profile)
        changes: dict[str, Param] = {}
        if profile:
            applies = dict(profile.get("applies_to", {}) or {})
            pid = str(profile.get("id") or profile.get("path") or "profile")
            for key in ("device", "runtime", "precision", "threads"):
                want = applies.get(key)
                if want is None or key not in params:
                    continue
                cur = params[key]
                if cur.source.startswith("user"):
                    if str(cur.value) != str(want) and key != "threads":
                        raise ConfigError(f"profile {pid} was fitted for {key}={want}, but {key}={cur.value} was set")
                else:
                    changes[key] = Param(coerce_like(cur.value, want, key), f"profile {pid} (applies_to)", cur.unit, cur.doc)
        params = params.updated(changes)
        self._validate(params)
        return params.updated(self._fill(params))

    def _validate(self, params: Params) -> None:
        if int(params.value("batch")) < 1:
            raise ConfigError(f"option 'batch': must be >= 1, got {params.value('batch')}")
        prec = str(params.value("precision"))
        if prec not in dev.PRECISIONS:
            raise ConfigError(f"option 'precision': {prec!r} is not one of {', '.join(dev.PRECISIONS)}")
        rt = str(params.value("runtime"))
        if rt not in RUNTIMES:
            raise ConfigError(f"option 'runtime': {rt!r} is not one of {', '.join(RUNTIMES)}")
        scope = str(params.value("energy_scope"))
        if scope not in SCOPES:
            raise ConfigError(f"option 'energy_scope': {scope!r} is not one of {', '.join(SCOPES)}")
        for key, p in params.items():
            v = p.value
            if isinstance(v, float) and not math.isnan(v) and v < 0:
                raise ConfigError(f"option {key!r}: must not be negative, got {v}")

    def _fill(self, params: Params) -> dict[str, Param]:
        raise NotImplementedError

    # ---- graph preparation ---------------------------------------------------------------
    def prepare(self, graph: OpGraph, params: Params) -> OpGraph:
        """Runtime-specific passes, then mark the host tail (``attrs['placement']='host'``)."""
        from hwsim.passes import run_passes

        g = run_passes(graph, RUNTIME_PASSES[str(params.value("runtime"))]).graph
        if not params.value("host_tail"):
            return g
        ops = list(g.ops())
        last = max((i for i, op in enumerate(ops) if op.kind in (DENSE, CONV, MATMUL)), default=-1)
        if last < 0:
            return g
        new = [
            op if i <= last or op.n_params else op.evolve(attrs=op.attrs.updated(placement="host")) for i, op in enumerate(ops)
        ]
        return g.replace_ops(new)

    # ---- shared pieces -------------------------------------------------------------------
    @staticmethod
    def _elem_bytes(params: Params) -> int:
        return dev.PRECISION_BYTES[str(params.value("precision"))]

    def features(self, op: Op, params: Params) -> Mapping[str, float]:
        """The model's terms for one op (what calibration regresses on): see calibrate.py."""
        from hwsim.backends.cpugpu.calibration import op_features

        return op_features(op, params)


# =============================================================================================
# CPU
# =============================================================================================


def cpu_kernel_params(device: str, runtime: str, figs: Mapping[str, dev.Fig] | None = None) -> dict[str, Param]:
    """Kernel-library constants of ``runtime`` on CPU ``device`` (per-element times scaled by
    the ratio of the reference clock to the device clock)."""
    f = figs if figs is not None else dev.cpu_device(device)
    rt = dev.runtime_constants("cpu", runtime)
    clock = float(f["clock_hz"].value)
    scale = float(rt["ref_clock_hz"].value) / clock
    out: dict[str, Param] = {}
    for key in ("t_call_s", "t_op_s", "t_op_linear_s", "t_op_conv_s"):
        out[key] = _p(float(rt[key].value), f"{runtime}: {rt[key].source}", "s")
    out["t_im2col_s"] = _p(
        float(rt["t_im2col_s"].value) * scale,
        f"{runtime}: {rt['t_im2col_s'].source}; x {scale:.3g} = reference clock / device clock",
        "s/element",
    )
    for key in (
        "eff_dense",
        "eff_matmul",
        "eff_conv",
        "gemm_m_half",
        "gemm_n_half",
        "gemm_k_half",
        "conv_n_half",
        "conv_k_half",
        "grain_elems",
        "grain_flops",
        "par_contention",
    ):
        out[key] = _p(float(rt[key].value), f"{runtime}: {rt[key].source}")
    t_elem = rt["t_elem"]
    for c in ELEM_CLASSES:
        out[f"t_elem_{c}_s"] = _p(
            float(t_elem.value[c]) * scale,
            f"{runtime}: {t_elem.source}; x {scale:.3g} = reference clock / device clock ({clock / 1e9:.3g} GHz)",
            "s/element",
        )
    return out


def cpu_device_params(device: str, figs: Mapping[str, dev.Fig] | None = None) -> dict[str, Param]:
    f = figs if figs is not None else dev.cpu_device(device)
    clock = float(f["clock_hz"].value)
    fpc = float(f["flops_per_cycle_fp32"].value)
    out = {
        "peak_fp32_per_core": _p(
            clock * fpc,
            f"clock {clock / 1e9:.3g} GHz ({f['clock_hz'].source}) x {fpc:g} FLOP/cycle ({f['flops_per_cycle_fp32'].source})",
            "FLOP/s",
        ),
        "cores": _p(int(f["cores"].value), f["cores"].source, "cores"),
    }
    for key, unit in (
        ("l1_bytes", "B"),
        ("l2_bytes", "B"),
        ("l3_bytes", "B"),
        ("bw_l1_per_core", "B/s"),
        ("bw_l2_per_core", "B/s"),
        ("bw_l3_per_core", "B/s"),
        ("bw_dram", "B/s"),
        ("bw_dram_per_core", "B/s"),
        ("tdp_w", "W"),
        ("static_power_w", "W"),
        ("node_base_power_w", "W"),
    ):
        out[key] = _p(float(f[key].value), f[key].source, unit)
    e = dev.energy_constants()["e_dram_byte_j"]
    out["e_dram_byte_j"] = _p(float(e.value), e.source, "J/B")
    return out


@dataclass(frozen=True)
class CpuCtx:
    """Resolved numbers of one CPU estimate (built once per Params)."""

    threads: int
    cores: int
    peak_core: float  # FLOP/s of one core at the run precision
    eff: dict[str, float]
    halves: tuple[float, float, float]
    conv_halves: tuple[float, float, float]
    t_elem: dict[str, float]
    t_op: float
    t_op_linear: float
    t_op_conv: float
    t_im2col: float
    t_call: float
    grain_elems: float
    grain_flops: float
    sigma: float
    l1: float
    l2: float
    l3: float
    bw1: float
    bw2: float
    bw3: float
    bw_dram: float
    bw_dram_core: float
    e_flop: float
    e_byte: float
    static_w: float
    node_w: float
    host_busy_w: float
    elem_factor: float


def cpu_ctx(get: Any, device: str, runtime: str, precision: str, threads: int) -> CpuCtx:
    """Build a :class:`CpuCtx`; ``get(key)`` returns a resolved parameter value."""
    figs = dev.cpu_device(device)
    ratio = dict(figs["precision_ratio"].value)
    cores = int(get("cores"))
    th = cores if threads <= 0 else min(threads, cores)
    peak_core = float(get("peak_fp32_per_core")) * float(ratio[precision])
    tdp, static = float(get("tdp_w")), float(get("static_power_w"))
    e_flop = max(tdp - static, 0.0) / (peak_core * cores)
    return CpuCtx(
        threads=th,
        cores=cores,
        peak_core=peak_core,
        eff={"dense": float(get("eff_dense")), "conv": float(get("eff_conv")), "matmul": float(get("eff_matmul"))},
        halves=(float(get("gemm_m_half")), float(get("gemm_n_half")), float(get("gemm_k_half"))),
        conv_halves=(float(get("gemm_m_half")), float(get("conv_n_half")), float(get("conv_k_half"))),
        t_elem={c: float(get(f"t_elem_{c}_s")) for c in ELEM_CLASSES},
        t_op=float(get("t_op_s")),
        t_op_linear=float(get("t_op_linear_s")),
        t_op_conv=float(get("t_op_conv_s")),
        t_im2col=float(get("t_im2col_s")),
        t_call=float(get("t_call_s")),
        grain_elems=float(get("grain_elems")),
        grain_flops=float(get("grain_flops")),
        sigma=float(get("par_contention")),
        l1=float(get("l1_bytes")),
        l2=float(get("l2_bytes")),
        l3=float(get("l3_bytes")),
        bw1=float(get("bw_l1_per_core")),
        bw2=float(get("bw_l2_per_core")),
        bw3=float(get("bw_l3_per_core")),
        bw_dram=float(get("bw_dram")),
        bw_dram_core=float(get("bw_dram_per_core")),
        e_flop=e_flop,
        e_byte=float(get("e_dram_byte_j")),
        static_w=static,
        node_w=float(get("node_base_power_w")),
        host_busy_w=max(tdp - static, 0.0) / cores,
        elem_factor=2.0 if precision == "fp64" else 1.0,
    )


def shape_factor(gemm: tuple[int, int, int], halves: tuple[float, float, float]) -> float:
    """Hockney half-performance factor of a GEMM (1 for large M, N, K)."""
    m, n, k = gemm
    mh, nh, kh = halves
    return (m / (m + mh)) * (n / (n + nh)) * (k / (k + kh))


def _clamp_threads(work: float, grain: float, threads: int) -> int:
    if grain <= 0:
        return threads
    return int(max(1, min(threads, math.floor(work / grain))))


def speedup(p: int, sigma: float) -> float:
    """Universal scalability law without coherency term: p / (1 + sigma (p - 1)).

    Applied to the element-wise (fork-join, memory-touching) kernels; GEMMs large enough to
    be split (``grain_flops``) scale with the thread count (MKL/MLAS partition them into
    independent blocks)."""
    return p / (1.0 + sigma * (p - 1))


def cpu_op_terms(w: Work, c: CpuCtx) -> dict[str, Any]:
    """The terms of one op on a CPU: compute, element, memory times, the level, threads."""
    t_c = 0.0
    p_c = 1
    if w.gemm is not None and w.flops > 0:
        p_c = _clamp_threads(w.flops, c.grain_flops, c.threads)
        t_c = w.flops / (
            c.eff[w.linear] * shape_factor(w.gemm, c.conv_halves if w.linear == "conv" else c.halves) * c.peak_core * p_c
        )
    n = w.n_elem
    p_e = _clamp_threads(n, c.grain_elems, c.threads) if n else 1
    t_e = sum(k * c.t_elem[cls] for cls, k in w.elem.items()) * c.elem_factor / speedup(p_e, c.sigma)
    p = max(p_c, p_e)
    ws = w.bytes
    if ws <= c.l1 * p:
        level, bw = "L1", c.bw1 * p
    elif ws <= c.l2 * p:
        level, bw = "L2", c.bw2 * p
    elif ws <= c.l3:
        level, bw = "L3", c.bw3 * p
    else:
        level, bw = "DRAM", min(c.bw_dram_core * p, c.bw_dram)
    t_m = ws / bw if ws else 0.0
    return {"t_compute": t_c, "t_elem": t_e, "t_mem": t_m, "level": level, "threads": p}


def cpu_op_cost(op: Op, w: Work, c: CpuCtx) -> OpCost:
    terms = cpu_op_terms(w, c)
    t_c, t_e, t_m = terms["t_compute"], terms["t_elem"], terms["t_mem"]
    work = max(t_c, t_e, t_m)
    overhead = c.t_op * (1 + w.extra_ops) + (c.t_op_linear if w.gemm is not None else 0.0) + c.t_op_conv * w.conv_calls
    # a convolution that unfolds its input (im2col) writes the M x K buffer before the GEMM
    # reads it: a pass of its own, added to (not overlapped with) the GEMM
    t_unfold = w.im2col * c.t_im2col * c.elem_factor
    if w.view:
        bound = "overhead"
    elif t_unfold > max(work, overhead):
        bound = "im2col"
    elif work < overhead:
        bound = "overhead"
    elif work == t_c:
        bound = "compute"
    elif work == t_e:
        bound = "element:" + max(w.elem, key=lambda k: w.elem[k] * c.t_elem[k])
    else:
        bound = f"memory:{terms['level']}"
    t = overhead + t_unfold + work
    flop_eq = w.flops + sum(k * ELEM_FLOP_EQ[cls] for cls, k in w.elem.items())
    dyn = c.e_flop * flop_eq + (c.e_byte * w.bytes if terms["level"] == "DRAM" else 0.0)
    return OpCost(
        op.name,
        op.kind + (f":{op.function}" if op.function else ""),
        {
            "latency_s": t,
            "overhead_s": overhead,
            "im2col_s": t_unfold,
            "compute_s": t_c,
            "element_s": t_e,
            "memory_s": t_m,
            "flops": w.flops,
            "elements": w.n_elem,
            "bytes": w.bytes,
            "threads": terms["threads"],
            "dynamic_energy_j": dyn,
        },
        {"bound": bound, "level": terms["level"]},
    )


class CpuBackend(_CpuGpuBase):
    """CPU: serial kernels of onnxruntime (MLAS) or PyTorch eager on a catalog device."""

    name = "cpu"
    kind = "cpu"
    default_device = "xeon-gold-6148"
    description = "CPU (onnxruntime / PyTorch): per-op overhead + max(compute, element functions, memory); serial kernels"

    def _catalog_params(self) -> dict[str, Param]:
        keys = ["threads"]
        d: dict[str, Param] = {"threads": _p(0, "default", "threads", "threads per op (0 = all cores of the device)")}
        src = "catalog (devices.json) for the chosen device/runtime"
        for key in list(cpu_kernel_params("xeon-gold-6148", "onnxruntime")) + list(cpu_device_params("xeon-gold-6148")):
            if key in keys:
                continue
            unit = "cores" if key == "cores" else ""
            d[key] = _p(0 if key == "cores" else NAN, src, unit)
        return d

    def _fill(self, params: Params) -> dict[str, Param]:
        device, runtime = str(params.value("device")), str(params.value("runtime"))
        figs = dev.cpu_device(device)
        if int(params.value("threads")) < 0:
            raise ConfigError(f"option 'threads': must be >= 0, got {params.value('threads')}")
        fill = cpu_kernel_params(device, runtime, figs)
        fill.update(cpu_device_params(device, figs))
        out: dict[str, Param] = {}
        for key, p in params.items():
            if key in fill and (p.source.startswith("catalog") or (key == "cores" and int(p.value) == 0)):
                out[key] = fill[key]
        return out

    def _ctx(self, params: Params) -> CpuCtx:
        return cpu_ctx(
            params.value,
            str(params.value("device")),
            str(params.value("runtime")),
            str(params.value("precision")),
            int(params.value("threads")),
        )

    def estimate(self, op: Op, params: Params) -> OpCost:
        c = _ctx_cached(self, params)
        w = op_work(op, int(params.value("batch")), self._elem_bytes(params), str(params.value("runtime")))
        if op.attrs.get("placement") == "host":
            hc = _host_ctx(str(params.value("device")), "cpu", params)
            cost = cpu_op_cost(op, w, hc)
            return OpCost(cost.name, cost.op, cost.values, {**cost.info, "placement": "host (numpy)"})
        return cpu_op_cost(op, w, c)

    def aggregate(self, graph: OpGraph, costs: Sequence[OpCost], params: Params) -> Estimate:
        c = _ctx_cached(self, params)
        batch = int(params.value("batch"))
        t_ops = sum(float(x.values["latency_s"]) for x in costs)
        T = c.t_call + t_ops
        static = c.static_w + (c.node_w if params.value("energy_scope") == "node" else 0.0)
        dyn = sum(float(x.values["dynamic_energy_j"]) for x in costs)
        E = static * T + dyn
        layers = []
        for x in costs:
            row = x.row()
            row["energy_j"] = static * float(x.values["latency_s"]) + float(x.values["dynamic_energy_j"])
            layers.append(row)
        shares: dict[str, float] = {"overhead": c.t_call}
        for x in costs:
            b = str(x.info["bound"])
            ov = float(x.values["overhead_s"])
            shares[b] = shares.get(b, 0.0) + float(x.values["latency_s"]) - (0.0 if b == "overhead" else ov)
            shares["overhead"] += 0.0 if b == "overhead" else ov
        totals = {
            **_batch_totals(T, E, batch, costs, shares),
            "call_overhead_s": c.t_call,
            "threads": c.threads,
            "batch": batch,
        }
        return Estimate(
            self.name, graph.name, totals, tuple(layers), (), params, (), {"time_shares_s": shares}, graph.fingerprint()
        )


# =============================================================================================
# GPU
# =============================================================================================


def gpu_params(device: str, runtime: str, precision: str) -> dict[str, Param]:
    f = dev.gpu_device(device)
    rt = dev.runtime_constants("gpu", runtime)
    peaks = dict(f["peak"].value)
    if precision not in peaks:
        raise ConfigError(f"option 'precision': device {device} has no {precision} arithmetic ({f['peak'].source})")
    out: dict[str, Param] = {}
    math_peak, math_src = float(peaks[precision]), f["peak"].source
    tf32 = f.get("peak_fp32_tensor")
    out["peak_flops"] = _p(
        math_peak,
        math_src + f" [{precision}]",
        "FLOP/s",
        "peak of the GEMM unit at the run precision (CUDA cores or tensor cores)",
    )
    if precision == "fp32" and tf32 is not None and tf32.value:
        out["peak_tf32"] = _p(float(tf32.value), tf32.source, "FLOP/s")
    else:
        out["peak_tf32"] = _p(0.0, "no TF32 on this device" if precision == "fp32" else "TF32 applies to fp32 only", "FLOP/s")
    out["peak_fp32"] = _p(float(peaks["fp32"]), f["peak"].source + " [fp32, element-wise]", "FLOP/s")
    out["sms"] = _p(int(f["sms"].value), f["sms"].source, "SMs")
    for key, unit in (
        ("bw_hbm", "B/s"),
        ("bw_l2", "B/s"),
        ("l2_bytes", "B"),
        ("host_link_bw", "B/s"),
        ("tdp_w", "W"),
        ("static_power_w", "W"),
    ):
        out[key] = _p(float(f[key].value), f[key].source, unit)
    for key in ("t_call_s", "t_launch_s", "t_min_kernel_s", "t_copy_s"):
        out[key] = _p(float(rt[key].value), f"{runtime}: {rt[key].source}", "s")
    for key in ("eff_dense", "eff_matmul", "eff_conv", "gemm_k_half", "tile"):
        out[key] = _p(float(rt[key].value), f"{runtime}: {rt[key].source}")
    for key in ("tf32_gemm", "tf32_conv"):
        out[key] = _p(bool(rt[key].value), f"{runtime}: {rt[key].source}")
    en = dev.energy_constants()
    mem = en["e_gddr_byte_j"] if device == "rtx4090" else en["e_hbm_byte_j"]
    out["e_mem_byte_j"] = _p(float(mem.value), mem.source, "J/B")
    out["host"] = _p(str(f["host"].value), f["host"].source, "", "host CPU (catalog name): host-side ops, host power")
    return out


class GpuBackend(_CpuGpuBase):
    """GPU: asynchronous kernel launches from onnxruntime (CUDA EP) or eager PyTorch."""

    name = "gpu"
    kind = "gpu"
    default_device = "v100"
    description = "GPU (onnxruntime CUDA EP / PyTorch eager): H2D + max(host issue, kernels) + D2H + host-side ops"
    totals_keys = _CpuGpuBase.totals_keys + ("device_s", "host_issue_s", "copy_s", "host_ops_s")

    def _catalog_params(self) -> dict[str, Param]:
        src = "catalog (devices.json) for the chosen device/runtime"
        d: dict[str, Param] = {}
        for key, p in gpu_params("v100", "torch", "fp32").items():
            if isinstance(p.value, bool):
                d[key] = _p("auto", src, "", "true/false, or auto = the runtime's default")
            elif isinstance(p.value, str):
                d[key] = _p("", src)
            elif key == "sms":
                d[key] = _p(0, src, "SMs")
            else:
                d[key] = _p(NAN, src, p.unit)
        return d

    def _fill(self, params: Params) -> dict[str, Param]:
        fill = gpu_params(str(params.value("device")), str(params.value("runtime")), str(params.value("precision")))
        out: dict[str, Param] = {}
        for key, p in params.items():
            if key not in fill:
                continue
            v = p.value
            unset = (
                p.source.startswith("catalog")
                or (isinstance(v, float) and math.isnan(v))
                or v in ("", "auto")
                or (key == "sms" and int(v) == 0)
            )
            if unset:
                out[key] = fill[key]
            elif key in ("tf32_gemm", "tf32_conv"):
                low = str(v).lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    raise ConfigError(f"option {key!r}: expected true, false or auto, got {v!r}")
                out[key] = Param(low in ("true", "1", "yes"), p.source, p.unit, p.doc)
        host = str(out.get("host", params["host"]).value)
        if host not in dev.cpu_names():
            raise ConfigError(f"option 'host': unknown cpu device {host!r} (known: {', '.join(dev.cpu_names())})")
        return out

    def estimate(self, op: Op, params: Params) -> OpCost:
        batch = int(params.value("batch"))
        eb = self._elem_bytes(params)
        w = op_work(op, batch, eb, str(params.value("runtime")))
        if op.attrs.get("placement") == "host":
            hc = _host_ctx(str(params.value("host")), "gpu", params)
            cost = cpu_op_cost(op, w, hc)
            vals = dict(cost.values)
            vals.update({"host_issue_s": 0.0, "kernel_s": 0.0, "host_op_s": vals["latency_s"]})
            return OpCost(cost.name, cost.op, vals, {**cost.info, "placement": "host (numpy)"})
        g = _gpu_ctx_cached(params)
        t_c = 0.0
        if w.gemm is not None and w.flops > 0:
            m, n, k = w.gemm
            tile = g["tile"]
            tiles = math.ceil(m / tile) * math.ceil(n / tile)
            waves = math.ceil(tiles / g["sms"])
            util = tiles / (waves * g["sms"])
            kf = k / (k + g["k_half"])
            use_tf32 = g["tf32_conv"] if w.linear == "conv" else g["tf32_gemm"]
            peak = g["peak_tf32"] if (g["precision"] == "fp32" and use_tf32 and g["peak_tf32"] > 0) else g["peak"]
            t_c = w.flops / (g["eff"][w.linear] * util * kf * peak)
        t_e = sum(k * g["elem_ops"][cls] for cls, k in w.elem.items()) / g["peak_elem"]
        level = "L2" if w.bytes <= g["l2"] else "HBM"
        t_m = w.bytes / (g["bw_l2"] if level == "L2" else g["bw_hbm"]) if w.bytes else 0.0
        t_dev = max(t_c, t_e, t_m)
        kernel = 0.0 if w.view else max(t_dev, g["t_min"] * (1 + w.extra_ops))
        if w.view:
            bound = "launch"
        elif g["t_launch"] > kernel:
            bound = "launch"
        elif t_dev < g["t_min"]:
            bound = "min-kernel"
        elif t_dev == t_c:
            bound = "compute"
        elif t_dev == t_e:
            bound = "element:" + max(w.elem, key=lambda c: w.elem[c] * g["elem_ops"][c])
        else:
            bound = f"memory:{level}"
        flop_eq = w.flops + sum(k * ELEM_FLOP_EQ[cls] for cls, k in w.elem.items())
        dyn = g["e_flop"] * flop_eq + (g["e_byte"] * w.bytes if level == "HBM" else 0.0)
        return OpCost(
            op.name,
            op.kind + (f":{op.function}" if op.function else ""),
            {
                "latency_s": kernel,
                "kernel_s": kernel,
                "host_issue_s": g["t_launch"] * (1 + w.extra_ops),
                "host_op_s": 0.0,
                "compute_s": t_c,
                "element_s": t_e,
                "memory_s": t_m,
                "flops": w.flops,
                "elements": w.n_elem,
                "bytes": w.bytes,
                "dynamic_energy_j": dyn,
            },
            {"bound": bound, "level": level, "placement": "device"},
        )

    def aggregate(self, graph: OpGraph, costs: Sequence[OpCost], params: Params) -> Estimate:
        g = _gpu_ctx_cached(params)
        batch = int(params.value("batch"))
        eb = self._elem_bytes(params)
        host_names = {op.name for op in graph.ops() if op.attrs.get("placement") == "host"}
        dev_costs = [x for x in costs if x.name not in host_names]
        host_costs = [x for x in costs if x.name in host_names]
        issue = [float(x.values["host_issue_s"]) for x in dev_costs]
        kern = [float(x.values["kernel_s"]) for x in dev_costs]
        t_device = max(sum(issue), (issue[0] if issue else 0.0) + sum(kern)) if dev_costs else 0.0
        in_bytes = sum(t.size for t in graph.inputs) * batch * eb
        # tensors leaving the device: graph outputs made on the device, inputs of host ops made on the device
        out_names: set[str] = set()
        for o in graph.outputs:
            p = graph.producer(o)
            if p is not None and p.name not in host_names:
                out_names.add(o)
        for op in graph.ops():
            if op.name in host_names:
                for t in op.inputs:
                    p = graph.producer(t.name)
                    if p is not None and p.name not in host_names:
                        out_names.add(t.name)
        out_bytes = sum(graph.tensor(n).size for n in out_names) * batch * eb
        if params.value("inputs_on_device"):
            in_bytes = 0
        t_h2d = (g["t_copy"] + in_bytes / g["link"]) if dev_costs and in_bytes else 0.0
        t_d2h = (g["t_copy"] + out_bytes / g["link"]) if dev_costs else 0.0
        t_host = sum(float(x.values["latency_s"]) for x in host_costs)
        T = g["t_call"] + t_h2d + t_device + t_d2h + t_host
        hc = _host_ctx(str(params.value("host")), "gpu", params)
        node = params.value("energy_scope") == "node"
        p_static = g["static"] + hc.host_busy_w + ((hc.static_w + hc.node_w) if node else 0.0)
        dyn = sum(float(x.values["dynamic_energy_j"]) for x in costs)
        dyn += g["e_byte_host"] * (in_bytes + out_bytes)  # host DRAM side of the copies
        E = p_static * T + dyn
        layers = []
        for name, t_copy in (("h2d", t_h2d), ("d2h", t_d2h)):
            if dev_costs:
                layers.append(
                    {
                        "name": name,
                        "op": "copy",
                        "bound": "copy",
                        "latency_s": t_copy,
                        "bytes": in_bytes if name == "h2d" else out_bytes,
                    }
                )
        for x in costs:
            row = x.row()
            row["energy_j"] = p_static * float(x.values["latency_s"]) + float(x.values["dynamic_energy_j"])
            layers.append(row)
        shares: dict[str, float] = {
            "call/sync": g["t_call"],
            "copy": t_h2d + t_d2h,
            "host issue" if sum(issue) >= (issue[0] if issue else 0) + sum(kern) else "device kernels": t_device,
            "host ops": t_host,
        }
        totals = {
            **_batch_totals(T, E, batch, costs, shares),
            "device_s": t_device,
            "host_issue_s": sum(issue),
            "copy_s": t_h2d + t_d2h,
            "host_ops_s": t_host,
            "batch": batch,
        }
        warnings: tuple[str, ...] = ()
        if host_costs:
            warnings = (f"{len(host_costs)} op(s) run on the host ({params.value('host')}) in numpy after a device-to-host copy",)
        return Estimate(
            self.name, graph.name, totals, tuple(layers), (), params, warnings, {"time_shares_s": shares}, graph.fingerprint()
        )


# ---------------------------------------------------------------------------------------------
# caches of resolved contexts (Params are immutable: the id + the object identity is a safe key)
# ---------------------------------------------------------------------------------------------

_CTX: dict[int, tuple[Params, Any]] = {}


def _memo(params: Params, tag: str, build: Any) -> Any:
    key = hash((id(params), tag))
    hit = _CTX.get(key)
    if hit is not None and hit[0] is params:
        return hit[1]
    value = build()
    if len(_CTX) > 256:
        _CTX.clear()
    _CTX[key] = (params, value)
    return value


def _ctx_cached(backend: CpuBackend, params: Params) -> CpuCtx:
    return _memo(params, "cpu", lambda: backend._ctx(params))  # type: ignore[no-any-return]


def _host_ctx(device: str, kind: str, params: Params) -> CpuCtx:
    """numpy on one core of ``device`` (host-side ops). On the cpu backend the device's own
    (possibly fitted) peak and bandwidths are used; kernel constants are numpy's."""

    def build() -> CpuCtx:
        figs = dev.cpu_device(device)
        vals: dict[str, Any] = {k: p.value for k, p in cpu_device_params(device, figs).items()}
        vals.update({k: p.value for k, p in cpu_kernel_params(device, "numpy", figs).items()})
        if kind == "cpu":
            for k in ("peak_fp32_per_core", "bw_dram", "bw_dram_per_core", "tdp_w", "static_power_w", "node_base_power_w"):
                vals[k] = params.value(k)
        return cpu_ctx(
            vals.__getitem__,
            device,
            "numpy",
            str(params.value("precision")) if str(params.value("precision")) in ("fp32", "fp64") else "fp32",
            1,
        )

    return _memo(params, f"host:{device}", build)  # type: ignore[no-any-return]


def _gpu_ctx_cached(params: Params) -> dict[str, Any]:
    def build() -> dict[str, Any]:
        v = params.value
        prec = str(v("precision"))
        peak = float(v("peak_flops"))
        peak_fp32 = float(v("peak_fp32"))
        elem_peak = peak_fp32 * (2.0 if prec in ("fp16", "bf16") else 1.0)
        if prec == "fp64":
            elem_peak = min(peak_fp32, peak)
        rt = dev.runtime_constants("gpu", str(v("runtime")))
        hostfig = dev.energy_constants()["e_dram_byte_j"]
        return {
            "precision": prec,
            "peak": peak,
            "peak_tf32": float(v("peak_tf32")),
            "peak_elem": elem_peak,
            "sms": int(v("sms")),
            "tile": float(v("tile")),
            "k_half": float(v("gemm_k_half")),
            "eff": {"dense": float(v("eff_dense")), "conv": float(v("eff_conv")), "matmul": float(v("eff_matmul"))},
            "elem_ops": dict(rt["elem_ops"].value),
            "tf32_gemm": bool(v("tf32_gemm")),
            "tf32_conv": bool(v("tf32_conv")),
            "l2": float(v("l2_bytes")),
            "bw_l2": float(v("bw_l2")),
            "bw_hbm": float(v("bw_hbm")),
            "link": float(v("host_link_bw")),
            "t_min": float(v("t_min_kernel_s")),
            "t_launch": float(v("t_launch_s")),
            "t_call": float(v("t_call_s")),
            "t_copy": float(v("t_copy_s")),
            "static": float(v("static_power_w")),
            "e_flop": max(float(v("tdp_w")) - float(v("static_power_w")), 0.0) / peak,
            "e_byte": float(v("e_mem_byte_j")),
            "e_byte_host": float(hostfig.value),
        }

    return _memo(params, "gpu", build)  # type: ignore[no-any-return]
