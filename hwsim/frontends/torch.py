"""PyTorch frontend: a ``torch.nn.Module`` is exported to ONNX, then lowered by the ONNX
frontend, so the IR of a module is *identical* (same :meth:`OpGraph.fingerprint`) to the IR
of its exported file.

Exporter choice
---------------
:func:`export_onnx` is the single way hwsim exports a module (``models/export.py`` and
:func:`from_torch` both call it). It uses PyTorch's TorchScript exporter
(``torch.onnx.export(..., dynamo=False)``), opset :data:`OPSET`, because

* it is 20-80x faster (``python benchmarks/bench_frontend.py``, 2 shared CPU cores, torch
  2.13): a Conv2d+BN+ReLU+MaxPool+Linear net exports in 7 ms on a quiet machine (44-55 ms min
  under load; first call 0.2-0.36 s) against 0.56 s on a quiet machine (1.04-1.07 s min under
  load; first call 3-7 s) for the ``torch.export`` based exporter (``dynamo=True``,
  onnxscript). Property tests export hundreds of small models;
* with ``do_constant_folding=False`` it keeps ``BatchNormalization`` nodes (the dynamo
  exporter's optimiser and the TorchScript constant folder both fold BN into the previous
  Conv/Gemm, which would change the parameter count against PyTorch's own);
* its node names follow the module hierarchy (``/features/0/Conv``), so op names and origins
  in the IR point back at the PyTorch module.

Its graphs are less clean than the dynamo exporter's (``Identity`` nodes for deduplicated
initializers, ``Shape -> Gather -> Concat`` arithmetic for ``x.view(x.size(0), -1)``), but the
ONNX frontend folds all of those into constants, so the IR is the same.

If a future torch drops the TorchScript exporter, :func:`export_onnx` falls back to the
dynamo exporter with its graph optimiser off (BN kept), at the same opset.

Batch dimension
---------------
The first axis of every input and output is exported as a *dynamic* axis named ``batch``
(so the file runs at any batch size in onnxruntime, e.g. for ``hwsim measure``). The ONNX
frontend sets every graph input's first dimension to 1 before shape inference and strips it
from every shape, so the IR does not depend on the batch.

``torch`` is imported only inside these functions.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import IO, Any

from hwsim.errors import ModelError
from hwsim.ir import OpGraph

log = logging.getLogger(__name__)

#: ONNX opset of every hwsim export (20: ``Gelu`` is a single node; ``ReduceMean`` axes are inputs)
OPSET = 20


def _example_tensors(example_input: Any) -> tuple[Any, ...]:
    """Normalise ``example_input`` to a tuple of tensors, each with a batch dimension.

    * a tensor (with batch dim) -> (tensor,)
    * a tuple/list of ints (per-inference shape, no batch) -> (zeros((1,) + shape),)
    * a tuple/list of tensors -> that tuple (a module with several inputs)
    """
    import torch

    if isinstance(example_input, torch.Tensor):
        return (example_input,)
    if isinstance(example_input, (tuple, list)):
        items = list(example_input)
        if items and all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            if any(v < 1 for v in items):
                raise ModelError(f"example_input shape {tuple(items)} has a non-positive dimension")
            return (torch.zeros((1, *items), dtype=torch.float32),)
        if items and all(isinstance(v, torch.Tensor) for v in items):
            return tuple(items)
    raise ModelError(
        "example_input must be a torch tensor with a batch dimension, a tuple of such tensors, "
        f"or a per-inference shape tuple of ints; got {type(example_input).__name__}"
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's deprecation warnings and log spam (torch.onnx / onnxscript)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "torch.fx")]
    saved = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, lvl in zip(loggers, saved):
                lg.setLevel(lvl)


def export_onnx(module: Any, example_input: Any, f: str | os.PathLike[str] | IO[bytes]) -> None:
    """Export ``module`` to ONNX at ``f`` (a path or a writable binary file object).

    The module is exported in eval mode (Dropout off, BatchNorm uses its running statistics;
    the train/eval mode of every submodule is restored afterwards), at opset :data:`OPSET`,
    with deterministic names: inputs ``input`` (or ``input_0``, ``input_1``... for several),
    outputs ``output`` (``output_0``...), nodes named after the module path. BatchNorm is *not* folded. The batch axis (first axis) of every
    input and output is dynamic (``batch``). Raises :class:`ModelError` when the exporter fails.
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"export_onnx needs a torch.nn.Module, got {type(module).__name__}")
    args = _example_tensors(example_input)
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        _export_eval(module, args, f)
    finally:
        for m, training in modes:
            m.training = training


