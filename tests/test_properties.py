"""Property tests of the PyTorch -> ONNX -> IR lowering over random valid networks.

For random MLPs (depth 1-4, widths 1-64, with/without bias, BatchNorm, activations, with or
without a leading "particles" axis) and random CNNs (1-D/2-D, channels, kernel, stride,
padding, dilation, groups, pooling, flatten + linear or global pooling), lowering through
``hwsim.frontends.torch.from_torch`` must

* not crash and leave no opaque op,
* give one IR op per PyTorch layer of each kind, with the shapes PyTorch computes,
* count ``sum(p.numel())`` parameters,
* count the MACs an independent count gives: forward hooks on the PyTorch modules
  (Linear: output elements x in_features; Conv: output elements x in_channels/groups x
  kernel volume) — no hwsim code involved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
nn = torch.nn

from hwsim.frontends.torch import from_torch  # noqa: E402

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

ACTIVATIONS = {
    "relu": (nn.ReLU, "relu"),
    "leaky_relu": (lambda: nn.LeakyReLU(0.125), "leaky_relu"),
    "sigmoid": (nn.Sigmoid, "sigmoid"),
    "tanh": (nn.Tanh, "tanh"),
    "elu": (nn.ELU, "elu"),
    "gelu": (nn.GELU, "gelu"),
    "softmax": (lambda: nn.Softmax(dim=-1), "softmax"),
}
ACT_NAME = {
    nn.ReLU: "relu",
    nn.LeakyReLU: "leaky_relu",
    nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh",
    nn.ELU: "elu",
    nn.GELU: "gelu",
    nn.Softmax: "softmax",
}
CONV_ACTS = ["relu", "leaky_relu", "sigmoid", "tanh", None]


class LastAxisBN(nn.BatchNorm1d):
    """BatchNorm over the last axis of (batch, rows, features) (Deep Sets style)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            return super().forward(x.transpose(1, 2)).transpose(1, 2)
        return super().forward(x)


def _randomise_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


# ---------------------------------------------------------------------------------------------
# the independent reference: hooks on the torch modules
# ---------------------------------------------------------------------------------------------


@dataclass
class Ref:
    macs: int
    linear_shapes: list[tuple[int, ...]]
    conv_shapes: list[tuple[int, ...]]
    out_shape: tuple[int, ...]
    params: int


def reference(model: nn.Module, x: torch.Tensor) -> Ref:
    macs = 0
    lin: list[tuple[int, ...]] = []
    conv: list[tuple[int, ...]] = []
    batch = x.shape[0]

    def hook(mod, inp, out):
        nonlocal macs
        per_inf = out.numel() // batch
        if isinstance(mod, nn.Linear):
            macs += per_inf * mod.in_features
            lin.append(tuple(out.shape[1:]))
        else:
            macs += per_inf * (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)
            conv.append(tuple(out.shape[1:]))

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    with torch.no_grad():
        y = model.eval()(x)
    for h in hs:
        h.remove()
    return Ref(macs, lin, conv, tuple(y.shape[1:]), int(sum(p.numel() for p in model.parameters())))


def _count(model: nn.Module, types) -> int:
    return sum(1 for m in model.modules() if isinstance(m, types))


def check_graph(model: nn.Module, x: torch.Tensor) -> None:
    ref = reference(model, x)
    g = from_torch(model, x)
    kinds = g.kinds()
    assert "opaque" not in kinds, [op for op in g.ops() if op.kind == "opaque"]
    assert g.n_params == ref.params
    assert g.macs == ref.macs
    assert g.inputs[0].shape == tuple(x.shape[1:])
    assert g.output_specs[0].shape == ref.out_shape
    dense = [op for op in g.ops() if op.kind == "dense"]
    convs = [op for op in g.ops() if op.kind == "conv"]
    assert [op.output_shape for op in dense] == ref.linear_shapes
    assert [op.output_shape for op in convs] == ref.conv_shapes
    assert kinds.get("batchnorm", 0) == _count(model, nn.modules.batchnorm._BatchNorm)
    assert kinds.get("pool", 0) == _count(model, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d))
    assert kinds.get("global_pool", 0) == _count(model, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d))
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for op, m in zip(dense, linears):
        assert (op.attrs["n_in"], op.attrs["n_out"], bool(op.attrs["bias"])) == (
            m.in_features,
            m.out_features,
            m.bias is not None,
        )
    conv_mods = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    for op, m in zip(convs, conv_mods):
        a = op.attrs
        assert (a["in_channels"], a["out_channels"], a["groups"]) == (m.in_channels, m.out_channels, m.groups)
        assert tuple(a["kernel"]) == tuple(m.kernel_size) and tuple(a["stride"]) == tuple(m.stride)
        assert bool(a["bias"]) == (m.bias is not None)
    # every op's input is a graph input or another op's output, with the same shape
    for op in g.ops():
        for t in op.inputs:
            assert g.tensor(t.name).shape == t.shape


# ---------------------------------------------------------------------------------------------
# MLPs
# ---------------------------------------------------------------------------------------------


