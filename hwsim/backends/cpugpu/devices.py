"""The device catalog of the cpu and gpu backends (``devices.json``) and this machine.

Every figure in the catalog is ``{"value": ..., "source": ...}``; :func:`cpu_device` and
:func:`gpu_device` return flat dicts of :class:`Fig` (value + source). ``device=local`` is
detected from ``/proc/cpuinfo`` (core count, ISA flags, clock) and sysfs cache sizes; its
peak is nominal (clock x FLOP/cycle from the ISA flags) until a fitted profile supplies the
measured one.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.errors import ConfigError

log = logging.getLogger(__name__)

CATALOG_PATH = Path(__file__).with_name("devices.json")

#: bytes per element of each precision option
PRECISION_BYTES = {"fp64": 8, "fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}
PRECISIONS = tuple(PRECISION_BYTES)


@dataclass(frozen=True, slots=True)
class Fig:
    """One catalog figure with its source."""

    value: Any
    source: str


@functools.lru_cache(maxsize=1)
def catalog() -> dict[str, Any]:
    """The parsed ``devices.json`` (cached)."""
    return json.loads(CATALOG_PATH.read_text())  # type: ignore[no-any-return]


def _flatten(entry: dict[str, Any], section: dict[str, Any]) -> dict[str, Fig]:
    out: dict[str, Fig] = {}
    base = entry.get("base")
    if base:
        out.update(_flatten(section[base], section))
    for k, v in entry.items():
        if isinstance(v, dict) and "value" in v:
            out[k] = Fig(v["value"], str(v.get("source", "")))
        elif k == "label":
            out["label"] = Fig(v, "catalog")
    return out


def cpu_names() -> list[str]:
    return sorted(catalog()["cpu"]) + ["local"]


def gpu_names() -> list[str]:
    return sorted(catalog()["gpu"])


def cpu_device(name: str) -> dict[str, Fig]:
    """Figures of a CPU device (``local`` = this machine)."""
    if name == "local":
        return local_cpu()
    sec = catalog()["cpu"]
    if name not in sec:
        raise ConfigError(f"option 'device': unknown cpu device {name!r} (known: {', '.join(cpu_names())})")
    return _flatten(sec[name], sec)


def gpu_device(name: str) -> dict[str, Fig]:
    sec = catalog()["gpu"]
    if name not in sec:
        raise ConfigError(f"option 'device': unknown gpu device {name!r} (known: {', '.join(gpu_names())})")
    return _flatten(sec[name], sec)


def runtime_constants(kind: str, runtime: str) -> dict[str, Fig]:
    sec = catalog()["runtimes"][kind]
    if runtime not in sec:
        raise ConfigError(f"option 'runtime': unknown {kind} runtime {runtime!r} (known: {', '.join(sorted(sec))})")
    return {k: Fig(v["value"], v["source"]) for k, v in sec[runtime].items()}


def energy_constants() -> dict[str, Fig]:
    return {k: Fig(v["value"], v["source"]) for k, v in catalog()["runtimes"]["energy"].items()}


# ---------------------------------------------------------------------------------------------
# this machine
# ---------------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _size(text: str) -> int | None:
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)\s*", text)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)]


def flops_per_cycle(vendor: str, family: int, flags: set[str]) -> tuple[int, str]:
    """fp32 FLOP per cycle per core from the ISA flags, with the reasoning as source."""
    if "avx512f" in flags:
        if vendor == "AuthenticAMD" and family < 26:
            return 32, "avx512f on AMD family 25 (Zen 4): 512-bit ops on 2 x 256-bit FMA pipes, 16 fp32 FMA/cycle"
        return 64, "avx512f: 2 x 512-bit FMA units x 16 fp32 lanes x 2 (Intel server cores, AMD Zen 5)"
    if "avx2" in flags and "fma" in flags:
        return 32, "avx2+fma: 2 x 256-bit FMA units x 8 lanes x 2"
    if "avx" in flags:
        return 16, "avx: 256-bit add + mul"
    return 8, "sse: 128-bit add + mul"


@functools.lru_cache(maxsize=1)
def local_cpu() -> dict[str, Fig]:
    """This machine: cores (scheduler affinity), ISA flags and clock (/proc/cpuinfo), caches
    (sysfs). Peak = clock x FLOP/cycle (nominal: /proc/cpuinfo often shows the base clock;
    a fitted profile replaces it with the measured peak)."""
    d = catalog()["local_defaults"]
    info = _read("/proc/cpuinfo")
    first = info.split("\n\n")[0] if info else ""
    fields: dict[str, str] = {}
    for line in first.splitlines():
        k, _, v = line.partition(":")
        fields[k.strip()] = v.strip()
    flags = set(fields.get("flags", "").split())
    vendor = fields.get("vendor_id", "unknown")
    try:
        family = int(fields.get("cpu family", "0"))
    except ValueError:
        family = 0
    try:
        mhz = float(fields.get("cpu MHz", "0") or 0)
    except ValueError:
        mhz = 0.0
    clock = mhz * 1e6 if mhz > 0 else 2.5e9
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    fpc, fpc_src = flops_per_cycle(vendor, family, flags)
    src = f"/proc/cpuinfo ({fields.get('model name', 'unknown cpu')})"
    out: dict[str, Fig] = {
        "label": Fig(f"this machine: {fields.get('model name', 'unknown cpu')}", src),
        "sockets": Fig(1, "assumption: one socket"),
        "cores": Fig(cores, "os.sched_getaffinity (cores this process may use)"),
        "clock_hz": Fig(clock, f"{src}: cpu MHz" if mhz > 0 else "assumption: 2.5 GHz (no clock in /proc/cpuinfo)"),
        "flops_per_cycle_fp32": Fig(fpc, fpc_src + f" (flags from {src})"),
        "isa": Fig(sorted(f for f in flags if f.startswith(("avx", "fma", "sse4", "amx"))), src),
        "vendor": Fig(vendor, src),
    }
    vnni = "avx512_vnni" in flags or "avx_vnni" in flags
    bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
    out["precision_ratio"] = Fig(
        {"fp64": 0.5, "fp32": 1.0, "fp16": 1.0, "bf16": 2.0 if bf16 else 1.0, "int8": 4.0 if vnni else 2.0},
        f"from ISA flags: bf16 {'AVX512_BF16 dot products 2x' if bf16 else 'converted to fp32'}, int8 {'VNNI 4x' if vnni else 'no VNNI, 2x'} fp32",
    )
    caches: dict[int, int] = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    for idx in range(8):
        level = _read(f"{base}/index{idx}/level").strip()
        typ = _read(f"{base}/index{idx}/type").strip()
        size = _size(_read(f"{base}/index{idx}/size"))
        if level and size and typ in ("Data", "Unified"):
            caches[int(level)] = size
    for lvl in (1, 2, 3):
        key = f"l{lvl}_bytes"
        if lvl in caches:
            out[key] = Fig(caches[lvl], f"sysfs {base}")
        else:
            out[key] = Fig(d[key]["value"], d[key]["source"])
    for lvl in (1, 2, 3):
        bpc = d[f"bw_l{lvl}_bytes_per_cycle"]
        out[f"bw_l{lvl}_per_core"] = Fig(bpc["value"] * clock, f"{bpc['source']} x clock")
    for key in ("bw_dram", "bw_dram_per_core"):
        out[key] = Fig(d[key]["value"], d[key]["source"])
    tdp = d["tdp_w_per_core"]["value"] * cores
    out["tdp_w"] = Fig(tdp, f"{d['tdp_w_per_core']['source']} x {cores} cores")
    out["static_power_w"] = Fig(tdp * d["static_fraction"]["value"], d["static_fraction"]["source"])
    out["node_base_power_w"] = Fig(0.0, "assumption: a VM slice; no node baseline charged")
    return out
