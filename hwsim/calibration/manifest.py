"""Manifests: which report belongs to which model and hls4ml configuration.

A synthesis report says what was built, rarely from what. A manifest (YAML or JSON) pairs
each report with its model and its hls4ml configuration so that hwsim can predict the same
design and compare. Paths are relative to the manifest file.

Format (``schema: hwsim-manifest/1``)::

    schema: hwsim-manifest/1
    backend: fpga                       # the hwsim backend the reports calibrate
    source: hls4ml-ci                   # data-source label (validate --by-source groups by it)
    description: free text; provenance: PROVENANCE.md
    defaults:                           # merged into every entry (entry keys win)
      part: xcvu13p-flga2577-2-e        # fills records whose report does not name the part
      tool: Vitis HLS                   # idem for the tool and its version
      tool_version: "2024.1"
      kind: hls_estimate                # which record of a multi-record report to use
      hls4ml:                           # deep-merged into each entry's hls4ml config
        Model: {Precision: "ap_fixed<16,6>", ReuseFactor: 1, Strategy: Latency}
        IOType: io_parallel
        ClockPeriod: 5
    entries:
      - id: dense-io_parallel-vitis2024.1        # optional (default: the record id)
        report: Vitis/2024.1/test_dense.json     # a report file or folder (hwsim.calibration.parsers)
        model: {input: [1], layers: [{dense: 2}, {activation: elu}]}
        hls4ml: {IOType: io_parallel}            # or a path to a YAML/JSON hls4ml config
        group: dense                             # optional: records of one group are split together
      - report: Vivado/2020.1/test_keras_api_test_dense_io_stream-Vivado.json
        design:                                  # instead of model + hls4ml: a builder of hwsim
          builder: hwsim.backends.fpga.graphs:hls4ml_ci_design   # -> (OpGraph, --set overrides)
          args: {stem: test_keras_api_test_dense_io_stream-Vivado, backend: Vivado}
      - id: deepsets-tiny
        reported:                                # values typed from a paper table instead of a file
          kind: hls_estimate
          latency_cycles: 14
          ii_cycles: 2
          DSP: 321
        citation: Weitz et al. 2025, arXiv:2501.05515, Table 4
        model: {input: [8, 3], layers: [...]}
    tables:                                      # one entry per row of a design table (CSV)
      - file: dense_2layer_sample.csv
        rows: all                                # or [0, 5, 7] or "0-99" (0-based data rows)
        model: {arch: "{model_string}", precision: {weight: "ap_fixed<{prec},1>", bias: "ap_fixed<{prec},1>"}}
        hls4ml: {Model: {ReuseFactor: "{rf}", Strategy: "{strategy}"}}
        group: "{model_string}"

``model`` is an architecture string (``"16-64-5"``: a dense chain), ``{arch: ...}``, a layer
list ``{input: [...], layers: [...]}`` (see :mod:`hwsim.calibration.models`), an ``.onnx``
path or a zoo name. In ``tables``, ``{column}`` in any string is replaced by the row's value
(a string that is exactly ``"{column}"`` keeps the value's type).

The hls4ml configuration is what ``hls4ml.utils.config_from_*_model`` produces (``Model`` and
optional ``LayerName`` sections) plus top-level ``Part``, ``ClockPeriod`` (ns) and ``IOType``;
``Part`` and ``ClockPeriod`` default to the record's part and target clock.

Errors (missing file, bad schema, an entry without a model) raise
:class:`~hwsim.errors.ReportError` naming the manifest and the entry.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hwsim.calibration.parsers import METRIC_FIELDS, SynthRecord, parse_design_csv, parse_report
from hwsim.errors import HwsimError, ReportError

log = logging.getLogger(__name__)

SCHEMA = "hwsim-manifest/1"
_ENTRY_KEYS = {
    "id",
    "report",
    "reported",
    "model",
    "hls4ml",
    "group",
    "kind",
    "part",
    "tool",
    "tool_version",
    "citation",
    "note",
    "source",
    "clock_period_ns",
    "design",
}


@dataclass(frozen=True)
class Pairing:
    """One report record paired with its model and hls4ml configuration."""

    id: str
    record: SynthRecord
    model_spec: Any
    hls4ml: Mapping[str, Any]
    source: str  # data-source label
    group: str  # split group (architecture)
    manifest: str
    base_dir: str
    note: str = ""
    #: ``--set`` overrides to cost the design with *instead of* an hls4ml config (entries with
    #: ``design:``); empty: the backend gets ``hls4ml`` as the config
    overrides: Mapping[str, str] = field(default_factory=dict)
    graph_cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def graph(self) -> Any:
        """The model as an :class:`~hwsim.ir.OpGraph` (built once)."""
        from hwsim.calibration.models import build_model

        try:
            return build_model(self.model_spec, self.base_dir, name=str(self.record.model or self.id))
        except HwsimError as exc:
            raise ReportError(f"{self.manifest}: entry {self.id!r}: cannot build its model: {exc}") from None


def _load_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ReportError(f"{path}: manifest not found")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml/json errors have many types
        raise ReportError(f"{path}: not valid YAML/JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: a manifest must be a mapping")
    return data


def is_manifest(path: str | Path) -> bool:
    """True for a YAML file, or a JSON file whose ``schema`` is a manifest schema."""
    p = Path(path)
    if p.suffix.lower() in (".yml", ".yaml"):
        return True
    if p.suffix.lower() == ".json" and p.is_file():
        try:
            head = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            return False
        return isinstance(head, dict) and str(head.get("schema", "")).startswith("hwsim-manifest")
    return False


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _subst(value: Any, row: Mapping[str, Any]) -> Any:
    """Replace ``{col}`` by the row's value in every string of ``value``."""
    if isinstance(value, str):
        m = re.fullmatch(r"\{(\w+)\}", value)
        if m and m.group(1) in row:
            return row[m.group(1)]

        def rep(mm: re.Match[str]) -> str:
            key = mm.group(1)
            if key not in row:
                raise KeyError(key)
            return str(row[key])

        return re.sub(r"\{(\w+)\}", rep, value)
    if isinstance(value, Mapping):
        return {_subst(k, row) if isinstance(k, str) else k: _subst(v, row) for k, v in value.items()}
    if isinstance(value, list):
        return [_subst(v, row) for v in value]
    return value


