"""Tests of the PyTorch frontend (hwsim.frontends.torch): export + ONNX lowering.

Expected MACs and parameter counts come from the layer formulas and from PyTorch itself
(``sum(p.numel())``), numerics from running the module in PyTorch.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from onnx.reference import ReferenceEvaluator  # noqa: E402

from hwsim.errors import ModelError  # noqa: E402
from hwsim.frontends import load_model  # noqa: E402
from hwsim.frontends.onnx import load_onnx  # noqa: E402
from hwsim.frontends.torch import OPSET, export_onnx, from_torch  # noqa: E402
from hwsim.ir import Precision  # noqa: E402


class BraggCNN(nn.Module):
    """Conv2d + BN + ReLU + MaxPool + Linear on an 11x11 patch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 5 * 5, 3)

    def forward(self, x):
        h = self.pool(torch.relu(self.bn(self.conv(x))))
        return self.fc(h.view(h.size(0), -1))


class DeepSets(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 16))
        self.rho = nn.Sequential(nn.Linear(16, 8), nn.GELU(), nn.Linear(8, 5))

    def forward(self, x):  # (batch, particles, features)
        return self.rho(self.phi(x).mean(dim=1))


def _seeded(m: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for p in m.parameters():
        nn.init.normal_(p)
    for b in m.buffers():
        if b.dtype.is_floating_point:
            b.copy_(torch.rand_like(b) + 0.5)
    return m.eval()


def test_cnn_macs_and_params_match_pytorch():
    m = _seeded(BraggCNN())
    g = from_torch(m, (1, 11, 11))
    kinds = [op.kind for op in g.ops()]
    assert kinds == ["conv", "batchnorm", "activation", "pool", "reshape", "dense"]  # BN not folded
    assert g.n_params == sum(p.numel() for p in m.parameters())
    conv_macs = 8 * 11 * 11 * (1 * 3 * 3)  # out_ch x out_pixels x (in_ch x kernel)
    fc_macs = 200 * 3
    assert g.macs == conv_macs + fc_macs
    conv = g.ops()[0]
    assert conv.attrs["pads"] == (1, 1, 1, 1) and conv.output_shape == (8, 11, 11)
    np.testing.assert_array_equal(g.weights[conv.name]["weight"], m.conv.weight.detach().numpy())
    bn = g.ops()[1]
    np.testing.assert_array_equal(g.weights[bn.name]["mean"], m.bn.running_mean.numpy())
    np.testing.assert_array_equal(g.weights[bn.name]["var"], m.bn.running_var.numpy())
    assert bn.attrs["epsilon"] == pytest.approx(m.bn.eps)
    assert all(op.precision.weight == Precision.float32() for op in g.ops())
    assert g.ops()[-1].origin == ("/fc/Gemm",)


def test_module_and_its_exported_file_have_the_same_fingerprint(tmp_path):
    m = _seeded(BraggCNN())
    p = tmp_path / "bragg.onnx"
    export_onnx(m, torch.zeros(1, 1, 11, 11), p)
    from_file = load_onnx(p)
    from_mod = from_torch(m, (1, 11, 11))
    assert from_file.fingerprint() == from_mod.fingerprint()
    assert from_file.name == "bragg" and from_mod.name == "BraggCNN"
    # a tensor with a batch dimension and a shape tuple lower identically
    assert from_torch(m, torch.randn(4, 1, 11, 11)).fingerprint() == from_mod.fingerprint()
    assert load_model(m, example_input=(1, 11, 11)).fingerprint() == from_mod.fingerprint()


def test_export_is_faithful_dynamic_batch_and_quiet(recwarn, capfd):
    m = _seeded(DeepSets())
    buf = io.BytesIO()
    export_onnx(m, (8, 3), buf)
    assert not [w for w in recwarn.list if "onnx" in str(w.filename) or "export" in str(w.message).lower()]
    out = capfd.readouterr()
    assert out.err == "" and out.out == ""
    proto = onnx.load_from_string(buf.getvalue())
    assert proto.opset_import[0].version == OPSET
    assert proto.graph.input[0].name == "input" and proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    x = torch.randn(3, 8, 3)  # batch 3 although exported with batch 1
    with torch.no_grad():
        want = m(x).numpy()
    got = ReferenceEvaluator(proto).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_deep_sets_lowering():
    m = _seeded(DeepSets())
    g = from_torch(m, (8, 3))
    kinds = [(op.kind, op.function) for op in g.ops()]
    assert kinds == [
        ("dense", ""),
        ("activation", "relu"),
        ("dense", ""),
        ("reduce", "mean"),
        ("dense", ""),
        ("activation", "gelu"),
        ("dense", ""),
    ]
    phi0 = g.ops()[0]
    assert phi0.rows == 8 and phi0.input_shape == (8, 3) and phi0.attrs["bias"] is True
    assert phi0.origin == ("/phi/phi.0/MatMul", "/phi/phi.0/Add")  # MatMul + bias Add fused
    assert phi0.name == "phi_phi_0_MatMul"
    np.testing.assert_array_equal(g.weights[phi0.name]["weight"], m.phi[0].weight.detach().numpy())
    np.testing.assert_array_equal(g.weights[phi0.name]["bias"], m.phi[0].bias.detach().numpy())
    assert g.ops()[3].attrs["axes"] == (0,)
    assert g.n_params == sum(p.numel() for p in m.parameters())
    assert g.macs == 8 * (3 * 16 + 16 * 16) + 16 * 8 + 8 * 5


def test_attention_matmul_layernorm_and_conv1d():
    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(4, 6, 3, stride=2)
            self.ln = nn.LayerNorm(6, elementwise_affine=False)
            self.q = nn.Linear(6, 6, bias=False)

        def forward(self, x):  # (batch, 4, 17)
            h = self.conv(x).transpose(1, 2)  # (batch, 8, 6)
            h = self.ln(h)
            s = torch.softmax(self.q(h) @ h.transpose(1, 2), dim=-1)  # (batch, 8, 8)
            return s @ h

    m = _seeded(Tiny())
    g = from_torch(m, (4, 17))
    assert g.n_params == sum(p.numel() for p in m.parameters())  # LN without affine: 0 params
    mm = [op for op in g.ops() if op.kind == "matmul"]
    assert len(mm) == 2 and mm[0].macs == 8 * 6 * 8 and mm[1].macs == 8 * 8 * 6
    sm = next(op for op in g.ops() if op.function == "softmax")
    assert sm.attrs["axis"] == 1
    conv = next(op for op in g.ops() if op.kind == "conv")
    assert conv.attrs["dims"] == 1 and conv.output_shape == (6, 8) and conv.macs == 6 * 8 * 4 * 3


def test_bitnet_style_ternary_linear():
    lin = nn.Linear(16, 4, bias=False)
    torch.manual_seed(1)
    with torch.no_grad():
        t = torch.randint(-1, 2, (4, 16)).float()
        t[0, :3] = torch.tensor([-1.0, 0.0, 1.0])
        lin.weight.copy_(t * 0.043)
    g = from_torch(lin, (16,))
    d = g.ops()[0]
    assert d.precision.weight == Precision.ternary()
    assert d.sparsity == pytest.approx(float((t == 0).float().mean()))


def test_bad_inputs_raise_model_error():
    m = _seeded(BraggCNN())
    with pytest.raises(ModelError, match="forward pass"):
        from_torch(m, (2, 11, 11))  # wrong channel count
    with pytest.raises(ModelError, match="example_input"):
        from_torch(m, "not a shape")
    with pytest.raises(ModelError):
        load_model(m)  # a module needs an example input


def test_export_of_a_module_in_train_mode_uses_eval_and_restores_the_mode():
    m = _seeded(BraggCNN()).train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = from_torch(m, (1, 11, 11))
    assert m.training and m.bn.training  # the caller's mode is restored
    assert g.fingerprint() == from_torch(m.eval(), (1, 11, 11)).fingerprint()
    assert any(op.kind == "batchnorm" for op in g.ops())


def test_batchnorm_over_the_feature_axis_via_transposes_is_one_bn_that_folds():
    """``bn(x.transpose(1, 2)).transpose(1, 2)`` after a per-particle Linear: one BN on the
    last axis (not transpose + BN + transpose), which fold_batchnorm folds into the Linear."""
    from hwsim.passes import fold_batchnorm

    class Phi(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 16)
            self.bn = nn.BatchNorm1d(16)

        def forward(self, x):  # (batch, 8 particles, 3)
            return torch.relu(self.bn(self.fc(x).transpose(1, 2)).transpose(1, 2))

    m = _seeded(Phi())
    g = from_torch(m, (8, 3))
    assert [op.kind for op in g.ops()] == ["dense", "batchnorm", "activation"]
    bn = g.ops()[1]
    assert bn.attrs["axis"] == 1 and bn.attrs["channels"] == 16 and bn.input_shape == bn.output_shape == (8, 16)
    assert len(bn.origin) == 3  # Transpose, BatchNormalization, Transpose
    assert g.n_params == sum(p.numel() for p in m.parameters())
    res = fold_batchnorm(g)
    assert res.changed and [op.kind for op in res.graph.ops()] == ["dense", "activation"]
    x = torch.randn(2, 8, 3)
    with torch.no_grad():
        want = m(x).numpy()
    w = res.graph.weights[res.graph.ops()[0].name]
    got = np.maximum(x.numpy() @ w["weight"].T + w["bias"], 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
