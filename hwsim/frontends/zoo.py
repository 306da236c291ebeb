"""The bundled model zoo: reference networks of physics edge inference, shipped as ONNX.

The zoo lives beside the package in ``models/`` (``hwsim._paths.models_dir()``):
``models/zoo_defs.py`` holds the PyTorch definitions, ``models/onnx/<name>.onnx`` the exported
files and ``models/onnx/MANIFEST.json`` their metadata (input shape, PyTorch parameter count,
the paper's count, sha256); ``python models/export.py`` regenerates both.

* :func:`names` / :func:`exists` / :func:`info` read only the manifest (or the file list):
  no torch, no onnx import, so ``hwsim estimate <zoo name>`` starts fast.
* :func:`load` lowers the shipped ONNX file with the ONNX frontend (graph name = zoo name).
* :func:`module` imports torch and ``zoo_defs.py`` (by file path) and returns the PyTorch
  module with its deterministic example input.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from hwsim import _paths
from hwsim.errors import ModelError
from hwsim.ir import OpGraph

MANIFEST = "MANIFEST.json"
_DEFS_MODULE = "hwsim_zoo_defs"  # the same name models/export.py registers


def _onnx_dir() -> Path:
    return _paths.models_dir() / "onnx"


@lru_cache(maxsize=4)
def _manifest_cached(path: str, mtime_ns: int) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
        models = data["models"]
        if not isinstance(models, dict):
            raise TypeError("'models' is not an object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: unreadable zoo manifest: {exc} (regenerate with: python models/export.py)") from exc
    result: dict[str, Any] = data
    return result


def _manifest() -> dict[str, Any] | None:
    path = _onnx_dir() / MANIFEST
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    return _manifest_cached(str(path), mtime)


def names() -> list[str]:
    """Names of the bundled models, in the zoo's order (from the manifest; without one, the
    ``.onnx`` files present, sorted)."""
    man = _manifest()
    if man is not None:
        return list(man["models"])
    d = _onnx_dir()
    return sorted(p.stem for p in d.glob("*.onnx")) if d.is_dir() else []


def exists(name: str) -> bool:
    """True if ``name`` is a bundled zoo model."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name:
        return False
    return name in names()


def info(name: str) -> dict[str, Any]:
    """The manifest entry of ``name`` (file, input_shape, params, paper_params, params_note,
    description, source, sha256, bytes...) plus ``name`` and ``path``."""
    _require(name)
    man = _manifest()
    entry: dict[str, Any] = dict(man["models"][name]) if man is not None else {"file": f"{name}.onnx"}
    entry["name"] = name
    entry["path"] = str(_onnx_dir() / entry.get("file", f"{name}.onnx"))
    return entry


def path(name: str) -> Path:
    """Path of the shipped ONNX file of ``name``."""
    return Path(info(name)["path"])


def _require(name: str) -> None:
    if not exists(name):
        known = names()
        hint = f"known: {', '.join(known)}" if known else f"no zoo in {_onnx_dir()} (run: python models/export.py)"
        raise ModelError(f"{name!r} is not a bundled zoo model ({hint})")


def load(name: str, strict: bool = False) -> OpGraph:
    """Lower the shipped ONNX file of zoo model ``name`` (no passes); the graph is named
    ``name``. Raises :class:`ModelError` for an unknown name or a missing file."""
    p = path(name)
    if not p.is_file():
        raise ModelError(f"{p}: zoo file missing for {name!r} (regenerate with: python models/export.py)")
    from hwsim.frontends.onnx import load_onnx

    return load_onnx(p, strict=strict, name=name)


def _defs() -> ModuleType:
    """``models/zoo_defs.py`` imported by file path (imports torch)."""
    file = _paths.models_dir() / "zoo_defs.py"
    mod = sys.modules.get(_DEFS_MODULE)
    if mod is not None and getattr(mod, "__file__", None) == str(file):
        return mod
    if not file.is_file():
        raise ModelError(f"{file}: zoo definitions not found (HWSIM_HOME={_paths.repo_root()})")
    spec = importlib.util.spec_from_file_location(_DEFS_MODULE, file)
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ModelError(f"{file}: cannot import the zoo definitions")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[_DEFS_MODULE] = mod
    try:
        spec.loader.exec_module(mod)
    except Exception:
        sys.modules.pop(_DEFS_MODULE, None)
        raise
    return mod


def module(name: str) -> tuple[Any, Any]:
    """``(torch.nn.Module, example_input)`` of zoo model ``name``: deterministic weights, eval
    mode; the example input is a tensor of shape ``(1, *input_shape)``."""
    defs = _defs()
    if name not in defs.ZOO:
        raise ModelError(f"{name!r} is not defined in {defs.__file__} (known: {', '.join(defs.ZOO)})")
    entry = defs.ZOO[name]
    return entry.model(), entry.example_input()


__all__ = ["exists", "info", "load", "module", "names", "path"]
