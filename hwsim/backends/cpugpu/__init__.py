"""CPU and GPU backends (``cpu``, ``gpu``), ``hwsim measure`` and CPU calibration.

* :mod:`.backend` — the analytical model (per-op overhead + max(compute, element functions,
  memory); serial CPU kernels; asynchronous GPU launches with copies and host-side ops);
* :mod:`.devices` and ``devices.json`` — the device catalog, every figure with its source;
* :mod:`.work` — FLOPs, GEMM shapes, element-function work and bytes of an op, from the IR;
* :mod:`.measure` / :mod:`.cli` — timing real runs in onnxruntime or PyTorch;
* :mod:`.calibrate` — fitting the kernel constants to measurements (profile JSON).
"""

from hwsim.backends.cpugpu.backend import CpuBackend, GpuBackend

__all__ = ["CpuBackend", "GpuBackend"]
