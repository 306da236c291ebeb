"""The op kinds of the IR and their attributes: the contract between frontends and backends.

Shapes exclude the batch dimension and keep the frontend's (ONNX/PyTorch) channels-first
layout. Weight arrays, when the model carries them, are in ``OpGraph.weights[op.name]`` under
the keys given here (PyTorch layouts).

=============  ==========================================================================
kind           attributes (all always present unless marked optional)
=============  ==========================================================================
dense          n_in, n_out, bias (bool); optional activation (str, set by fuse_activations),
               activation_alpha. Acts on the last axis; ``op.rows`` = product of the other
               axes (Deep Sets: the φ network applied to each of 8 particles has rows 8).
               weights: weight (n_out, n_in), bias (n_out,)
conv           dims (1|2), in_channels, out_channels, kernel (tuple), stride (tuple),
               pads (tuple: begin..., end...), dilation (tuple), groups, bias (bool);
               depthwise when groups == in_channels == out_channels / multiplier.
               input (C, H, W) or (C, L). weights: weight (out, in/groups, *kernel), bias
matmul         (none) — two activation inputs (..., m, n) x (..., n, p) (attention QK^T, SV)
batchnorm      channels, axis (channel axis of the per-inference shape), epsilon.
               weights: scale (gamma), bias (beta), mean, var
activation     function: relu, leaky_relu (alpha), elu (alpha), selu, prelu (slope_shape),
               sigmoid, hard_sigmoid, tanh, softmax (axis), log_softmax (axis), exp, log,
               cosh, sinh, abs, sqrt, square (x^2), reciprocal, gelu, softplus, erf,
               clip (min, max), identity
pool           function (max|avg), dims, kernel, stride, pads
global_pool    function (max|avg), dims (spatial axes reduced to 1)
reduce         function (mean|max|min|sum|l2|sum_square|prod), axes (tuple, per-inference
               axes), keepdims (bool). Deep Sets aggregation over particles = reduce mean/max
               over axis 0 of (particles, features).
elementwise    function (add|sub|mul|div|pow|max|min); n_const (number of constant
               operands); const_shape (tuple, optional); exponent (pow with a constant)
reshape        function (flatten|reshape|transpose|squeeze|unsqueeze|identity); perm (transpose)
concat         axis
layernorm      axis (first normalised axis, per inference), size (elements normalised),
               epsilon, affine (bool). weights: scale, bias
opaque         op_type, domain — an ONNX node the frontend cannot read. It keeps the graph
               connected (output shapes from ONNX shape inference) and every backend lists
               it as unsupported; ``--strict`` makes the frontend raise instead.
=============  ==========================================================================
"""

from __future__ import annotations

from hwsim.ir import (
    ACTIVATION,
    BATCHNORM,
    CONCAT,
    CONV,
    DENSE,
    ELEMENTWISE,
    GLOBAL_POOL,
    LAYERNORM,
    MATMUL,
    OP_KIND_NAMES,
    OPAQUE,
    POOL,
    REDUCE,
    RESHAPE,
)

#: activation functions a frontend may emit
ACTIVATION_FUNCTIONS = (
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "prelu",
    "sigmoid",
    "hard_sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "exp",
    "log",
    "cosh",
    "sinh",
    "abs",
    "sqrt",
    "square",
    "reciprocal",
    "gelu",
    "softplus",
    "erf",
    "clip",
    "identity",
)

#: functions that need a transcendental evaluation (lookup table on FPGA/AIMC DPU, SFU on GPU)
TRANSCENDENTAL = frozenset(
    {
        "elu",
        "selu",
        "sigmoid",
        "tanh",
        "softmax",
        "log_softmax",
        "exp",
        "log",
        "cosh",
        "sinh",
        "sqrt",
        "reciprocal",
        "gelu",
        "softplus",
        "erf",
    }
)

#: ops that carry weights (linear algebra)
LINEAR_KINDS = frozenset({DENSE, CONV})

#: ops that only move or reshape data
SHAPE_KINDS = frozenset({RESHAPE, CONCAT})

__all__ = [
    "ACTIVATION",
    "ACTIVATION_FUNCTIONS",
    "BATCHNORM",
    "CONCAT",
    "CONV",
    "DENSE",
    "ELEMENTWISE",
    "GLOBAL_POOL",
    "LAYERNORM",
    "LINEAR_KINDS",
    "MATMUL",
    "OPAQUE",
    "OP_KIND_NAMES",
    "POOL",
    "REDUCE",
    "RESHAPE",
    "SHAPE_KINDS",
    "TRANSCENDENTAL",
]
