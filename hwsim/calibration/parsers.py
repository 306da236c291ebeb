"""Parsers of vendor synthesis reports into typed, frozen :class:`SynthRecord` objects.

Supported inputs (each parser raises :class:`~hwsim.errors.ReportError` naming the file on a
corrupt, truncated or unknown report):

* Vivado HLS / Vitis HLS ``<top>_csynth.xml`` (``parse_csynth_xml``): the top-level summary
  (``UserAssignments``, ``PerformanceEstimates/SummaryOfOverallLatency``,
  ``AreaEstimates/Resources``). Vivado HLS names the DSP count ``DSP48E``, Vitis HLS ``DSP``;
  both land in ``SynthRecord.DSP``. Vitis HLS also writes one ``<module>_csynth.xml`` per
  module: ``parse_report_dir`` attaches them as :class:`ModuleRow` s of the top record.
* The text ``<top>_csynth.rpt`` (``parse_csynth_rpt``): the summary plus the per-instance
  latency/interval and resource tables — the only per-layer data when the top is DATAFLOW.
* Vivado ``report_utilization`` output (``parse_vivado_utilization``): ``vivado_synth.rpt``
  (flat: ``CLB LUTs``/``Slice LUTs``, ``CLB Registers``/``Slice Registers``, ``Block RAM
  Tile``, ``URAM``, ``DSPs``) and hls4ml's hierarchical ``util.rpt`` (``(top)`` row). Vivado
  counts Block RAM in 36 Kb tiles; hwsim's ``BRAM_18K`` is ``2 x tiles`` (a RAMB36 holds two
  RAMB18). These are post-synthesis (or post-implementation) counts.
* hls4ml ``parse_vivado_report`` dictionaries saved as JSON (``parse_hls4ml_json``), e.g.
  hls4ml's CI baselines: ``CSynthesisReport`` -> an ``hls_estimate`` record,
  ``VivadoSynthReport`` -> a ``post_synthesis`` record (its key ``BRAM_18K`` holds the Vivado
  *Block RAM Tile* count, so hwsim doubles it), ``ImplementationReport`` ->
  ``post_implementation``. oneAPI report dictionaries are read into ``extra`` only (Intel
  ALUT/REG/M20K are not Xilinx LUT/FF/BRAM_18K).
* A table of many designs in CSV (``parse_design_csv``): the wa-hls4ml columns
  (``BestLatency_hls``, ``DSP_hls``...; Hawks, Weitz, Demler et al., arXiv:2511.05615).
* A per-layer CSV of one design (``parse_layer_csv``), e.g. the hls4ml tutorial CNN table,
  with a ``top`` row holding the totals.

HLS estimates (``kind='hls_estimate'``) and Vivado post-synthesis numbers
(``kind='post_synthesis'``) are different quantities and are never merged into one record.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hwsim.errors import ReportError

log = logging.getLogger(__name__)

KINDS = ("hls_estimate", "post_synthesis", "post_implementation")

#: metric name (as used by validation and by the fpga backend's totals) -> SynthRecord field
METRIC_FIELDS: dict[str, str] = {
    "latency_cycles": "latency_best",
    "ii_cycles": "interval_min",
    "DSP": "DSP",
    "LUT": "LUT",
    "FF": "FF",
    "BRAM_18K": "BRAM_18K",
}
RESOURCE_FIELDS = ("DSP", "LUT", "FF", "BRAM_18K", "URAM")


@dataclass(frozen=True)
class ModuleRow:
    """One module/instance (usually one hls4ml layer) of a synthesis report.

    Latency/interval in clock cycles; resources in counts (``BRAM_18K`` in 18 Kb blocks).
    ``None`` where the report gives no value (``-`` or ``?``).
    """

    instance: str
    module: str
    latency_best: int | None = None
    latency_worst: int | None = None
    interval_min: int | None = None
    interval_max: int | None = None
    pipeline_type: str | None = None
    DSP: float | None = None
    LUT: float | None = None
    FF: float | None = None
    BRAM_18K: float | None = None
    URAM: float | None = None


@dataclass(frozen=True)
class SynthRecord:
    """One synthesis result of one design.

    ``kind`` is ``hls_estimate`` (csynth), ``post_synthesis`` (Vivado synth
    ``report_utilization``) or ``post_implementation`` (placed and routed). Clock periods in
    ns; latency and interval in clock cycles; resources as counts (``BRAM_18K`` in 18 Kb
    blocks, half blocks allowed as Vitis reports them). ``identity`` carries what the report
    itself says about the model and configuration (top name, model string, precision, reuse
    factor...). ``available`` holds the part's resources where the report lists them.
    """

    id: str
    source: str
    kind: str
    model: str | None = None
    identity: Mapping[str, Any] = field(default_factory=dict)
    part: str | None = None
    clock_target_ns: float | None = None
    clock_estimated_ns: float | None = None
    tool: str | None = None
    tool_version: str | None = None
    latency_best: int | None = None
    latency_worst: int | None = None
    interval_min: int | None = None
    interval_max: int | None = None
    DSP: float | None = None
    LUT: float | None = None
    FF: float | None = None
    BRAM_18K: float | None = None
    URAM: float | None = None
    modules: tuple[ModuleRow, ...] = ()
    available: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"record {self.id!r}: unknown kind {self.kind!r} (expected one of {KINDS})")

    def metric(self, name: str) -> float | None:
        """The reported value of a validation metric (``latency_cycles``, ``ii_cycles``,
        ``DSP``, ``LUT``, ``FF``, ``BRAM_18K``), ``None`` when not reported."""
        fld = METRIC_FIELDS.get(name)
        if fld is None:
            raise KeyError(name)
        v = getattr(self, fld)
        return None if v is None else float(v)

    def metric_range(self, name: str) -> tuple[float, float] | None:
        """``(best, worst)`` for latency and ``(min, max)`` for II; ``(v, v)`` otherwise."""
        if name == "latency_cycles":
            lo, hi = self.latency_best, self.latency_worst
        elif name == "ii_cycles":
            lo, hi = self.interval_min, self.interval_max
        else:
            v = self.metric(name)
            return None if v is None else (v, v)
        if lo is None:
            return None
        return float(lo), float(hi if hi is not None else lo)

    def with_updates(self, **changes: Any) -> SynthRecord:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if k == "modules":
                v = [m.__dict__ for m in v]
            elif isinstance(v, Mapping):
                v = dict(v)
            d[k] = v
        return d


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------


def _num(text: Any, where: str, what: str, integer: bool = False, allow_missing: bool = True) -> Any:
    """Parse a report cell: ``-``, ``?``, ``''``, ``N/A`` -> None; '12 (3%)' -> 12."""
    if text is None:
        if allow_missing:
            return None
        raise ReportError(f"{where}: missing value for {what}")
    s = str(text).strip()
    if s in ("", "-", "?", "N/A", "NA", "undef", "none", "None", "nan"):
        if allow_missing:
            return None
        raise ReportError(f"{where}: missing value for {what}")
    s = s.split("(")[0].strip().replace(",", "")
    s = re.sub(r"\s*ns$", "", s)
    try:
        v = float(s)
    except ValueError:
        raise ReportError(f"{where}: cannot read {what} from {text!r}") from None
    if not math.isfinite(v):
        raise ReportError(f"{where}: {what} is not finite ({text!r})")
    if integer:
        if not v.is_integer():
            raise ReportError(f"{where}: {what} must be an integer, got {text!r}")
        return int(v)
    return v


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise ReportError(f"{path}: report not found")
    try:
        return path.read_text(errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read the report ({exc})") from None


def _tool_from_path(path: Path) -> tuple[str | None, str | None]:
    """hls4ml CI layout ``<Backend>/<version>/<file>.json`` -> (tool, version)."""
    parts = path.resolve().parts
    for i in range(len(parts) - 2, 0, -1):
        name, ver = parts[i - 1], parts[i]
        if re.fullmatch(r"\d{4}\.\d+(\.\d+)*", ver):
            low = name.lower()
            if low == "vivado":
                return "Vivado HLS", ver
            if low == "vitis":
                return "Vitis HLS", ver
            if low == "oneapi":
                return "oneAPI", ver
            return name, ver
    return None, None


# ---------------------------------------------------------------------------------------------
# csynth.xml
# ---------------------------------------------------------------------------------------------


def _xml_root(path: Path) -> ET.Element:
    text = _read_text(path)
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ReportError(f"{path}: not a valid XML report ({exc})") from None


def _xml_resources(node: ET.Element | None, where: str) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    if node is None:
        return out
    for child in node:
        tag = "DSP" if child.tag in ("DSP48E", "DSP48", "DSP") else child.tag
        out[tag] = _num(child.text, where, tag)
    return out


def _csynth_tool(root: ET.Element, path: Path, dsp_tag: str | None) -> str:
    if (path.parent / "vivado_hls.app").is_file() or (path.parent.parent.parent / "vivado_hls.app").is_file():
        return "Vivado HLS"
    if (path.parent / "hls.app").is_file() or (path.parent.parent.parent / "hls.app").is_file():
        return "Vitis HLS"
    # Vivado HLS writes <DSP48E>, Vitis HLS writes <DSP>
    return "Vivado HLS" if dsp_tag == "DSP48E" else "Vitis HLS"


def parse_csynth_xml(path: str | Path, record_id: str | None = None) -> SynthRecord:
    """Parse one ``*_csynth.xml`` (top or module) into an ``hls_estimate`` record."""
    p = Path(path)
    root = _xml_root(p)
    where = str(p)
    if root.tag != "profile" or root.find("PerformanceEstimates") is None or root.find("AreaEstimates") is None:
        raise ReportError(f"{where}: not a csynth XML report (no profile/PerformanceEstimates/AreaEstimates)")
    ua = root.find("UserAssignments")
    perf = root.find("PerformanceEstimates")
    assert perf is not None
    lat = perf.find("SummaryOfOverallLatency")
    if lat is None:
        raise ReportError(f"{where}: no SummaryOfOverallLatency (truncated report?)")
    res_node = root.find("AreaEstimates/Resources")
    if res_node is None:
        raise ReportError(f"{where}: no AreaEstimates/Resources (truncated report?)")
    dsp_tag = next((c.tag for c in res_node if c.tag.startswith("DSP")), None)
    res = _xml_resources(res_node, where)
    avail = {k: v for k, v in _xml_resources(root.find("AreaEstimates/AvailableResources"), where).items() if v is not None}

    def tx(node: ET.Element | None, tag: str) -> str | None:
        if node is None:
            return None
        n = node.find(tag)
        return None if n is None else n.text

    top = tx(ua, "TopModelName") or p.name.replace("_csynth.xml", "")
    version = tx(root.find("ReportVersion"), "Version")
    for req in ("Best-caseLatency", "Interval-min"):
        if lat.find(req) is None:
            raise ReportError(f"{where}: SummaryOfOverallLatency lacks {req}")
    modules = tuple(_xml_module_rows(root, where))
    return SynthRecord(
        id=record_id or f"{p.parent.name}/{p.name}",
        source=where,
        kind="hls_estimate",
        model=top,
        identity={"top": top},
        part=tx(ua, "Part"),
        clock_target_ns=_num(tx(ua, "TargetClockPeriod"), where, "TargetClockPeriod"),
        clock_estimated_ns=_num(tx(perf.find("SummaryOfTimingAnalysis"), "EstimatedClockPeriod"), where, "EstimatedClockPeriod"),
        tool=_csynth_tool(root, p, dsp_tag),
        tool_version=version,
        latency_best=_num(tx(lat, "Best-caseLatency"), where, "Best-caseLatency", integer=True),
        latency_worst=_num(tx(lat, "Worst-caseLatency"), where, "Worst-caseLatency", integer=True),
        interval_min=_num(tx(lat, "Interval-min"), where, "Interval-min", integer=True),
        interval_max=_num(tx(lat, "Interval-max"), where, "Interval-max", integer=True),
        DSP=res.get("DSP"),
        LUT=res.get("LUT"),
        FF=res.get("FF"),
        BRAM_18K=res.get("BRAM_18K"),
        URAM=res.get("URAM"),
        modules=modules,
        available=avail,
        extra={"pipeline_type": tx(perf, "PipelineType")} if tx(perf, "PipelineType") else {},
    )


def _xml_module_rows(root: ET.Element, where: str) -> Iterable[ModuleRow]:
    """Vitis HLS top reports may embed ``ModuleInformation/Module`` blocks (one per module)."""
    for mod in root.findall("ModuleInformation/Module"):
        name = (mod.findtext("Name") or "").strip()
        if not name:
            continue
        lat = mod.find("PerformanceEstimates/SummaryOfOverallLatency")
        res = _xml_resources(mod.find("AreaEstimates/Resources"), f"{where} (module {name})")
        yield ModuleRow(
            instance=name,
            module=name,
            latency_best=_num(lat.findtext("Best-caseLatency"), where, f"{name} latency", integer=True)
            if lat is not None
            else None,
            latency_worst=_num(lat.findtext("Worst-caseLatency"), where, f"{name} latency", integer=True)
            if lat is not None
            else None,
            interval_min=_num(lat.findtext("Interval-min"), where, f"{name} interval", integer=True) if lat is not None else None,
            interval_max=_num(lat.findtext("Interval-max"), where, f"{name} interval", integer=True) if lat is not None else None,
            DSP=res.get("DSP"),
            LUT=res.get("LUT"),
            FF=res.get("FF"),
            BRAM_18K=res.get("BRAM_18K"),
            URAM=res.get("URAM"),
        )


# ---------------------------------------------------------------------------------------------
# csynth.rpt (text)
# ---------------------------------------------------------------------------------------------

_SEP = re.compile(r"^\s*\+[-+]+\+\s*$")


def _tables(lines: Sequence[str]) -> list[list[list[str]]]:
    """Split ASCII tables (``+---+`` separated, ``|`` delimited) into lists of rows of cells.

    Each table is a list of blocks; each block a list of raw ``|...|`` lines. Returns, per
    table, the list of blocks (header block first)."""
    tables: list[list[list[str]]] = []
    cur: list[list[str]] | None = None
    block: list[str] = []
    for line in lines:
        if _SEP.match(line):
            if cur is None:
                cur = []
            elif block:
                cur.append(block)
            block = []
        elif line.strip().startswith("|") and cur is not None:
            block.append(line)
        else:
            if cur is not None:
                if block:
                    cur.append(block)
                if cur:
                    tables.append(cur)
            cur, block = None, []
    if cur is not None:
        if block:
            cur.append(block)
        if cur:
            tables.append(cur)
    return tables


def _cells(line: str) -> list[str]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return [c.strip() for c in s.split("|")]


def _sections(text: str) -> dict[str, list[str]]:
    """``== Title`` sections of a csynth.rpt -> their lines."""
    out: dict[str, list[str]] = {}
    title = "_head"
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^==\s*(.+?)\s*$", line)
        if m and i > 0 and lines[i - 1].startswith("====="):
            title = m.group(1)
            out.setdefault(title, [])
            i += 2  # skip the closing ===== line
            continue
        out.setdefault(title, []).append(line)
        i += 1
    return out


def _subsection(lines: Sequence[str], marker: str) -> list[str]:
    """Lines after ``* marker:`` up to the next ``* X:`` or ``+ X:`` marker."""
    out: list[str] = []
    inside = False
    for line in lines:
        s = line.strip()
        if re.match(r"^[*+]\s*[\w ]+:\s*$", s):
            if inside:
                break
            inside = s.lstrip("*+ ").rstrip(": ").lower() == marker.lower()
            continue
        if inside:
            out.append(line)
    return out


def parse_csynth_rpt(path: str | Path, record_id: str | None = None) -> SynthRecord:
    """Parse a text ``*_csynth.rpt`` (Vivado HLS or Vitis HLS) into an ``hls_estimate``
    record with per-instance rows (latency, interval, resources)."""
    p = Path(path)
    text = _read_text(p)
    where = str(p)
    m = re.search(r"==\s*(Vivado HLS|Vitis HLS)\s+Report for '([^']+)'", text)
    if not m:
        raise ReportError(f"{where}: not a Vivado/Vitis HLS csynth report (no 'HLS Report for' header)")
    tool, top = m.group(1), m.group(2)
    version = re.search(r"\*\s*Version:\s*([\d.]+)", text)
    part = re.search(r"\*\s*(?:Target device|Target Device):\s*(\S+)", text)
    secs = _sections(text)
    perf = secs.get("Performance Estimates")
    util = secs.get("Utilization Estimates")
    if perf is None or util is None:
        raise ReportError(f"{where}: lacks the Performance or Utilization Estimates section (truncated report?)")

    # clock
    clock_target = clock_est = None
    for t in _tables(_subsection(perf, "Summary")):
        for blk in t[1:]:
            for row in blk:
                c = _cells(row)
                if len(c) >= 3 and c[0] == "ap_clk":
                    clock_target = _num(c[1], where, "target clock")
                    clock_est = _num(c[2], where, "estimated clock")
        if clock_target is not None:
            break
    # latency summary: the first table in the Latency part whose data row has 7 cells
    lat_lines = perf[next((i for i, ln in enumerate(perf) if ln.strip().startswith("+ Latency")), 0) :]
    summary = None
    for t in _tables(_subsection(lat_lines, "Summary")):
        for blk in t[1:]:
            for row in blk:
                c = _cells(row)
                if len(c) >= 6 and _looks_num(c[0]):
                    summary = c
                    break
            if summary:
                break
        if summary:
            break
    if summary is None:
        raise ReportError(f"{where}: no latency summary row found")
    lat_best = _num(summary[0], where, "latency min", integer=True)
    lat_worst = _num(summary[1], where, "latency max", integer=True)
    ii_min = _num(summary[4], where, "interval min", integer=True)
    ii_max = _num(summary[5], where, "interval max", integer=True)
    ptype = summary[6] if len(summary) > 6 else None

    # per-instance latency (Detail / Instance in the Latency part)
    inst_lat: dict[str, dict[str, Any]] = {}
    for t in _tables(_subsection(lat_lines, "Instance")):
        for blk in t[1:]:
            for row in blk:
                c = _cells(row)
                if len(c) >= 8 and c[0] and c[0] != "Total":
                    inst_lat[c[0]] = {
                        "module": c[1],
                        "latency_best": _num(c[2], where, f"{c[0]} latency min", integer=True),
                        "latency_worst": _num(c[3], where, f"{c[0]} latency max", integer=True),
                        "interval_min": _num(c[6], where, f"{c[0]} interval min", integer=True),
                        "interval_max": _num(c[7], where, f"{c[0]} interval max", integer=True),
                        "pipeline_type": c[8] if len(c) > 8 else None,
                    }
    # utilization summary: the Total row; header names the columns
    totals: dict[str, float | None] = {}
    available: dict[str, float] = {}
    util_tables = _tables(_subsection(util, "Summary"))
    if not util_tables:
        raise ReportError(f"{where}: no utilization summary table")
    ut = util_tables[0]
    header = [_norm_res(h) for h in _cells(ut[0][0])]
    for blk in ut[1:]:
        for row in blk:
            c = _cells(row)
            if c and c[0] in ("Total", "Available"):
                vals = {header[i]: _num(c[i], where, f"{c[0]} {header[i]}") for i in range(1, min(len(c), len(header)))}
                if c[0] == "Total":
                    totals = vals
                else:
                    available = {k: v for k, v in vals.items() if v is not None}
    if not totals:
        raise ReportError(f"{where}: the utilization summary has no Total row")
    # per-instance resources (Detail / Instance in the Utilization part)
    inst_res: dict[str, dict[str, Any]] = {}
    for t in _tables(_subsection(util, "Instance")):
        hdr = [_norm_res(h) for h in _cells(t[0][0])]
        for blk in t[1:]:
            for row in blk:
                c = _cells(row)
                if len(c) >= 3 and c[0] and c[0] != "Total":
                    inst_res[c[0]] = {
                        "module": c[1],
                        **{hdr[i]: _num(c[i], where, f"{c[0]} {hdr[i]}") for i in range(2, min(len(c), len(hdr)))},
                    }
        break
    names = list(dict.fromkeys(list(inst_lat) + list(inst_res)))
    modules = tuple(
        ModuleRow(
            instance=n,
            module=str(inst_lat.get(n, {}).get("module") or inst_res.get(n, {}).get("module") or n),
            latency_best=inst_lat.get(n, {}).get("latency_best"),
            latency_worst=inst_lat.get(n, {}).get("latency_worst"),
            interval_min=inst_lat.get(n, {}).get("interval_min"),
            interval_max=inst_lat.get(n, {}).get("interval_max"),
            pipeline_type=inst_lat.get(n, {}).get("pipeline_type"),
            DSP=inst_res.get(n, {}).get("DSP"),
            LUT=inst_res.get(n, {}).get("LUT"),
            FF=inst_res.get(n, {}).get("FF"),
            BRAM_18K=inst_res.get(n, {}).get("BRAM_18K"),
            URAM=inst_res.get(n, {}).get("URAM"),
        )
        for n in names
    )
    return SynthRecord(
        id=record_id or f"{p.parent.name}/{p.name}",
        source=where,
        kind="hls_estimate",
        model=top,
        identity={"top": top},
        part=part.group(1) if part else None,
        clock_target_ns=clock_target,
        clock_estimated_ns=clock_est,
        tool=tool,
        tool_version=version.group(1) if version else None,
        latency_best=lat_best,
        latency_worst=lat_worst,
        interval_min=ii_min,
        interval_max=ii_max,
        DSP=totals.get("DSP"),
        LUT=totals.get("LUT"),
        FF=totals.get("FF"),
        BRAM_18K=totals.get("BRAM_18K"),
        URAM=totals.get("URAM"),
        modules=modules,
        available=available,
        extra={"pipeline_type": ptype} if ptype else {},
    )


def _looks_num(s: str) -> bool:
    return bool(re.fullmatch(r"\s*[\d.]+\s*", s)) or s.strip() == "?"


def _norm_res(h: str) -> str:
    h = h.strip()
    if h.startswith("DSP"):
        return "DSP"
    return h


# ---------------------------------------------------------------------------------------------
# Vivado report_utilization
# ---------------------------------------------------------------------------------------------


def parse_vivado_utilization(path: str | Path, record_id: str | None = None, kind: str | None = None) -> SynthRecord:
    """Parse Vivado ``report_utilization`` output (flat ``vivado_synth.rpt`` or hls4ml's
    hierarchical ``util.rpt``). ``BRAM_18K = 2 x Block RAM Tile`` (36 Kb tiles); the flat
    form is ``post_synthesis`` unless the report says the design is routed/placed."""
    p = Path(path)
    text = _read_text(p)
    where = str(p)
    if "report_utilization" not in text and "Utilization Design Information" not in text and "(top)" not in text:
        raise ReportError(f"{where}: not a Vivado report_utilization report")
    version = re.search(r"Tool Version\s*:\s*Vivado v\.?([\d.]+)", text)
    device = re.search(r"\|\s*Device\s*:\s*(\S+)", text)
    design = re.search(r"\|\s*Design\s*:\s*(\S+)", text)
    state = re.search(r"\|\s*Design State\s*:\s*(.+?)\s*$", text, re.M)
    if kind is None:
        st = state.group(1).lower() if state else ""
        kind = "post_implementation" if ("routed" in st or "placed" in st or "implemented" in st) else "post_synthesis"
    lines = text.splitlines()
    values: dict[str, float | None] = {}
    available: dict[str, float] = {}
    hier = [ln for ln in lines if "(top)" in ln and ln.strip().startswith("|")]
    if hier:
        # hierarchical: | Instance | Module | Total LUTs | Logic LUTs | LUTRAMs | SRLs | FFs | RAMB36 | RAMB18 | [URAM |] DSP48 Blocks |
        header = None
        for ln in lines:
            if ln.strip().startswith("|") and "Total LUTs" in ln:
                header = [h.strip() for h in _cells(ln)]
                break
        c = _cells(hier[0])
        if header is None or len(c) < len(header):
            raise ReportError(f"{where}: hierarchical utilization table without a readable header")
        col = {h: c[i] for i, h in enumerate(header)}
        ramb36 = _num(col.get("RAMB36"), where, "RAMB36") or 0.0
        ramb18 = _num(col.get("RAMB18"), where, "RAMB18") or 0.0
        values = {
            "LUT": _num(col.get("Total LUTs"), where, "Total LUTs"),
            "FF": _num(col.get("FFs"), where, "FFs"),
            "BRAM_18K": 2 * ramb36 + ramb18,
            "URAM": _num(col.get("URAM"), where, "URAM"),
            "DSP": _num(col.get("DSP48 Blocks") or col.get("DSP Blocks"), where, "DSP48 Blocks"),
        }
    else:
        section = 0
        for line in lines:
            m = re.match(r"^(\d+)\.\s", line)
            if m:
                section = int(m.group(1))
            if not line.strip().startswith("|"):
                continue
            c = _cells(line)
            if len(c) < 2:
                continue
            name = c[0].rstrip("*").strip()
            target = {
                "CLB LUTs": "LUT",
                "Slice LUTs": "LUT",
                "CLB Registers": "FF",
                "Slice Registers": "FF",
                "Block RAM Tile": "BRAM_TILE",
                "URAM": "URAM",
                "DSPs": "DSP",
            }.get(name)
            if target is None or target in values:
                continue
            if target in ("LUT", "FF") and section not in (0, 1):
                continue
            used = _num(c[1], where, name, allow_missing=False)
            avail = _num(c[3], where, f"{name} available") if len(c) > 3 and c[3] else None
            values[target] = used
            if avail is not None:
                available[target] = avail
        for req in ("LUT", "FF", "DSP", "BRAM_TILE"):
            if req not in values:
                raise ReportError(
                    f"{where}: report_utilization lacks the {req.replace('BRAM_TILE', 'Block RAM Tile')} row (truncated report?)"
                )
        tiles = values.pop("BRAM_TILE")
        values["BRAM_18K"] = None if tiles is None else 2.0 * tiles
        if "BRAM_TILE" in available:
            available["BRAM_18K"] = 2.0 * available.pop("BRAM_TILE")
    return SynthRecord(
        id=record_id or f"{p.parent.name}/{p.name}",
        source=where,
        kind=kind,
        model=design.group(1) if design else None,
        identity={"top": design.group(1)} if design else {},
        part=device.group(1) if device else None,
        tool="Vivado",
        tool_version=version.group(1) if version else None,
        DSP=values.get("DSP"),
        LUT=values.get("LUT"),
        FF=values.get("FF"),
        BRAM_18K=values.get("BRAM_18K"),
        URAM=values.get("URAM"),
        available=available,
        extra={"design_state": state.group(1)} if state else {},
    )


# ---------------------------------------------------------------------------------------------
# hls4ml parse_vivado_report dictionaries (JSON)
# ---------------------------------------------------------------------------------------------


def records_from_hls4ml_dict(
    data: Mapping[str, Any],
    where: str,
    record_id: str,
    tool: str | None = None,
    tool_version: str | None = None,
    part: str | None = None,
) -> list[SynthRecord]:
    """Records of one ``hls4ml.report.parse_vivado_report`` dictionary.

    ``CSynthesisReport`` -> ``hls_estimate``; ``VivadoSynthReport`` -> ``post_synthesis`` with
    ``BRAM_18K = 2 x`` its ``BRAM_18K`` value (hls4ml stores the *Block RAM Tile* count under
    that key) and ``DSP`` from ``DSP48E``; ``ImplementationReport`` ->
    ``post_implementation`` (``BRAM_18K = 2 x RAMB36s + RAMB18s``). A oneAPI dictionary
    (``report.HLS``) becomes one record whose Intel resource counts sit in ``extra``.
    """
    if not isinstance(data, Mapping):
        raise ReportError(f"{where}: an hls4ml report must be a JSON object")
    out: list[SynthRecord] = []
    cs = data.get("CSynthesisReport")
    if cs is not None:
        if not isinstance(cs, Mapping) or "BestLatency" not in cs:
            raise ReportError(f"{where}: CSynthesisReport lacks BestLatency")
        avail = {k[len("Available") :]: _num(v, where, k) for k, v in cs.items() if k.startswith("Available")}
        out.append(
            SynthRecord(
                id=record_id if len(data) == 1 or "VivadoSynthReport" not in data else f"{record_id}:csynth",
                source=where,
                kind="hls_estimate",
                part=part,
                clock_target_ns=_num(cs.get("TargetClockPeriod"), where, "TargetClockPeriod"),
                clock_estimated_ns=_num(cs.get("EstimatedClockPeriod"), where, "EstimatedClockPeriod"),
                tool=tool,
                tool_version=tool_version,
                latency_best=_num(cs.get("BestLatency"), where, "BestLatency", integer=True),
                latency_worst=_num(cs.get("WorstLatency"), where, "WorstLatency", integer=True),
                interval_min=_num(cs.get("IntervalMin"), where, "IntervalMin", integer=True),
                interval_max=_num(cs.get("IntervalMax"), where, "IntervalMax", integer=True),
                DSP=_num(cs.get("DSP", cs.get("DSP48E")), where, "DSP"),
                LUT=_num(cs.get("LUT"), where, "LUT"),
                FF=_num(cs.get("FF"), where, "FF"),
                BRAM_18K=_num(cs.get("BRAM_18K"), where, "BRAM_18K"),
                URAM=_num(cs.get("URAM"), where, "URAM"),
                available={k: v for k, v in avail.items() if v is not None},
            )
        )
    vs = data.get("VivadoSynthReport")
    if vs is not None:
        if not isinstance(vs, Mapping):
            raise ReportError(f"{where}: VivadoSynthReport must be an object")
        tiles = _num(vs.get("BRAM_18K"), where, "VivadoSynthReport BRAM_18K (Block RAM Tile)")
        out.append(
            SynthRecord(
                id=f"{record_id}:vsynth",
                source=where,
                kind="post_synthesis",
                part=part,
                tool="Vivado",
                tool_version=tool_version,
                DSP=_num(vs.get("DSP48E", vs.get("DSP")), where, "DSP48E"),
                LUT=_num(vs.get("LUT"), where, "LUT"),
                FF=_num(vs.get("FF"), where, "FF"),
                BRAM_18K=None if tiles is None else 2.0 * tiles,
                URAM=_num(vs.get("URAM"), where, "URAM"),
            )
        )
    impl = data.get("ImplementationReport")
    if isinstance(impl, Mapping) and impl:
        b36 = _num(impl.get("RAMB36s"), where, "RAMB36s") or 0.0
        b18 = _num(impl.get("RAMB18s"), where, "RAMB18s") or 0.0
        out.append(
            SynthRecord(
                id=f"{record_id}:impl",
                source=where,
                kind="post_implementation",
                part=part,
                tool="Vivado",
                tool_version=tool_version,
                DSP=_num(impl.get("DSPs"), where, "DSPs"),
                LUT=_num(impl.get("TotLUTs"), where, "TotLUTs"),
                FF=_num(impl.get("FFs"), where, "FFs"),
                BRAM_18K=2 * b36 + b18,
                URAM=_num(impl.get("URAMs"), where, "URAMs"),
            )
        )
    rep = data.get("report")
    if isinstance(rep, Mapping) and isinstance(rep.get("HLS"), Mapping):
        total = rep["HLS"].get("total", {})
        loop = rep.get("Loop", {}) if isinstance(rep.get("Loop"), Mapping) else {}
        extra = {f"intel_{k}": _num(v, where, k) for k, v in dict(total).items()}
        extra.update({f"loop_{k}": _num(v, where, k) for k, v in dict(loop).items()})
        out.append(
            SynthRecord(
                id=record_id,
                source=where,
                kind="hls_estimate",
                part=part,
                tool=tool or "oneAPI",
                tool_version=tool_version,
                extra=extra,
            )
        )
    if not out:
        raise ReportError(f"{where}: no CSynthesisReport, VivadoSynthReport or oneAPI report in the hls4ml dictionary")
    return out


def parse_hls4ml_json(path: str | Path, record_id: str | None = None, part: str | None = None) -> list[SynthRecord]:
    """Parse a JSON file holding an hls4ml ``parse_vivado_report`` dictionary. The tool and
    version come from a ``<Backend>/<version>/`` folder layout (hls4ml CI) when present."""
    p = Path(path)
    text = _read_text(p)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{p}: not valid JSON ({exc})") from None
    tool, ver = _tool_from_path(p)
    rid = record_id or (f"{tool}-{ver}/{p.stem}" if tool else p.stem).replace(" ", "")
    return records_from_hls4ml_dict(data, str(p), rid, tool=tool, tool_version=ver, part=part)


# ---------------------------------------------------------------------------------------------
# CSV tables
# ---------------------------------------------------------------------------------------------

#: wa-hls4ml column -> SynthRecord field
WA_COLUMNS = {
    "BestLatency_hls": "latency_best",
    "WorstLatency_hls": "latency_worst",
    "IntervalMin_hls": "interval_min",
    "IntervalMax_hls": "interval_max",
    "DSP_hls": "DSP",
    "LUT_hls": "LUT",
    "FF_hls": "FF",
    "BRAM_18K_hls": "BRAM_18K",
    "URAM_hls": "URAM",
    "TargetClockPeriod_hls": "clock_target_ns",
    "EstimatedClockPeriod_hls": "clock_estimated_ns",
}
WA_IDENTITY = ("model_string", "model_name", "d_in", "d_out", "prec", "rf", "strategy", "model_file")
_INT_FIELDS = {"latency_best", "latency_worst", "interval_min", "interval_max"}


def _csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    text = _read_text(path)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ReportError(f"{path}: empty CSV")
    try:
        reader = csv.DictReader(io.StringIO("\n".join(lines)))
        rows = list(reader)
    except csv.Error as exc:
        raise ReportError(f"{path}: malformed CSV ({exc})") from None
    header = list(reader.fieldnames or [])
    for i, r in enumerate(rows):
        if None in r or any(v is None for v in r.values()):
            raise ReportError(f"{path}: row {i + 1} has a different number of cells than the header (truncated file?)")
    return header, rows


def parse_design_csv(
    path: str | Path,
    part: str | None = None,
    tool: str | None = None,
    tool_version: str | None = None,
    kind: str = "hls_estimate",
    id_prefix: str | None = None,
    rows: Sequence[int] | None = None,
) -> list[SynthRecord]:
    """Parse a CSV of many designs with the wa-hls4ml columns (one record per row).

    The wa-hls4ml table does not name the part or tool in its rows (its README does:
    xcu250-figd2104-2L-e, Vitis HLS 2023.2): pass them. ``rows`` selects 0-based data rows.
    Rows with ``hls_synth_success`` false are skipped. Record ids are
    ``<prefix>:<model_file stem>`` (unique per synthesis run) or ``<prefix>:row<i>``.
    """
    p = Path(path)
    header, data = _csv_rows(p)
    missing = [
        c for c in ("BestLatency_hls", "IntervalMin_hls", "DSP_hls", "LUT_hls", "FF_hls", "BRAM_18K_hls") if c not in header
    ]
    if missing:
        raise ReportError(f"{p}: not a design table with wa-hls4ml columns (missing {', '.join(missing)})")
    prefix = id_prefix or p.stem
    wanted = set(rows) if rows is not None else None
    if wanted is not None:
        bad = [i for i in wanted if not 0 <= i < len(data)]
        if bad:
            raise ReportError(f"{p}: row(s) {bad} out of range (the table has {len(data)} rows)")
    out: list[SynthRecord] = []
    seen: set[str] = set()
    for i, r in enumerate(data):
        if wanted is not None and i not in wanted:
            continue
        if str(r.get("hls_synth_success", "true")).strip().lower() in ("false", "0", "no"):
            continue
        where = f"{p}:row{i + 1}"
        vals: dict[str, Any] = {}
        for col, fld in WA_COLUMNS.items():
            if col in r:
                vals[fld] = _num(r[col], where, col, integer=fld in _INT_FIELDS)
        ident = {k: _ident_value(r[k]) for k in WA_IDENTITY if k in r}
        mf = str(r.get("model_file", "")).strip()
        rid = f"{prefix}:{mf.split('.')[0]}" if mf else f"{prefix}:row{i}"
        if rid in seen:
            rid = f"{prefix}:row{i}"
        seen.add(rid)
        out.append(
            SynthRecord(
                id=rid,
                source=where,
                kind=kind,
                model=str(r.get("model_string") or r.get("model_name") or f"row{i}"),
                identity={**ident, "row": i},
                part=part,
                tool=tool,
                tool_version=tool_version,
                **vals,
            )
        )
    return out


def _ident_value(v: str) -> Any:
    s = str(v).strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    return s


def parse_layer_csv(
    path: str | Path,
    record_id: str | None = None,
    part: str | None = None,
    tool: str | None = None,
    tool_version: str | None = None,
    clock_target_ns: float | None = None,
    kind: str = "hls_estimate",
    top_row: str = "top",
) -> SynthRecord:
    """Parse a per-layer CSV of one design (``layer, latency_cycles, DSP, FF, LUT[, BRAM_18K,
    interval_cycles]``): the row named ``top_row`` gives the totals, the others become
    :class:`ModuleRow` s. ``#`` lines are comments."""
    p = Path(path)
    header, data = _csv_rows(p)
    if "layer" not in header or "latency_cycles" not in header:
        raise ReportError(f"{p}: not a per-layer table (needs columns 'layer' and 'latency_cycles')")
    modules: list[ModuleRow] = []
    top: dict[str, Any] | None = None
    for i, r in enumerate(data):
        where = f"{p}:row{i + 1}"
        vals = {
            "latency_best": _num(r.get("latency_cycles"), where, "latency_cycles", integer=True),
            "interval_min": _num(r.get("interval_cycles"), where, "interval_cycles", integer=True),
            "DSP": _num(r.get("DSP"), where, "DSP"),
            "LUT": _num(r.get("LUT"), where, "LUT"),
            "FF": _num(r.get("FF"), where, "FF"),
            "BRAM_18K": _num(r.get("BRAM_18K"), where, "BRAM_18K"),
        }
        if r["layer"].strip() == top_row:
            top = vals
        else:
            modules.append(
                ModuleRow(instance=r["layer"].strip(), module=r["layer"].strip(), latency_worst=vals["latency_best"], **vals)
            )
    if top is None:
        raise ReportError(f"{p}: no {top_row!r} row with the design totals")
    return SynthRecord(
        id=record_id or p.stem,
        source=str(p),
        kind=kind,
        model=p.stem,
        part=part,
        tool=tool,
        tool_version=tool_version,
        clock_target_ns=clock_target_ns,
        latency_worst=top["latency_best"],
        interval_max=top["interval_min"],
        modules=tuple(modules),
        **top,
    )


