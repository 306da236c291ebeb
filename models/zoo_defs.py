"""PyTorch definitions of hwsim's reference networks (the model zoo).

Plain PyTorch, importable by file path (``hwsim.frontends.zoo.module`` loads it with
``importlib`` from ``hwsim._paths.models_dir()``); no hwsim import is needed here.

Every network is built by a constructor that seeds its own RNG (``torch.random.fork_rng`` +
``torch.manual_seed``), so two builds give bit-identical weights and the caller's RNG state is
untouched. BatchNorm layers get non-trivial, deterministic affine parameters and running
statistics (a freshly constructed BN is the identity, which would hide folding errors).
All models are returned in ``eval()`` mode: the zoo describes inference.

``ZOO`` maps a zoo name to a :class:`ZooEntry` (constructor, per-inference input shape
without the batch dimension, description, source, the paper's parameter count where the
paper states one, and a note on any difference). ``models/README.md`` has the table;
``python models/export.py`` writes ``models/onnx/<name>.onnx`` and ``MANIFEST.json``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

#: LeakyReLU negative slope of the NAC models (Weitz et al. 2025, tables 3 and B1: 1/128)
NAC_LEAKY_SLOPE = 1.0 / 128.0

DEFAULT_SEED = 1234


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _init_batchnorm(model: nn.Module) -> None:
    """Give every BatchNorm deterministic, non-trivial parameters and running statistics
    (gamma in [0.5, 1.5], beta ~ N(0, 0.1), mean ~ N(0, 0.1), var in [0.5, 1.5]), drawn from
    the current (seeded) torch RNG."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand_like(m.weight) + 0.5)
                m.bias.copy_(torch.randn_like(m.bias) * 0.1)
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.1)
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)


def _seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Run ``build`` under a private RNG seeded with ``seed``; init BNs; eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
        _init_batchnorm(model)
    return model.eval()


class FeatureBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the *last* (feature) axis of a ``(batch, particles, features)`` tensor.

    ``nn.BatchNorm1d`` normalises axis 1 of a 3-D input, which for Deep Sets is the particle
    axis. This layer transposes the feature axis into the channel position, applies
    BatchNorm1d and transposes back, so the ONNX export is ``Transpose -> BatchNormalization
    -> Transpose`` with ``channels = features`` (what the paper's parameter counts imply:
    2 parameters per feature). On a 2-D ``(batch, features)`` input it is a plain BatchNorm1d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            return super().forward(x.transpose(1, 2)).transpose(1, 2)
        return super().forward(x)


def _act(name: str | None) -> nn.Module | None:
    if name is None:
        return None
    if name == "relu":
        return nn.ReLU()
    if name == "leaky":
        return nn.LeakyReLU(NAC_LEAKY_SLOPE)
    if name == "softmax":
        return nn.Softmax(dim=-1)
    raise ValueError(f"unknown activation {name!r}")


LayerSpec = tuple[str, Any]  # ("linear", (n_in, n_out)) | ("bn", n) | ("act", name) | ("conv", (in, out, k, s))