@st.composite
def mlps(draw):
    n_in = draw(st.integers(1, 64))
    rows = draw(st.sampled_from([None, None, 1, 3, 8]))  # None: (batch, features)
    depth = draw(st.integers(1, 4))
    layers: list[nn.Module] = []
    width = n_in
    for i in range(depth):
        out = draw(st.integers(1, 64))
        layers.append(nn.Linear(width, out, bias=draw(st.booleans())))
        if draw(st.booleans()):
            layers.append(LastAxisBN(out) if rows is not None else nn.BatchNorm1d(out))
        act = draw(st.sampled_from([None, *ACTIVATIONS]))
        if act == "softmax" and i < depth - 1:
            act = "relu"
        if act is not None:
            layers.append(ACTIVATIONS[act][0]())
        width = out
    torch.manual_seed(draw(st.integers(0, 2**16)))
    model = nn.Sequential(*layers)
    # re-initialise deterministically (the seed above only affects init done after it)
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    _randomise_bn(model)
    shape = (2, n_in) if rows is None else (2, rows, n_in)
    return model, torch.randn(shape)


@SETTINGS
@given(mlps())
def test_random_mlp_lowers_consistently(case):
    model, x = case
    check_graph(model, x)
    g = from_torch(model, x)
    acts = [
        m for m in model.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.ELU, nn.GELU, nn.Softmax))
    ]
    got = [op.function for op in g.ops() if op.kind == "activation"]
    want = [ACT_NAME[type(m)] for m in acts]
    assert got == want
    rows = x.shape[1] if x.dim() == 3 else 1
    assert all(op.rows == rows for op in g.ops() if op.kind == "dense")


# ---------------------------------------------------------------------------------------------
# CNNs
# ---------------------------------------------------------------------------------------------


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@SETTINGS
@given(st.data())
def test_random_cnn_lowers_consistently(data):
    model, x = data.draw(_cnn_with_input())
    check_graph(model, x)


@st.composite
def _cnn_with_input(draw):
    """A CNN and an input of the size it was designed for."""
    dims = draw(st.sampled_from([1, 2]))
    size0 = draw(st.integers(4, 32 if dims == 1 else 16))
    Conv = nn.Conv1d if dims == 1 else nn.Conv2d
    BN = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    cin = draw(st.integers(1, 8))
    channels, size = cin, size0
    layers: list[nn.Module] = []
    for _ in range(draw(st.integers(1, 3))):
        cout = draw(st.integers(1, 16))
        groups = draw(st.sampled_from(_divisors(math.gcd(channels, cout))))
        if draw(st.integers(0, 3)) == 0 and channels <= 16:  # depthwise now and then
            cout, groups = channels * draw(st.integers(1, 2)), channels
        dilation = draw(st.sampled_from([1, 1, 2]))
        kernel = draw(st.integers(1, 5))
        pad = draw(st.integers(0, kernel // 2))
        span = dilation * (kernel - 1) + 1
        if size + 2 * pad < span:
            kernel, pad, dilation, span = 1, 0, 1, 1
        stride = draw(st.integers(1, 3))
        layers.append(
            Conv(channels, cout, kernel, stride=stride, padding=pad, dilation=dilation, groups=groups, bias=draw(st.booleans()))
        )
        size = (size + 2 * pad - span) // stride + 1
        channels = cout
        if draw(st.booleans()):
            layers.append(BN(channels))
        act = draw(st.sampled_from(CONV_ACTS))
        if act is not None:
            layers.append(ACTIVATIONS[act][0]())
        pool = draw(st.sampled_from([None, "max", "avg"]))
        if pool is not None and size >= 2:
            P = {("max", 1): nn.MaxPool1d, ("max", 2): nn.MaxPool2d, ("avg", 1): nn.AvgPool1d, ("avg", 2): nn.AvgPool2d}[
                (pool, dims)
            ]
            layers.append(P(2))
            size //= 2
    if draw(st.sampled_from(["flatten", "global"])) == "global":
        layers += [nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        feat = channels
    else:
        layers.append(nn.Flatten())
        feat = channels * size**dims
    if draw(st.booleans()):
        layers.append(nn.Linear(feat, draw(st.integers(1, 32)), bias=draw(st.booleans())))
    torch.manual_seed(draw(st.integers(0, 2**16)))
    model = nn.Sequential(*layers)
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    _randomise_bn(model)
    return model, torch.randn((2, cin) + (size0,) * dims)


def test_reference_counter_on_a_hand_worked_cnn():
    """The hook-based reference itself, on numbers worked out by hand."""
    m = nn.Sequential(
        nn.Conv2d(3, 8, 3, groups=1), nn.Conv2d(8, 8, 3, groups=8, padding=1), nn.Flatten(), nn.Linear(8 * 6 * 6, 4)
    )
    ref = reference(m, torch.randn(2, 3, 8, 8))
    assert ref.macs == 6 * 6 * 8 * 3 * 9 + 6 * 6 * 8 * 1 * 9 + 288 * 4
    assert ref.params == (8 * 27 + 8) + (8 * 9 + 8) + (288 * 4 + 4)
    assert ref.conv_shapes == [(8, 6, 6), (8, 6, 6)]