# ---------------------------------------------------------------------------------------------
# dispatch
# ---------------------------------------------------------------------------------------------


def parse_report_dir(path: str | Path) -> list[SynthRecord]:
    """An hls4ml project folder or a ``syn/report`` folder: the top ``*_csynth.xml`` (with
    Vitis per-module ``*_csynth.xml`` attached as modules, and the text report's per-instance
    rows when present) plus ``vivado_synth.rpt`` / ``util.rpt`` as separate records."""
    d = Path(path)
    xmls = sorted(d.rglob("*_csynth.xml"))
    out: list[SynthRecord] = []
    if xmls:
        # the top is the one named in hls4ml's project (myproject) or the one without a
        # sibling that references it: choose the largest latency report named like the folder
        top_xml = _pick_top(xmls)
        rec = parse_csynth_xml(top_xml, record_id=f"{d.name}:csynth")
        rpt = top_xml.with_suffix(".rpt")
        if rpt.is_file():
            trec = parse_csynth_rpt(rpt)
            if trec.modules and not rec.modules:
                rec = rec.with_updates(modules=trec.modules)
        others = [x for x in xmls if x != top_xml and x.parent == top_xml.parent]
        if others and not rec.modules:
            mods = []
            for x in others:
                m = parse_csynth_xml(x)
                name = x.name[: -len("_csynth.xml")] if x.name.endswith("_csynth.xml") else str(m.model)
                mods.append(
                    ModuleRow(
                        instance=name,
                        module=name,
                        latency_best=m.latency_best,
                        latency_worst=m.latency_worst,
                        interval_min=m.interval_min,
                        interval_max=m.interval_max,
                        DSP=m.DSP,
                        LUT=m.LUT,
                        FF=m.FF,
                        BRAM_18K=m.BRAM_18K,
                        URAM=m.URAM,
                    )
                )
            rec = rec.with_updates(modules=tuple(mods))
        out.append(rec)
    else:
        rpts = sorted(d.rglob("*_csynth.rpt"))
        if rpts:
            out.append(parse_csynth_rpt(rpts[0], record_id=f"{d.name}:csynth"))
    for name in ("vivado_synth.rpt", "util.rpt"):
        f = d / name
        if f.is_file():
            out.append(parse_vivado_utilization(f, record_id=f"{d.name}:{f.stem}"))
    if not out:
        raise ReportError(f"{d}: no csynth report, vivado_synth.rpt or util.rpt in this folder")
    # a post-synthesis record inherits the part/model of the HLS record
    if out and out[0].kind == "hls_estimate":
        base = out[0]
        out = [out[0]] + [
            r.with_updates(
                model=r.model or base.model,
                identity={**base.identity, **r.identity},
                part=base.part if (r.part is None or _same_part(r.part, base.part)) else r.part,
            )
            for r in out[1:]
        ]
    return out