def _sequential(spec: Sequence[LayerSpec], feature_bn: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for kind, arg in spec:
        if kind == "linear":
            layers.append(nn.Linear(*arg))
        elif kind == "linear_nobias":
            layers.append(nn.Linear(*arg, bias=False))
        elif kind == "bn":
            layers.append(FeatureBatchNorm(arg) if feature_bn else nn.BatchNorm1d(arg))
        elif kind == "bn2d":
            layers.append(nn.BatchNorm2d(arg))
        elif kind == "conv":
            cin, cout, k, s = arg
            layers.append(nn.Conv2d(cin, cout, kernel_size=k, stride=s, padding=0))
        elif kind == "conv_nobias":
            cin, cout, k, s = arg
            layers.append(nn.Conv2d(cin, cout, kernel_size=k, stride=s, padding=0, bias=False))
        elif kind == "maxpool":
            layers.append(nn.MaxPool2d(arg))
        elif kind == "flatten":
            layers.append(nn.Flatten())
        elif kind == "act":
            a = _act(arg)
            if a is not None:
                layers.append(a)
        else:  # pragma: no cover - programming error
            raise ValueError(kind)
    return nn.Sequential(*layers)


def _L(i: int, o: int) -> LayerSpec:
    return ("linear", (i, o))


def BN(n: int) -> LayerSpec:
    return ("bn", n)


RELU: LayerSpec = ("act", "relu")
LEAKY: LayerSpec = ("act", "leaky")


# ---------------------------------------------------------------------------------------------
# hls4ml jet-tagging MLP
# ---------------------------------------------------------------------------------------------


class JetMLP(nn.Module):
    """hls4ml jet tagger 16-64-32-32-5 (ReLU; Softmax output), as in the hls4ml tutorial
    part 1 (Duarte et al. 2018, JINST 13 P07027; fastmachinelearning/hls4ml-tutorial)."""

    def __init__(self, widths: Sequence[int] = (16, 64, 32, 32, 5)) -> None:
        super().__init__()
        spec: list[LayerSpec] = []
        for i in range(len(widths) - 1):
            spec.append(_L(widths[i], widths[i + 1]))
            spec.append(RELU if i < len(widths) - 2 else ("act", "softmax"))
        self.net = _sequential(spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ---------------------------------------------------------------------------------------------
# Deep Sets jet taggers (Weitz et al. 2025, table 3; /work/shared/data/seed-jet-deepsets.md)
# ---------------------------------------------------------------------------------------------

DEEPSETS_ARCH: dict[str, tuple[list[LayerSpec], list[LayerSpec]]] = {
    "baseline": (
        [_L(3, 32), RELU, _L(32, 32), RELU],
        [_L(32, 16), RELU, _L(16, 5)],
    ),
    "tiny": (
        [_L(3, 8), BN(8), RELU, _L(8, 8)],
        [_L(8, 32), RELU, _L(32, 5)],
    ),
    "small": (
        [_L(3, 16), LEAKY, _L(16, 8), BN(8)],
        [_L(8, 8), BN(8), RELU, _L(8, 16), LEAKY, _L(16, 16), LEAKY, _L(16, 5), BN(5)],
    ),
    "medium": (
        [_L(3, 32), RELU, _L(32, 8)],
        [_L(8, 32), BN(32), LEAKY, _L(32, 16), LEAKY, _L(16, 64), BN(64), LEAKY, _L(64, 5)],
    ),
    "large": (
        [_L(3, 64), BN(64), RELU, _L(64, 16), BN(16)],
        [_L(16, 128), BN(128), RELU, _L(128, 16), BN(16), LEAKY, _L(16, 64), BN(64), RELU, _L(64, 5), BN(5)],
    ),
}


class DeepSets(nn.Module):
    """Deep Sets jet tagger: φ per particle, permutation-invariant aggregation, ρ.

    Input ``(batch, n_particles, 3)``. φ is a stack of ``nn.Linear`` acting on the last axis
    (so the φ network is applied to every particle, ``rows = n_particles`` in the IR); BN in φ
    normalises the features (:class:`FeatureBatchNorm`). The aggregation is over the particle
    axis: ``aggregator`` = ``"mean"`` (default), ``"max"`` or ``"sum"`` (the paper's search
    space has mean and max, table C2; its tables do not say which each model uses; the nac-opt
    example configs use mean). ρ maps the aggregate to 5 class scores (logits: the paper's
    models end in Linear or BN, no softmax).
    """

    def __init__(self, size: str = "baseline", aggregator: str = "mean") -> None:
        super().__init__()
        if size not in DEEPSETS_ARCH:
            raise ValueError(f"unknown Deep Sets size {size!r}; known: {sorted(DEEPSETS_ARCH)}")
        if aggregator not in ("mean", "max", "sum"):
            raise ValueError(f"aggregator must be mean, max or sum, got {aggregator!r}")
        phi, rho = DEEPSETS_ARCH[size]
        self.aggregator = aggregator
        self.phi = _sequential(phi, feature_bn=True)
        self.rho = _sequential(rho)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.phi(x)
        if self.aggregator == "mean":
            h = h.mean(dim=1)
        elif self.aggregator == "max":
            h = h.amax(dim=1)
        else:
            h = h.sum(dim=1)
        return self.rho(h)


# ---------------------------------------------------------------------------------------------
# BraggNN NAC models (Weitz et al. 2025, table 1 and table B1)
# ---------------------------------------------------------------------------------------------

BRAGGNN_ARCH: dict[str, list[LayerSpec]] = {
    "tiny": [
        ("conv", (1, 8, 3, 1)), ("flatten", None),
        _L(8 * 9 * 9, 32), LEAKY, _L(32, 32), LEAKY, _L(32, 32), BN(32), LEAKY, _L(32, 2), BN(2),
    ],
    "small": [
        ("conv", (1, 8, 3, 1)), ("conv", (8, 2, 3, 1)), LEAKY, ("conv", (2, 4, 3, 1)), ("bn2d", 4), LEAKY,
        ("flatten", None),
        _L(4 * 5 * 5, 64), BN(64), LEAKY, _L(64, 32), BN(32), RELU, _L(32, 16), BN(16), LEAKY, _L(16, 2), BN(2),
    ],
    "medium": [
        ("conv", (1, 8, 3, 1)), ("conv", (8, 16, 3, 1)), ("bn2d", 16), RELU, ("conv", (16, 4, 3, 1)), ("bn2d", 4), LEAKY,
        ("flatten", None),
        _L(4 * 5 * 5, 64), LEAKY, _L(64, 64), LEAKY, _L(64, 16), BN(16), LEAKY, _L(16, 2), BN(2),
    ],
    "large": [
        ("conv", (1, 8, 3, 1)), ("conv", (8, 64, 3, 1)), ("bn2d", 64), ("conv", (64, 32, 3, 1)), ("bn2d", 32),
        ("flatten", None),
        _L(5 * 5 * 32, 32), LEAKY, _L(32, 64), RELU, _L(64, 64), BN(64), LEAKY, _L(64, 2), BN(2),
    ],
}  # fmt: skip


class BraggNN(nn.Module):
    """NAC BraggNN model (Bragg-peak localisation on 1x11x11 patches; output: the peak's
    (x, y) position). Conv(in, out, kernel, stride) without padding, LeakyReLU slope 1/128,
    exactly the layer lists of table B1 of Weitz et al. 2025."""

    def __init__(self, size: str = "tiny") -> None:
        super().__init__()
        if size not in BRAGGNN_ARCH:
            raise ValueError(f"unknown BraggNN size {size!r}; known: {sorted(BRAGGNN_ARCH)}")
        self.net = _sequential(BRAGGNN_ARCH[size])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ---------------------------------------------------------------------------------------------
# RBM neural quantum state (Carleo & Troyer 2017; Kösters et al. 2022 use case 1)
# ---------------------------------------------------------------------------------------------


class _Cosh(torch.autograd.Function):
    """``torch.cosh`` with an ONNX symbolic: the TorchScript exporter (torch 2.13) has no
    symbolic for ``aten::cosh`` although ONNX has had ``Cosh`` since opset 9."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # noqa: D401
        ctx.save_for_backward(x)
        return torch.cosh(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * torch.sinh(x)

    @staticmethod
    def symbolic(g: Any, x: Any) -> Any:
        return g.op("Cosh", x)


def onnx_cosh(x: torch.Tensor) -> torch.Tensor:
    """``cosh(x)`` that exports to a single ONNX ``Cosh`` node."""
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return _Cosh.apply(x)
    return torch.cosh(x)


class RBMWavefunction(nn.Module):
    """Restricted Boltzmann machine neural quantum state, output ``log ψ(s)``.

    ``ψ(s) = Π_i 2 cosh([W s + b]_i)`` with ``W`` of shape ``(α N, N)`` and hidden bias ``b``
    (Kösters et al. 2022, eq. 1; no visible bias, as in that paper). Input: spins ``s_j = ±1``
    (float), ``N = n_spins`` (16: a 4x4 lattice). The graph is one MVM (Gemm), ``Cosh``,
    a multiplication by the constant 2, ``Log`` and a ``ReduceSum`` over the hidden units —
    the log of the product, which is what an NQS code evaluates (the product itself
    overflows float32 for large α N). Weights are drawn ~ N(0, 0.05²) (a typical NQS init;
    the paper's trained ground-state weights are not published with it).
    """

    def __init__(self, alpha: int = 1, n_spins: int = 16) -> None:
        super().__init__()
        self.alpha = int(alpha)
        self.n_spins = int(n_spins)
        self.hidden = nn.Linear(self.n_spins, self.alpha * self.n_spins)
        with torch.no_grad():
            self.hidden.weight.normal_(0.0, 0.05)
            self.hidden.bias.normal_(0.0, 0.05)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        theta = self.hidden(s)
        return torch.log(onnx_cosh(theta) * 2.0).sum(dim=-1)


# ---------------------------------------------------------------------------------------------
# Deep SVDD anomaly detector (Ruff et al. 2018; Kösters et al. 2022 use case 2)
# ---------------------------------------------------------------------------------------------

#: hidden widths of the Deep SVDD networks: an ASSUMPTION (not published by Kösters et al.).
SVDD_HIDDEN_DEFAULT = (256, 128, 64)


class DeepSVDD(nn.Module):
    """Deep SVDD anomaly detector for the 40 MHz LHC trigger (ADC2021 inputs: 57 = pT, η, φ of
    MET, 4 electrons, 4 muons, 10 jets).

    Four dense layers ``57 -> h1 -> h2 -> h3 -> z`` with ReLU between them (the AIMC
    implementation replaces the paper's ELU by ReLU, which the tile's LDPU applies), all
    **bias-free**, as Deep SVDD requires (Ruff et al. 2018, sec. 3.3: bias terms let the
    network collapse onto the centre). The anomaly score is the squared Euclidean distance of
    the output to a fixed target ``O_n^z = n * 1_z`` (Kösters et al. 2022, eq. 2):
    ``Sub(constant) -> square (Mul x x) -> ReduceSum``.

    The hidden widths are **not published**; ``hidden`` defaults to (256, 128, 64), an
    assumption: decreasing widths as in Ruff et al.'s encoders, every layer within one
    512x512 AIMC crossbar tile (four layers -> four tiles, one layer per tile, as the paper
    maps it). ``n`` is the target value (the ensemble uses n ∈ {0, 1, 2, 3, 4, 10, 25}).
    """

    def __init__(self, z: int = 8, hidden: Sequence[int] = SVDD_HIDDEN_DEFAULT, n_inputs: int = 57, n: float = 1.0) -> None:
        super().__init__()
        if len(hidden) != 3:
            raise ValueError("Deep SVDD here has four dense layers: give three hidden widths")
        widths = [int(n_inputs), *map(int, hidden), int(z)]
        layers: list[nn.Module] = []
        for i in range(4):
            layers.append(nn.Linear(widths[i], widths[i + 1], bias=False))
            if i < 3:
                layers.append(nn.ReLU())
        self.encoder = nn.Sequential(*layers)
        self.register_buffer("center", torch.full((int(z),), float(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.encoder(x) - self.center
        return (d * d).sum(dim=-1)


# ---------------------------------------------------------------------------------------------
# BitNet b1.58-style ternary MLP (BitHEP, Table/eq. 1-3 of /work/shared/papers/002_*)
# ---------------------------------------------------------------------------------------------


def ternarize_(linear: nn.Linear) -> float:
    """Replace ``linear.weight`` by its inference-form ternary weights, in place.

    BitHEP eq. (1): ``θ_q = clip(round(θ / β), -1, 1)`` with ``β = mean|θ|``; the stored
    weight is ``β θ_q`` ∈ {-β, 0, +β} (one float per layer plus ternary codes). Returns β."""
    with torch.no_grad():
        w = linear.weight
        beta = float(w.abs().mean())
        q = torch.clamp(torch.round(w / beta), -1.0, 1.0)
        w.copy_(q * beta)
    return beta


class BitNetMLP(nn.Module):
    """Ternary-weight (BitNet b1.58) MLP jet tagger 16-64-64-5.

    Every layer is a BitLinear (BitHEP eqs. 1-3: ternary weights {-1, 0, +1} x β, no bias —
    only β is stored besides the ternary codes) with ReLU between layers and a Softmax
    output. The weights are stored already ternarised (values in {-β, 0, +β}), so the ONNX
    export is a plain Gemm whose weight tensor has three distinct values; the ONNX frontend
    reads the ternary precision from those values. The 8-bit absmax input quantisation of
    eq. (2) is a run-time rescaling, not in the graph: give the inputs 8 bits in the backend
    configuration. Sizes: the 16 high-level jet features and 5 classes of the hls4ml jet
    dataset, two 64-wide hidden layers (an assumption: a physics-sized BitNet MLP; BitHEP's
    own networks are far larger).
    """

    def __init__(self, widths: Sequence[int] = (16, 64, 64, 5)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        self.betas: list[float] = []
        for i in range(len(widths) - 1):
            lin = nn.Linear(widths[i], widths[i + 1], bias=False)
            self.betas.append(ternarize_(lin))
            layers.append(lin)
            layers.append(nn.ReLU() if i < len(widths) - 2 else nn.Softmax(dim=-1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ---------------------------------------------------------------------------------------------
# Transformer encoder block
# ---------------------------------------------------------------------------------------------


class TransformerBlock(nn.Module):
    """A small post-norm transformer encoder block (Vaswani et al. 2017), written with explicit
    Linear / matmul / softmax so that the ONNX export has one MatMul per attention product.

    Input ``(batch, tokens, d_model)`` (default 16 particles x 16 features). ``x = LN(x +
    Wo·MHA(x))``, ``x = LN(x + FF(x))`` with ``FF = Linear(d, d_ff) -> ReLU -> Linear(d_ff, d)``;
    attention scores are scaled by ``1/sqrt(d_head)`` (a Mul by a constant) before Softmax.
    """

    def __init__(self, tokens: int = 16, d_model: int = 16, heads: int = 2, d_ff: int = 32) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError("d_model must be divisible by heads")
        self.tokens, self.d_model, self.heads, self.d_head = tokens, d_model, heads, d_model // heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.o = nn.Linear(d_model, d_model)
        self.ln1 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.act = nn.ReLU()
        self.ff2 = nn.Linear(d_ff, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.scale = 1.0 / math.sqrt(self.d_head)
        with torch.no_grad():  # non-trivial LayerNorm affine parameters
            for ln in (self.ln1, self.ln2):
                ln.weight.copy_(torch.rand_like(ln.weight) + 0.5)
                ln.bias.copy_(torch.randn_like(ln.bias) * 0.1)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        # (b, tokens, d) -> (b, heads, tokens, d_head)
        return t.reshape(-1, self.tokens, self.heads, self.d_head).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        scores = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        attn = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(attn, v).transpose(1, 2).reshape(-1, self.tokens, self.d_model)
        x = self.ln1(x + self.o(ctx))
        return self.ln2(x + self.ff2(self.act(self.ff1(x))))


# ---------------------------------------------------------------------------------------------
# hls4ml tutorial pruned SVHN CNN
# ---------------------------------------------------------------------------------------------


def magnitude_prune_(weight: torch.Tensor, sparsity: float) -> None:
    """Zero the ``round(sparsity * numel)`` smallest-magnitude entries of ``weight`` in place
    (per-layer unstructured magnitude pruning, as tfmot's ``prune_low_magnitude``). Ties are
    broken by flat index (stable sort), so the result is deterministic."""
    with torch.no_grad():
        flat = weight.view(-1)
        k = int(round(sparsity * flat.numel()))
        if k <= 0:
            return
        order = torch.sort(flat.abs(), stable=True).indices
        flat[order[:k]] = 0.0


class TutorialCNN(nn.Module):
    """The hls4ml tutorial SVHN CNN (fastmachinelearning/hls4ml-tutorial part 6, "pruned_cnn").

    32x32x3 input (channels first here: (3, 32, 32)); 3 x [Conv2D 3x3 stride 1, no padding,
    no bias (16, 16, 24 filters) -> BN -> ReLU -> MaxPool 2x2] -> Flatten (96) -> [Dense 42,
    no bias -> BN -> ReLU] -> [Dense 64, no bias -> BN -> ReLU] -> Dense 10 (bias) -> Softmax.
    The convolutions and the two hidden Dense layers are magnitude-pruned to ``sparsity``
    (50 %) per layer; the output layer is not pruned — both as in the tutorial's
    ``pruneFunction``. Keras flattens (H, W, C) and PyTorch (C, H, W): a permutation of the
    Dense-42 input rows, no change of cost.
    """

    def __init__(
        self, filters: Sequence[int] = (16, 16, 24), dense: Sequence[int] = (42, 64), n_classes: int = 10, sparsity: float = 0.5
    ) -> None:
        super().__init__()
        spec: list[LayerSpec] = []
        cin, hw = 3, 32
        for f in filters:
            spec += [("conv_nobias", (cin, f, 3, 1)), ("bn2d", f), RELU, ("maxpool", 2)]
            cin, hw = f, (hw - 2) // 2
        spec.append(("flatten", None))
        nin = cin * hw * hw
        for n in dense:
            spec += [("linear_nobias", (nin, n)), BN(n), RELU]
            nin = n
        spec += [_L(nin, n_classes), ("act", "softmax")]
        self.net = _sequential(spec)
        layers = [m for m in self.net if isinstance(m, (nn.Conv2d, nn.Linear))]
        for m in layers[:-1]:  # not the output layer
            magnitude_prune_(m.weight, sparsity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------

NAC_SOURCE = "Weitz et al. 2025, Neural architecture codesign for fast physics applications, arXiv:2501.05515 (CC-BY 4.0)"
AIMC_SOURCE = "Kösters et al. 2022, Benchmarking energy consumption and latency for neuromorphic computing in condensed matter and particle physics"


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model.

    ``input_shape``: per-inference input shape (no batch). ``input_kind``: ``"float"``
    (standard normal example input) or ``"spins"`` (±1). ``paper_params``: the parameter
    count the source states (None if it states none); ``params_note`` explains any
    difference from PyTorch's count.
    """

    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    description: str
    source: str
    paper_params: int | None = None
    params_note: str = ""
    input_kind: str = "float"
    seed: int = DEFAULT_SEED
    tags: tuple[str, ...] = field(default_factory=tuple)

    def model(self) -> nn.Module:
        """A freshly built, deterministically initialised model in eval mode."""
        return _seeded(self.build, self.seed)

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """A deterministic example input of shape ``(batch, *input_shape)``."""
        g = torch.Generator().manual_seed(self.seed + 1)
        shape = (batch, *self.input_shape)
        if self.input_kind == "spins":
            return torch.randint(0, 2, shape, generator=g).float() * 2.0 - 1.0
        return torch.randn(shape, generator=g)


def _entries() -> list[ZooEntry]:
    out: list[ZooEntry] = [
        ZooEntry(
            "jet-mlp",
            JetMLP,
            (16,),
            "hls4ml jet-tagging MLP 16-64-32-32-5, ReLU, Softmax output",
            "Duarte et al. 2018, JINST 13 P07027; hls4ml tutorial part 1 (fastmachinelearning/hls4ml-tutorial)",
            None,
            "no count stated in the sources used here; 16*64+64 + 64*32+32 + 32*32+32 + 32*5+5 = 4389",
            tags=("mlp", "jets"),
        )
    ]
    ds_paper = {"baseline": 3461, "tiny": 573, "small": 815, "medium": 2813, "large": 7535}
    ds_note = {
        "baseline": "not reproduced: the layer list (φ 3-32-32, ρ 32-16-5, no BN) has 1797 parameters, the paper states 3461 "
        "(+1664). No counting convention (BN, biases, running statistics) explains it; the paper's baseline "
        "('original Deep Sets') probably has layers that the table's layer list omits",
        "tiny": "paper count reproduced when BatchNorm counts 2 parameters (γ, β) per feature",
        "small": "paper count reproduced when BatchNorm counts 2 parameters (γ, β) per feature",
        "medium": "paper count reproduced when BatchNorm counts 2 parameters (γ, β) per feature",
        "large": "paper count reproduced when BatchNorm counts 2 parameters (γ, β) per feature; this model also shows "
        "that φ's BN normalises features (BN(64)+BN(16) = 160), not the 8 particles (nac-opt's Phi uses "
        "BatchNorm1d(8) on the particle axis, which would give 7407)",
    }
    for size in ("baseline", "tiny", "small", "medium", "large"):
        out.append(
            ZooEntry(
                f"deepsets-{size}",
                partial(DeepSets, size),
                (8, 3),
                f"Deep Sets jet tagger ({size}), 8 particles x 3 features, mean aggregation, 5 classes",
                f"{NAC_SOURCE}, tables 3 and 4",
                ds_paper[size],
                ds_note[size],
                tags=("deepsets", "jets"),
            )
        )
    bragg_paper = {"tiny": 23094, "small": 23788, "medium": 26402, "large": 92438}
    bragg_note = {
        "tiny": "paper count reproduced with BatchNorm counted as 2 parameters per channel",
        "small": "not reproduced: table B1's layer list gives 9644 (BN as 2/channel); the paper's table 1 states 23788 "
        "(+14144). Tiny matches exactly with the same conventions, so the difference is in the architecture "
        "behind table 1 (not described by table B1), not in the counting",
        "medium": "not reproduced: table B1's layer list gives 13602; table 1 states 26402 (+12800). Same reasoning as for small",
        "large": "not reproduced: table B1's layer list gives 55574; table 1 states 92438 (+36864 = 64*64*3*3, the "
        "weights of one bias-free Conv(64,64,3) — a layer B1 may omit). Same reasoning as for small",
    }
    for size in ("tiny", "small", "medium", "large"):
        out.append(
            ZooEntry(
                f"braggnn-{size}",
                partial(BraggNN, size),
                (1, 11, 11),
                f"NAC BraggNN ({size}): Bragg-peak position from a 1x11x11 patch",
                f"{NAC_SOURCE}, tables 1 and B1",
                bragg_paper[size],
                bragg_note[size],
                tags=("cnn", "braggnn"),
            )
        )
    for alpha in (1, 2, 4, 8, 16):
        out.append(
            ZooEntry(
                f"rbm-alpha{alpha}",
                partial(RBMWavefunction, alpha),
                (16,),
                f"RBM neural quantum state, 16 spins, {16 * alpha} hidden units, output log psi",
                f"Carleo & Troyer 2017, Science 355, 602; {AIMC_SOURCE}, use case 1",
                None,
                f"no count stated; alpha*N*N + alpha*N = {16 * 16 * alpha + 16 * alpha} (no visible bias, as in Kösters et al.)",
                input_kind="spins",
                tags=("rbm", "aimc"),
            )
        )
    for z in (5, 8, 13, 21, 34, 55, 89, 144, 233):
        h = SVDD_HIDDEN_DEFAULT
        out.append(
            ZooEntry(
                f"svdd-z{z}",
                partial(DeepSVDD, z),
                (57,),
                f"Deep SVDD anomaly detector 57-{h[0]}-{h[1]}-{h[2]}-{z} (bias-free, ReLU), score = |f(x) - c|^2",
                f"Ruff et al. 2018 (ICML, Deep SVDD); {AIMC_SOURCE}, use case 2",
                None,
                "no count stated; hidden widths (256, 128, 64) are an assumption (not published)",
                tags=("svdd", "aimc"),
            )
        )
    out.append(
        ZooEntry(
            "bitnet-mlp",
            BitNetMLP,
            (16,),
            "BitNet b1.58 ternary-weight MLP 16-64-64-5 (bias-free BitLinear, ReLU, Softmax)",
            "Krause, Wang, Winterhalder 2025, 'BitHEP -- The Limits of Low-Precision ML in HEP', eqs. 1-3 (ternary weights x beta, 8-bit inputs); "
            "Ma et al. 2024 (BitNet b1.58, arXiv:2402.17764)",
            None,
            "no count stated; architecture is an assumption (physics-sized); 16*64 + 64*64 + 64*5 = 5440",
            tags=("mlp", "ternary"),
        )
    )
    out.append(
        ZooEntry(
            "transformer-block",
            TransformerBlock,
            (16, 16),
            "transformer encoder block: 16 tokens x 16 features, 2 heads, FF 32, ReLU, post-LayerNorm",
            "Vaswani et al. 2017 (encoder block); sizes chosen for a particle-level trigger transformer",
            None,
            "no count stated: 4*(16*16+16) + (16*32+32) + (32*16+16) + 2*2*16 = 2224",
            tags=("transformer",),
        )
    )
    out.append(
        ZooEntry(
            "cnn-tutorial",
            TutorialCNN,
            (3, 32, 32),
            "hls4ml tutorial SVHN CNN, 3x[Conv3x3-BN-ReLU-MaxPool] + Dense 42-64-10, 50 % magnitude pruned",
            "fastmachinelearning/hls4ml-tutorial part 6 (pruned_cnn); Aarrestad et al. 2021, MLST 2 045015 (arXiv:2101.05108)",
            None,
            "no count stated in the CSV header; Keras' summary would also count BN moving mean/variance (+324 non-trainable)",
            tags=("cnn", "pruned"),
        )
    )
    return out


ZOO: dict[str, ZooEntry] = {e.name: e for e in _entries()}


def build(name: str) -> tuple[nn.Module, torch.Tensor]:
    """``(model, example_input)`` of zoo model ``name`` (eval mode, deterministic)."""
    try:
        entry = ZOO[name]
    except KeyError:
        raise KeyError(f"unknown zoo model {name!r}; known: {', '.join(ZOO)}") from None
    return entry.model(), entry.example_input()


def param_count(model: nn.Module) -> int:
    """PyTorch's own count: ``sum(p.numel() for p in model.parameters())``."""
    return int(sum(p.numel() for p in model.parameters()))


__all__ = [
    "ZOO",
    "ZooEntry",
    "build",
    "param_count",
    "DeepSets",
    "BraggNN",
    "JetMLP",
    "RBMWavefunction",
    "DeepSVDD",
    "BitNetMLP",
    "TransformerBlock",
    "TutorialCNN",
    "FeatureBatchNorm",
]
