"""hwsim: hardware cost models for neural networks in physics.

Public API::

    hwsim.lower(model, example_input=None) -> OpGraph
    hwsim.estimate(model, backend="fpga", config=None, overrides=None, strict=False) -> Estimate
    hwsim.get_backend(name), hwsim.available_backends()
"""

from hwsim.api import cost_graph, estimate, lower, resolve
from hwsim.backends.base import Estimate, OpCost, Param, Params, available_backends, get_backend
from hwsim.errors import ConfigError, HwsimError, ModelError, ReportError, UnsupportedOpError
from hwsim.ir import Op, OpGraph, OpPrecision, Precision, TensorSpec

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Estimate",
    "HwsimError",
    "ModelError",
    "Op",
    "OpCost",
    "OpGraph",
    "OpPrecision",
    "Param",
    "Params",
    "Precision",
    "ReportError",
    "TensorSpec",
    "UnsupportedOpError",
    "available_backends",
    "cost_graph",
    "estimate",
    "get_backend",
    "lower",
    "resolve",
]