def _same_part(a: str | None, b: str | None) -> bool:
    """Vivado writes the device without 'xc' and the first dash (7z020clg400-1 for
    xc7z020-clg400-1)."""
    if not a or not b:
        return False

    def norm(s: str) -> str:
        return re.sub(r"^xc", "", s.lower()).replace("-", "")

    return norm(a) == norm(b)


def _pick_top(xmls: Sequence[Path]) -> Path:
    """The top-level report among ``*_csynth.xml`` files: ``csynth.xml`` or the one named after
    its ``TopModelName``; when several qualify (Vitis per-module files), the one with the most
    resources (the top contains every module)."""
    cands: list[tuple[float, Path]] = []
    for x in xmls:
        try:
            root = ET.parse(x).getroot()
        except ET.ParseError as exc:
            raise ReportError(f"{x}: not a valid XML report ({exc})") from None
        top = root.findtext("UserAssignments/TopModelName") or ""
        size = 0.0
        for tag in ("LUT", "FF"):
            try:
                size += float(root.findtext(f"AreaEstimates/Resources/{tag}") or 0)
            except ValueError:
                pass
        if x.name in ("csynth.xml", f"{top}_csynth.xml"):
            cands.append((size, x))
    if not cands:
        return xmls[0]
    return max(cands, key=lambda c: c[0])[1]


def parse_report(path: str | Path, **kwargs: Any) -> list[SynthRecord]:
    """Parse any supported report file (or report folder) by its name and content."""
    p = Path(path)
    if p.is_dir():
        return parse_report_dir(p)
    if not p.exists():
        raise ReportError(f"{p}: report not found")
    name = p.name.lower()
    if name.endswith(".xml"):
        return [parse_csynth_xml(p, **kwargs)]
    if name.endswith("_csynth.rpt"):
        return [parse_csynth_rpt(p, **kwargs)]
    if name.endswith(".json"):
        return parse_hls4ml_json(p, **kwargs)
    if name.endswith(".csv"):
        header, _ = _csv_rows(p)
        if "layer" in header:
            return [parse_layer_csv(p, **kwargs)]
        return parse_design_csv(p, **kwargs)
    if name.endswith(".rpt"):
        head = _read_text(p)[:4000]
        if "HLS Report for" in head:
            return [parse_csynth_rpt(p, **kwargs)]
        return [parse_vivado_utilization(p, **kwargs)]
    raise ReportError(
        f"{p}: unknown report type (expected *_csynth.xml, *_csynth.rpt, vivado_synth.rpt/util.rpt, hls4ml .json or .csv)"
    )
