"""What one op asks of a processor: FLOPs, GEMM shape, per-element function work, bytes.

Counted analytically from the IR (cpu-gpu.md: FLOP counters disagree; count from the IR).
All counts are for a whole batch. FLOPs count 2 per MAC plus the bias add; element-wise
work is counted per element and per *function class* (``simple``, ``div``, ``sqrt``, ``exp``, ``log``,
``cosh``, ``tanh``, ``sigmoid``, ``erf``, ``softmax``, ``pow``, ``pool`` per window element,
``norm`` per batch/layer-normalised element; ``row`` per row of a softmax, normalisation or
reduction and ``mat`` per matrix of a batched MatMul: fixed costs that short rows and
small matrices expose; ``img`` per image of a convolution; ``norm_t`` per element of a
batch norm over the feature axis, between two transposes), each with its own
per-element time (cosh and log, not the matrix multiply, bound the seed's RBM on a CPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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
    POOL,
    REDUCE,
    RESHAPE,
    Op,
)

ELEM_CLASSES = (
    "simple",
    "div",
    "sqrt",
    "exp",
    "log",
    "cosh",
    "tanh",
    "sigmoid",
    "erf",
    "softmax",
    "pow",
    "pool",
    "norm",
    "row",
    "mat",
    "img",
    "norm_t",
)

#: activation function -> {function class: evaluations per element}
FUNCTION_CLASSES: dict[str, dict[str, float]] = {
    "relu": {"simple": 1},
    "leaky_relu": {"simple": 1},
    "prelu": {"simple": 1},
    "abs": {"simple": 1},
    "clip": {"simple": 1},
    "identity": {"simple": 1},
    "hard_sigmoid": {"simple": 1},
    "square": {"simple": 1},
    "elu": {"exp": 1, "simple": 1},
    "selu": {"exp": 1, "simple": 1},
    "sigmoid": {"sigmoid": 1},
    "tanh": {"tanh": 1},
    "gelu": {"erf": 1, "simple": 2},
    "erf": {"erf": 1},
    "softmax": {"softmax": 1},
    "log_softmax": {"softmax": 1, "simple": 1},
    "exp": {"exp": 1},
    "log": {"log": 1},
    "cosh": {"cosh": 1},
    "sinh": {"cosh": 1},
    "sqrt": {"sqrt": 1},
    "reciprocal": {"div": 1},
    "softplus": {"exp": 1, "log": 1},
}

#: ops that are views in both onnxruntime and torch (no kernel, still a node/op dispatch)
VIEW_FUNCTIONS = frozenset({"flatten", "reshape", "squeeze", "unsqueeze", "identity"})

LINEAR_CLASS = {DENSE: "dense", CONV: "conv", MATMUL: "matmul"}


@dataclass(frozen=True)
class Work:
    """The work of one op over a batch.

    ``flops`` GEMM FLOPs (2/MAC + bias); ``gemm`` the (M, N, K) of the equivalent matrix
    multiply or None; ``linear`` its class (dense/conv/matmul) or ''; ``elem`` elements per
    function class; ``bytes_act`` activations read + written, ``bytes_w`` weights (bytes at
    the run precision); ``view`` True when the runtime makes no kernel (reshape views); ``extra_ops`` further
    kernels the runtime runs for this op (onnxruntime: the bias Add of a MatMul on a rank > 2
    input, which its MatMul+Add -> Gemm fusion leaves separate).
    """

    flops: float = 0.0
    gemm: tuple[int, int, int] | None = None
    linear: str = ""
    elem: dict[str, float] = field(default_factory=dict)
    bytes_act: float = 0.0
    bytes_w: float = 0.0
    view: bool = False
    extra_ops: int = 0
    #: elements of the unfolded input (im2col buffer, M x K) a convolution materialises
    #: before its GEMM (0 for direct kernels); time added to the op, not max'd with compute
    im2col: float = 0.0
    #: convolution primitive calls with a setup cost of their own (t_op_conv_s)
    conv_calls: int = 0

    @property
    def bytes(self) -> float:
        return self.bytes_act + self.bytes_w

    @property
    def n_elem(self) -> float:
        return float(sum(self.elem.values()))


def _size(shape: tuple[int, ...]) -> int:
    return int(math.prod(shape)) if shape else 1


def conv_path(op: Op, batch: int, runtime: str) -> tuple[bool, bool]:
    """(unfolds, library_call) of a convolution in ``runtime``.

    * onnxruntime (MLAS, ``MlasConvPrepare``): a pointwise (1x1, stride 1, no padding) conv
      runs as a plain GEMM ("GemmDirect"), a depthwise conv with its own kernel; every other
      conv is "Expand then GEMM": im2col of the input per image, then SGEMM.
    * PyTorch eager on CPU: ATen's ``use_mkldnn`` (aten/src/ATen/native/Convolution.cpp)
      sends a float conv to oneDNN when the batch is > 1, or groups > 1, or both kernel dims
      > 3, or the input has > 20480 elements; otherwise to ``slow_conv2d`` (THNN: unfold +
      GEMM). oneDNN's direct JIT (AVX2/AVX-512) kernels need channel blocks of 8: with
      C_in or C_out not a multiple of 8 it falls back to its GEMM-based (im2col)
      convolution (oneDNN ``gemm_convolution``), which unfolds too.
    * other runtimes: no library conv (0, 0).
    """
    a = op.attrs
    groups = int(a.get("groups", 1))
    cin, cout = int(a["in_channels"]), int(a["out_channels"])
    kernel = tuple(int(x) for x in a.get("kernel", (1,)))
    stride = tuple(int(x) for x in a.get("stride", ()) or (1,))
    pads = tuple(int(x) for x in a.get("pads", ()) or (0,))
    pointwise = all(k == 1 for k in kernel) and all(s == 1 for s in stride) and all(p == 0 for p in pads)
    depthwise = groups > 1 and groups == cin
    if runtime == "onnxruntime":
        return (not pointwise and not depthwise), True
    if runtime == "torch":
        n_in = _size(op.input_shape)
        onednn = batch > 1 or groups > 1 or all(k > 3 for k in kernel) or n_in > 20480
        if not onednn:
            return True, False
        direct = (cin // groups) % 8 == 0 and (cout // groups) % 8 == 0
        return (not direct and not pointwise), True
    return False, False


def _add(d: dict[str, float], classes: dict[str, float], n: float) -> None:
    for c, k in classes.items():
        d[c] = d.get(c, 0.0) + k * n


def op_work(op: Op, batch: int, elem_bytes: int, runtime: str = "") -> Work:
    """The :class:`Work` of ``op`` for ``batch`` inferences at ``elem_bytes`` bytes/element.

    ``runtime`` adds what a kernel library does beyond the IR: onnxruntime adds the bias of a
    dense op on a rank > 2 input in a separate kernel (its MatMul+Add -> Gemm fusion needs a
    2-D input); PyTorch's BatchNorm normalises axis 1, so a batch norm over the last axis of a
    rank > 1 input runs between two transposes (copies)."""
    split_bias = runtime == "onnxruntime"
    b = int(batch)
    n_in = sum(_size(t.shape) for t in op.inputs) * b
    n_out = sum(_size(t.shape) for t in op.outputs) * b
    bytes_act = float(n_in + n_out) * elem_bytes
    bytes_w = float(op.n_params) * elem_bytes
    elem: dict[str, float] = {}
    kind = op.kind
    a = op.attrs
    if kind in (DENSE, CONV, MATMUL):
        flops = 2.0 * op.macs * b
        if kind == DENSE:
            m, n, k = op.rows * b, int(a["n_out"]), int(a["n_in"])
        elif kind == CONV:
            groups = int(a["groups"])
            out_pix = _size(op.output_shape[1:])
            m, n = out_pix * b * groups, int(a["out_channels"]) // groups
            elem["img"] = float(b)
            k = int(a["in_channels"]) // groups * _size(tuple(int(x) for x in a["kernel"]))
        else:
            sa, sb = op.inputs[0].shape, op.inputs[1].shape
            batch_mm = _size(op.output_shape[:-2]) if len(op.output_shape) > 2 else 1
            m = (int(sa[-2]) if len(sa) > 1 else 1) * batch_mm * b
            k, n = int(sa[-1]), int(sb[-1])
            bytes_w = 0.0
            elem["mat"] = float(batch_mm * b)
        if op.n_bias:
            flops += float(_size(op.output_shape)) * b
        act = str(a.get("activation", ""))
        if act:
            _add(elem, FUNCTION_CLASSES.get(act, {"simple": 1}), float(n_out))
        extra = 0
        im2col, calls = 0.0, 0
        if kind == CONV:
            unfolds, lib = conv_path(op, b, runtime)
            im2col = float(m) * float(k) if unfolds else 0.0  # out pixels x C_in x kernel, whole batch
            calls = int(lib)
        if split_bias and kind == DENSE and op.rows > 1 and op.n_bias:
            # a separate broadcasting Add of the bias: one pass over the output, a fixed cost
            # per row of n_out features
            extra = 1
            bytes_act += 2.0 * n_out * elem_bytes
            _add(elem, {"simple": 1, "row": 1.0 / int(a["n_out"])}, float(n_out))
        return Work(
            flops, (m, n, k), LINEAR_CLASS[kind], elem, bytes_act, bytes_w, extra_ops=extra, im2col=im2col, conv_calls=calls
        )
    if kind == ACTIVATION:
        _add(elem, FUNCTION_CLASSES.get(op.function, {"simple": 1}), float(n_out))
        if op.function in ("softmax", "log_softmax") and op.output_shape:
            axis = int(a.get("axis", -1)) % len(op.output_shape)
            _add(elem, {"row": 1}, float(n_out) / max(int(op.output_shape[axis]), 1))
    elif kind == ELEMENTWISE:
        f = op.function
        if f == "div":
            _add(elem, {"div": 1}, float(n_out))
        elif f == "pow":
            exponent = a.get("exponent")
            cls = "simple" if exponent is not None and float(exponent) in (1.0, 2.0) else "pow"
            _add(elem, {cls: 1}, float(n_out))
        else:
            _add(elem, {"simple": 1}, float(n_out))
    elif kind in (BATCHNORM, LAYERNORM):
        _add(elem, {"norm": 1}, float(n_out))
        if kind == LAYERNORM:
            _add(elem, {"row": 1}, float(n_out) / max(int(a.get("size", 1)), 1))
        rank = len(op.input_shape)
        if kind == BATCHNORM and runtime and rank > 1 and int(a.get("axis", 0)) % rank == rank - 1:
            # ONNX BatchNormalization and torch's BatchNorm1d normalise axis 1: a feature-axis
            # norm of a (particles, features) tensor runs between two Transpose copies
            return Work(0.0, None, "", {"norm_t": float(n_out)}, 3.0 * bytes_act, bytes_w, extra_ops=2)
    elif kind == POOL:
        k = _size(tuple(int(x) for x in a.get("kernel", (1,))))
        _add(elem, {"pool": 1}, float(n_out * k))
    elif kind in (GLOBAL_POOL, REDUCE):
        f = op.function
        classes: dict[str, float] = {"l2": {"simple": 2.0}, "sum_square": {"simple": 2.0}}.get(f, {"simple": 1.0})
        _add(elem, classes, float(n_in))
        rank = len(op.input_shape)
        axes = {int(x) % rank for x in a.get("axes", ())} if rank else set()
        if kind == GLOBAL_POOL or not axes or (rank - 1) in axes or runtime != "torch":
            # a fixed cost per output element (per reduced row); PyTorch reduces over a leading
            # axis (Deep Sets' mean over particles) with vectorised adds instead, while
            # onnxruntime's ReduceMean pays it per output there too
            _add(elem, {"row": 1}, float(n_out))
    elif kind == RESHAPE:
        if op.function in VIEW_FUNCTIONS:
            return Work(view=True)
        return Work(bytes_act=bytes_act)  # transpose: a copy
    elif kind == CONCAT:
        return Work(bytes_act=bytes_act)
    return Work(0.0, None, "", elem, bytes_act, bytes_w)