def _export_eval(module: Any, args: tuple[Any, ...], f: str | os.PathLike[str] | IO[bytes]) -> None:
    import torch

    input_names = ["input"] if len(args) == 1 else [f"input_{i}" for i in range(len(args))]
    with torch.no_grad():
        try:
            with _quiet():
                probe = module(*args)
        except Exception as exc:
            raise ModelError(f"{type(module).__name__}: forward pass on the example input failed: {exc}") from exc
    n_out = len(probe) if isinstance(probe, (tuple, list)) else 1
    output_names = ["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]
    dynamic_axes = {n: {0: "batch"} for n in input_names + output_names}
    target: Any = os.fspath(f) if isinstance(f, (str, os.PathLike)) else f
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(
                module,
                args,
                target,
                dynamo=False,
                opset_version=OPSET,
                do_constant_folding=False,
                training=torch.onnx.TrainingMode.EVAL,
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                export_params=True,
            )
        return
    except TypeError as exc:  # pragma: no cover - a torch without the TorchScript exporter
        if "dynamo" not in str(exc):
            raise ModelError(f"{type(module).__name__}: ONNX export failed: {exc}") from exc
    except Exception as exc:
        raise ModelError(
            f"{type(module).__name__}: ONNX export failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from exc
    _export_dynamo(module, args, target, input_names, output_names)  # pragma: no cover


def _export_dynamo(
    module: Any, args: Sequence[Any], target: Any, input_names: list[str], output_names: list[str]
) -> None:  # pragma: no cover
    """Fallback for a torch without the TorchScript exporter: dynamo exporter, optimiser off."""
    import torch

    batch = torch.export.Dim("batch")
    try:
        with _quiet(), torch.no_grad():
            prog = torch.onnx.export(
                module,
                tuple(args),
                dynamo=True,
                opset_version=OPSET,
                optimize=False,
                input_names=input_names,
                output_names=output_names,
                dynamic_shapes=tuple({0: batch} for _ in args),
                verbose=False,
            )
            if prog is None:
                raise RuntimeError("the dynamo exporter returned no program")
            if hasattr(target, "write"):
                target.write(prog.model_proto.SerializeToString())
            else:
                prog.save(target)
    except Exception as exc:
        raise ModelError(
            f"{type(module).__name__}: ONNX export failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from exc


def from_torch(module: Any, example_input: Any, strict: bool = False, name: str | None = None) -> OpGraph:
    """Lower a ``torch.nn.Module`` to an :class:`OpGraph` through :func:`export_onnx` (in
    memory) and the ONNX frontend. ``example_input``: a tensor with the batch dimension, a
    tuple of such tensors, or a per-inference shape tuple of ints (zeros of ``(1,) + shape``).
    The graph is named ``name`` or the module's class name."""
    buf = io.BytesIO()
    export_onnx(module, example_input, buf)
    import onnx

    from hwsim.frontends.onnx import from_proto

    label = name or type(module).__name__
    try:
        proto = onnx.load_from_string(buf.getvalue())
    except Exception as exc:  # pragma: no cover - the exporter wrote something unreadable
        raise ModelError(f"{label}: exported ONNX cannot be read back: {exc}") from exc
    return from_proto(proto, strict=strict, name=label)


def torch_param_count(module: Any) -> int:
    """``sum(p.numel() for p in module.parameters())``: PyTorch's own parameter count."""
    return int(sum(p.numel() for p in module.parameters()))


__all__ = ["OPSET", "export_onnx", "from_torch", "torch_param_count"]
