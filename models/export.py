"""Regenerate the zoo's ONNX files: ``python models/export.py``.

Writes ``models/onnx/<name>.onnx`` for every model of ``models/zoo_defs.py`` through
``hwsim.frontends.torch.export_onnx`` (the project's one export path: TorchScript exporter,
fixed opset, BatchNorm kept, dynamic batch axis) and ``models/onnx/MANIFEST.json`` (name, file,
per-inference input shape, PyTorch parameter count, paper count, sha256, size). The export is
deterministic: running it twice gives byte-identical files (the sha256 in the manifest).

Options: ``--only NAME`` (repeatable) exports a subset (the manifest keeps the other entries);
``--out DIR`` writes elsewhere (tests use a temporary directory); ``--check`` exports in memory
and exits with status 1 when a shipped file differs from what the definitions give now.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ONNX_DIR = HERE / "onnx"
MANIFEST = "MANIFEST.json"

log = logging.getLogger("models.export")


def load_defs(path: Path | None = None) -> ModuleType:
    """Import ``zoo_defs.py`` by file path (no package import needed)."""
    path = path or HERE / "zoo_defs.py"
    name = "hwsim_zoo_defs"
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ImportError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses need the module registered while it executes
    spec.loader.exec_module(mod)
    return mod


def export_bytes(defs: ModuleType, name: str) -> tuple[bytes, dict[str, Any]]:
    """The ONNX bytes of zoo model ``name`` and its manifest entry."""
    from hwsim.frontends.torch import OPSET, export_onnx

    entry = defs.ZOO[name]
    model = entry.model()
    example = entry.example_input()
    buf = io.BytesIO()
    export_onnx(model, example, buf)
    data = buf.getvalue()
    info = {
        "file": f"{name}.onnx",
        "input_shape": list(entry.input_shape),
        "input_kind": entry.input_kind,
        "params": defs.param_count(model),
        "paper_params": entry.paper_params,
        "params_note": entry.params_note,
        "description": entry.description,
        "source": entry.source,
        "tags": list(entry.tags),
        "seed": entry.seed,
        "opset": OPSET,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return data, info


def _versions() -> dict[str, str]:
    import onnx
    import torch

    return {"torch": torch.__version__.split("+")[0], "onnx": onnx.__version__}


def export_all(out: Path = ONNX_DIR, only: list[str] | None = None) -> dict[str, Any]:
    """Export the models (all, or ``only``) into ``out`` and (re)write its manifest."""
    defs = load_defs()
    names = list(defs.ZOO) if not only else only
    unknown = [n for n in names if n not in defs.ZOO]
    if unknown:
        raise SystemExit(f"error: unknown zoo model(s): {', '.join(unknown)} (known: {', '.join(defs.ZOO)})")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    models: dict[str, Any] = {}
    if only and manifest_path.is_file():
        models = json.loads(manifest_path.read_text()).get("models", {})
    for name in names:
        data, info = export_bytes(defs, name)
        tmp = out / f".{name}.onnx.tmp"
        tmp.write_bytes(data)
        tmp.replace(out / info["file"])
        models[name] = info
        log.info("%-20s %8d params %8d bytes %s", name, info["params"], info["bytes"], info["sha256"][:12])
    order = [n for n in defs.ZOO if n in models]
    manifest = {
        "generated_by": "python models/export.py",
        "definitions": "models/zoo_defs.py",
        "versions": _versions(),
        "models": {n: models[n] for n in order},
    }
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    tmp.replace(manifest_path)
    return manifest


def check(out: Path = ONNX_DIR) -> list[str]:
    """Names whose shipped file (or manifest entry) differs from a fresh export."""
    defs = load_defs()
    manifest_path = out / MANIFEST
    shipped = json.loads(manifest_path.read_text())["models"] if manifest_path.is_file() else {}
    stale = []
    for name in defs.ZOO:
        data, info = export_bytes(defs, name)
        path = out / info["file"]
        if not path.is_file() or path.read_bytes() != data or shipped.get(name, {}).get("sha256") != info["sha256"]:
            stale.append(name)
    for name in shipped:
        if name not in defs.ZOO:
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ONNX_DIR, help="output folder (default models/onnx)")
    ap.add_argument("--only", action="append", default=None, metavar="NAME", help="export only this model (repeatable)")
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if a shipped file is out of date")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    if args.check:
        stale = check(args.out)
        if stale:
            print(f"out of date: {', '.join(stale)} (run: python models/export.py)", file=sys.stderr)
            return 1
        log.info("all %s files are up to date", args.out)
        return 0
    manifest = export_all(args.out, args.only)
    total = sum(m["bytes"] for m in manifest["models"].values())
    log.info("%d models, %.2f MB in %s", len(manifest["models"]), total / 1e6, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
