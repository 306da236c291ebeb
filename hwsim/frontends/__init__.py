"""Frontends: turn a model (ONNX/QONNX file, ``onnx.ModelProto``, ``torch.nn.Module``, zoo
name) into an :class:`hwsim.ir.OpGraph`. ``load_model`` dispatches; the heavy packages
(torch) are imported only by the frontend that needs them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hwsim.errors import ModelError
from hwsim.ir import OpGraph


def load_model(model: Any, example_input: Any = None, strict: bool = False, name: str | None = None) -> OpGraph:
    """Lower ``model`` to an OpGraph (no passes run).

    * ``OpGraph``: returned unchanged;
    * ``str``/``Path`` to a file (``.onnx``): ONNX/QONNX frontend;
    * ``onnx.ModelProto``: ONNX frontend;
    * ``torch.nn.Module`` with ``example_input``: PyTorch frontend (through the ONNX exporter,
      so the IR is identical to that of the exported file);
    * ``str`` naming a bundled zoo model (``hwsim.frontends.zoo.names()``).
    """
    if isinstance(model, OpGraph):
        return model
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        path = Path(text)
        looks_like_file = path.suffix.lower() in (".onnx", ".pb", ".json") or os.sep in text or path.exists()
        if looks_like_file:
            if path.suffix.lower() == ".json" and path.is_file():
                try:
                    return OpGraph.loads(path.read_text())
                except ValueError as exc:
                    raise ModelError(f"{path}: not an hwsim graph JSON: {exc}") from exc
            from hwsim.frontends.onnx import load_onnx

            return load_onnx(path, strict=strict, name=name)
        from hwsim.frontends import zoo

        if zoo.exists(text):
            return zoo.load(text, strict=strict)
        raise ModelError(f"{text}: no such file, and not a bundled model (known: {', '.join(zoo.names())})")
    mod = type(model).__module__
    if mod.startswith("onnx"):
        from hwsim.frontends.onnx import from_proto

        return from_proto(model, strict=strict, name=name)
    if mod.startswith("torch") or hasattr(model, "forward"):
        from hwsim.frontends.torch import from_torch

        if example_input is None:
            raise ModelError("a torch.nn.Module needs an example_input (a tensor or a shape tuple)")
        return from_torch(model, example_input, strict=strict, name=name)
    raise ModelError(f"cannot lower an object of type {type(model).__name__}")
