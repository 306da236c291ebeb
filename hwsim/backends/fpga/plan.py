"""What the fpga backend assumes hls4ml builds, layer by layer: the contract between the
fpga cost model (``FpgaBackend.plan``) and ``hwsim check-hls4ml``, which converts the model
with hls4ml and compares each field below with what hls4ml really built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LayerPlan:
    """One hls4ml layer as hwsim predicts it.

    ``hls_class`` is the hls4ml layer class name (Dense, Conv1D, Conv2D, DepthwiseConv2D,
    BatchNormalization, Activation, ParametrizedActivation, Softmax, Pooling1D, Pooling2D,
    GlobalPooling2D, Merge, Concatenate, Reshape, Transpose...). ``n_in``/``n_out`` are the
    operands of the multiplication as hls4ml's reuse-factor check sees them (Conv2D:
    n_chan*filt_h*filt_w, n_filt). ``precision`` maps hls4ml's type names (weight, bias,
    result, accum, table...) to ``ap_fixed<W,I>`` strings as hls4ml resolves them.
    """

    name: str
    hls_class: str
    ops: tuple[str, ...]  # names of the IR ops this layer covers
    n_in: int = 0
    n_out: int = 0
    reuse_factor_requested: int = 1
    reuse_factor: int = 1  # after snapping
    strategy: str = "latency"  # latency | resource | distributed_arithmetic (lower case)
    parallelization_factor: int = 1
    multiplier_limit: int = 0
    precision: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FpgaPlan:
    layers: tuple[LayerPlan, ...]
    pipeline_style: str  # "pipeline" | "dataflow"
    io_type: str  # io_parallel | io_stream
    part: str
    clock_period_ns: float
    backend: str = "Vitis"
    warnings: tuple[str, ...] = ()