def _rows(sel: Any, where: str) -> list[int] | None:
    if sel is None or sel == "all":
        return None
    if isinstance(sel, str):
        m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", sel)
        if not m:
            raise ReportError(f"{where}: rows {sel!r}: expected 'all', a list, or 'A-B'")
        return list(range(int(m.group(1)), int(m.group(2)) + 1))
    if isinstance(sel, list) and all(isinstance(i, int) for i in sel):
        return list(sel)
    raise ReportError(f"{where}: rows {sel!r}: expected 'all', a list of integers, or 'A-B'")


def _hls4ml_config(value: Any, base_dir: Path, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        p = Path(value) if Path(value).is_absolute() else base_dir / value
        data = _load_mapping(p)
        return data.get("HLSConfig", data) if "HLSConfig" in data and "Model" not in data else data
    if isinstance(value, Mapping):
        return dict(value)
    raise ReportError(f"{where}: hls4ml must be a mapping or a file path, got {value!r}")


def _fill_record(rec: SynthRecord, opts: Mapping[str, Any]) -> SynthRecord:
    changes: dict[str, Any] = {}
    if rec.part is None and opts.get("part"):
        changes["part"] = str(opts["part"])
    if rec.tool is None and opts.get("tool"):
        changes["tool"] = str(opts["tool"])
    if rec.tool_version is None and opts.get("tool_version"):
        changes["tool_version"] = str(opts["tool_version"])
    if rec.clock_target_ns is None and opts.get("clock_period_ns"):
        changes["clock_target_ns"] = float(opts["clock_period_ns"])
    return rec.with_updates(**changes) if changes else rec


def _complete_config(cfg: Mapping[str, Any], rec: SynthRecord) -> dict[str, Any]:
    out = dict(cfg)
    if "Part" not in out and rec.part:
        out["Part"] = rec.part
    if "ClockPeriod" not in out and rec.clock_target_ns:
        out["ClockPeriod"] = rec.clock_target_ns
    return out


def _inline_record(rid: str, values: Mapping[str, Any], opts: Mapping[str, Any], where: str) -> SynthRecord:
    kind = str(values.get("kind", opts.get("kind", "hls_estimate")))
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for k, v in values.items():
        if k == "kind":
            continue
        if k in METRIC_FIELDS:
            fields[METRIC_FIELDS[k]] = None if v is None else float(v) if k not in ("latency_cycles", "ii_cycles") else int(v)
        elif k in ("latency_worst", "interval_max"):
            fields[k] = int(v)
        elif k in ("URAM",):
            fields[k] = float(v)
        else:
            extra[k] = v
    if "latency_best" in fields and "latency_worst" not in fields:
        fields["latency_worst"] = fields["latency_best"]
    if "interval_min" in fields and "interval_max" not in fields:
        fields["interval_max"] = fields["interval_min"]
    try:
        return SynthRecord(id=rid, source=where, kind=kind, extra=extra, **fields)
    except (TypeError, ValueError) as exc:
        raise ReportError(f"{where}: entry {rid!r}: bad reported values ({exc})") from None


def _reported_fields(values: Mapping[str, Any]) -> set[str]:
    out = set()
    for k in values:
        if k in METRIC_FIELDS:
            out.add(METRIC_FIELDS[k])
            if k == "latency_cycles" and "latency_worst" not in values:
                out.add("latency_worst")
            if k == "ii_cycles" and "interval_max" not in values:
                out.add("interval_max")
        elif k in ("latency_worst", "interval_max", "URAM"):
            out.add(k)
    return out


def _design(spec: Any, where: str) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """An entry's ``design: {builder: "hwsim.<module>:<function>", args: {...}}``: a function
    of hwsim returning (OpGraph, ``--set`` overrides) — the same definition a validation script
    uses (e.g. :func:`hwsim.backends.fpga.graphs.hls4ml_ci_design`). The design is costed with
    those overrides and no hls4ml config (hwsim's config_from_*_model(granularity='name')
    assumption: 'auto' types); ``hls4ml`` of the pairing is the config the overrides amount to
    (strategy, io type, part, for the profile's ``applies_to``). Returns (model spec, overrides,
    config)."""
    from hwsim.calibration.models import call_builder

    if not isinstance(spec, Mapping) or "builder" not in spec:
        raise ReportError(f"{where}: 'design' must be a mapping {{builder: 'hwsim.<module>:<function>', args: {{...}}}}")
    try:
        out = call_builder(spec, "design")
    except HwsimError as exc:
        raise ReportError(f"{where}: {exc}") from None
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping)):
        raise ReportError(f"{where}: design builder {spec['builder']!r} must return (OpGraph, overrides)")
    overrides = {str(k): str(v) for k, v in out[1].items()}
    from hwsim.backends.fpga.config import apply_shortcuts

    return dict(spec), overrides, apply_shortcuts({}, overrides)


def load_manifest(path: str | Path) -> list[Pairing]:
    """Read a manifest and its reports into :class:`Pairing` s (see the module docstring)."""
    p = Path(path)
    data = _load_mapping(p)
    where = str(p)
    if data.get("schema") != SCHEMA:
        raise ReportError(f"{where}: unknown manifest schema {data.get('schema')!r} (expected {SCHEMA})")
    base = p.parent
    defaults = dict(data.get("defaults") or {})
    source = str(data.get("source") or p.stem)
    default_cfg = _hls4ml_config(defaults.pop("hls4ml", None), base, where)
    out: list[Pairing] = []
    entries = data.get("entries") or []
    tables = data.get("tables") or []
    if not isinstance(entries, list) or not isinstance(tables, list):
        raise ReportError(f"{where}: 'entries' and 'tables' must be lists")
    if not entries and not tables:
        raise ReportError(f"{where}: the manifest has no entries")
    for i, e in enumerate(entries):
        if not isinstance(e, Mapping):
            raise ReportError(f"{where}: entry {i} must be a mapping")
        unknown = set(e) - _ENTRY_KEYS
        if unknown:
            raise ReportError(f"{where}: entry {i}: unknown key(s) {', '.join(sorted(unknown))}")
        opts = {**defaults, **{k: v for k, v in e.items() if k not in ("hls4ml", "model")}}
        label = str(e.get("id") or e.get("report") or i)
        overrides: dict[str, str] = {}
        model_spec = e.get("model")
        if e.get("design") is not None:
            if model_spec is not None or e.get("hls4ml") is not None:
                raise ReportError(f"{where}: entry {label!r}: 'design' replaces 'model' and 'hls4ml'; give only one")
            model_spec, overrides, cfg = _design(e["design"], f"{where}: entry {label!r}")
        elif model_spec is None:
            raise ReportError(f"{where}: entry {label!r} is not paired with a model (add 'model:')")
        else:
            cfg = deep_merge(default_cfg, _hls4ml_config(e.get("hls4ml"), base, f"{where}: entry {label!r}"))
        if e.get("reported") is not None and e.get("report") is None:
            if not e.get("id"):
                raise ReportError(f"{where}: entry {i}: an inline 'reported' entry needs an 'id'")
            recs = [_inline_record(str(e["id"]), e["reported"], opts, f"{where}#{e['id']}")]
        else:
            rep = e.get("report")
            if rep is None:
                raise ReportError(f"{where}: entry {label!r} has neither 'report' nor 'reported'")
            rp = Path(str(rep)) if Path(str(rep)).is_absolute() else base / str(rep)
            recs = parse_report(rp)
            kind = opts.get("kind")
            if kind:
                recs = [r for r in recs if r.kind == kind]
                if not recs:
                    raise ReportError(f"{rp}: no {kind} record in this report (manifest {where}, entry {label!r})")
        if e.get("reported") is not None and e.get("report") is not None:
            # values typed in the manifest complete (or correct) what the file holds
            if len(recs) != 1:
                raise ReportError(
                    f"{where}: entry {label!r}: 'reported' with a report of {len(recs)} records: select one with 'kind'"
                )
            extra_rec = _inline_record(recs[0].id, e["reported"], {"kind": recs[0].kind}, where)
            upd = {
                k: getattr(extra_rec, k)
                for k in ("latency_best", "latency_worst", "interval_min", "interval_max", "DSP", "LUT", "FF", "BRAM_18K", "URAM")
                if k in _reported_fields(e["reported"])
            }
            recs = [recs[0].with_updates(**upd, extra={**dict(recs[0].extra), **dict(extra_rec.extra)})]
        for rec in recs:
            rec = _fill_record(rec, opts)
            rid = str(e.get("id") or rec.id) + ("" if len(recs) == 1 else f":{rec.kind}")
            rec = rec.with_updates(id=rid)
            out.append(
                Pairing(
                    id=rid,
                    record=rec,
                    model_spec=model_spec,
                    hls4ml=_complete_config(cfg, rec),
                    source=str(e.get("source") or source),
                    group=str(e.get("group") or rid),
                    manifest=where,
                    base_dir=str(base),
                    note=str(e.get("citation") or e.get("note") or ""),
                    overrides=overrides,
                )
            )
    for ti, t in enumerate(tables):
        if not isinstance(t, Mapping) or "file" not in t:
            raise ReportError(f"{where}: table {ti} needs a 'file'")
        if t.get("model") is None:
            raise ReportError(f"{where}: table {t['file']!r} is not paired with a model (add 'model:')")
        opts = {**defaults, **{k: v for k, v in t.items() if k not in ("hls4ml", "model", "file", "rows", "group")}}
        fp = Path(str(t["file"])) if Path(str(t["file"])).is_absolute() else base / str(t["file"])
        recs = parse_design_csv(
            fp,
            part=opts.get("part"),
            tool=opts.get("tool"),
            tool_version=opts.get("tool_version"),
            kind=str(opts.get("kind", "hls_estimate")),
            id_prefix=str(t.get("id_prefix") or source),
            rows=_rows(t.get("rows"), f"{where}: table {t['file']!r}"),
        )
        tcfg = deep_merge(default_cfg, _hls4ml_config(t.get("hls4ml"), base, where))
        for rec in recs:
            row = dict(rec.identity)
            try:
                model = _subst(t["model"], row)
                cfg = _subst(tcfg, row)
                group = str(_subst(t.get("group", rec.id), row))
            except KeyError as exc:
                raise ReportError(f"{where}: table {t['file']!r}: template names the column {exc} that {fp.name} lacks") from None
            rec = _fill_record(rec, opts)
            out.append(Pairing(rec.id, rec, model, _complete_config(cfg, rec), source, group, where, str(base)))
    ids = [x.id for x in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ReportError(f"{where}: duplicate entry ids {sorted(dup)[:5]}")
    return out


def pair_project_dir(path: str | Path) -> list[Pairing]:
    """An hls4ml project folder with ``hls4ml_config.yml`` naming an existing ``OnnxModel``:
    its reports paired with that model and the folder's configuration, no manifest needed."""
    d = Path(path)
    cfg_file = d / "hls4ml_config.yml"
    if not cfg_file.is_file():
        raise ReportError(f"{d}: the report is not paired with a model: list it in a manifest (see hwsim.calibration.manifest)")
    cfg = _load_mapping(cfg_file)
    onnx = cfg.get("OnnxModel")
    if not isinstance(onnx, str) or not (Path(onnx).is_file() or (d / onnx).is_file()):
        raise ReportError(f"{d}: hls4ml_config.yml names no existing OnnxModel: pair the report in a manifest")
    model = onnx if Path(onnx).is_file() else str(d / onnx)
    hls = dict(cfg.get("HLSConfig") or {})
    for k in ("Part", "ClockPeriod", "IOType"):
        if k in cfg:
            hls[k] = cfg[k]
    out = []
    for rec in parse_report(d):
        out.append(Pairing(rec.id, rec, model, _complete_config(hls, rec), d.name, d.name, str(cfg_file), str(d)))
    return out


def load_inputs(paths: Sequence[str | Path]) -> list[Pairing]:
    """Manifests (YAML/JSON) and self-describing hls4ml project folders -> pairings. A bare
    report file is refused (it is not paired with a model)."""
    out: list[Pairing] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise ReportError(f"{p}: not found")
        if p.is_dir():
            out.extend(pair_project_dir(p))
        elif is_manifest(p):
            out.extend(load_manifest(p))
        else:
            # parse it first so that a corrupt report is reported as such
            parse_report(p)
            raise ReportError(
                f"{p}: the report is not paired with a model and configuration: list it in a manifest (see hwsim.calibration.manifest)"
            )
    ids = [x.id for x in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ReportError(f"the same report id appears in several inputs: {dup[:5]}")
    return out
