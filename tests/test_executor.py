"""hwsim.executor.to_torch: the OpGraph executed in PyTorch reproduces onnxruntime / PyTorch."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hwsim.backends.aimc.reproduce import rbm_graph, svdd_graph  # noqa: E402
from hwsim.errors import ModelError  # noqa: E402
from hwsim.executor import to_torch  # noqa: E402
from hwsim.ir import DENSE, OPAQUE, Op, OpGraph, TensorSpec  # noqa: E402


def _zoo_names():
    try:
        from hwsim.frontends import zoo

        return zoo.names()
    except Exception:
        return []


def _inputs(g, n=5, seed=0, spins=False):
    rng = np.random.default_rng(seed)
    xs = []
    for spec in g.inputs:
        x = rng.normal(size=(n, *spec.shape)).astype(np.float32)
        xs.append(np.sign(x).astype(np.float32) if spins else x)
    return xs


def _fill_constants(g, path):
    """Until the ONNX frontend stores element-wise constants (OpGraph.weights[op]["const"]),
    read them from the file: initializers or Constant nodes feeding the op's ONNX node."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            for at in n.attribute:
                if at.name == "value":
                    inits[n.output[0]] = numpy_helper.to_array(at.t)
    nodes = {n.name: n for n in model.graph.node}
    ops, weights = [], {k: dict(v) for k, v in g.weights.items()}
    for op in g.ops():
        if op.kind == "elementwise" and op.attrs.get("n_const") and "const" not in weights.get(op.name, {}):
            node = nodes.get(op.origin[0] if op.origin else "")
            idx = [i for i, t in enumerate(node.input) if t in inits] if node is not None else []
            if len(idx) != 1:
                pytest.skip(f"{op.name}: constant operand not an initializer")
            weights[op.name] = {"const": inits[node.input[idx[0]]].astype(np.float32)}
            op = op.evolve(attrs=op.attrs.updated(const_index=idx[0]))
        ops.append(op)
    return g.replace_ops(ops, weights=weights)


@pytest.mark.parametrize("name", _zoo_names())
def test_zoo_matches_onnxruntime(name):
    ort = pytest.importorskip("onnxruntime")
    from hwsim.frontends import zoo
    from hwsim.frontends.onnx import load_onnx

    path = zoo.path(name)
    g = _fill_constants(load_onnx(path), path)
    m = to_torch(g)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xs = _inputs(g, spins=name.startswith("rbm"))
    ref = sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), xs)})[0]
    with torch.no_grad():
        out = m(*[torch.from_numpy(x) for x in xs]).numpy()
    np.testing.assert_allclose(out.reshape(ref.shape), ref, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(ref).max())))


def test_ir_graphs_with_constants_match_numpy():
    g = rbm_graph(2)
    s = np.sign(np.random.default_rng(1).normal(size=(7, 16))).astype(np.float32)
    w = g.weights["W"]
    want = np.log(2 * np.cosh(s @ w["weight"].T + w["bias"])).sum(axis=1)
    with torch.no_grad():
        got = to_torch(g)(torch.from_numpy(s)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

    g = svdd_graph(8, hidden=(32, 16, 16))
    x = np.random.default_rng(2).normal(size=(6, 57)).astype(np.float32)
    h = x
    for i in range(4):
        ww = g.weights[f"fc{i}"]
        h = h @ ww["weight"].T + ww["bias"]
        if i < 3:
            h = np.maximum(h, 0)
    want = ((h - g.weights["sub_target"]["const"]) ** 2).sum(axis=1)
    with torch.no_grad():
        got = to_torch(g)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_const_first_operand():
    x = TensorSpec("x", (3,))
    y = TensorSpec("y", (3,))
    g = OpGraph(
        [Op("rsub", "elementwise", (x,), (y,), {"function": "sub", "n_const": 1, "const_shape": (3,), "const_index": 0})],
        [x],
        ["y"],
        weights={"rsub": {"const": np.array([1.0, 2.0, 3.0], np.float32)}},
    )
    out = to_torch(g)(torch.ones(2, 3))
    assert out.tolist() == [[0.0, 1.0, 2.0]] * 2


class _Mixed(torch.nn.Module):
    """Conv, BN, avg pooling with padding (count_include_pad=False), depthwise conv, concat,
    max pooling, reduce, layernorm, softmax: a broad op mix through export_onnx -> ONNX
    frontend -> executor."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.avg = torch.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.max = torch.nn.MaxPool2d(2)
        self.dw = torch.nn.Conv2d(4, 4, 3, groups=4, padding=1)
        self.ln = torch.nn.LayerNorm(8)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        a = torch.nn.functional.leaky_relu(self.bn(self.conv(x)), 0.1)
        a = self.avg(a)
        b = torch.nn.functional.elu(self.dw(a))
        c = torch.cat([a, b], dim=1)  # (8, h, w)
        c = self.max(c)
        c = c.mean(dim=(2, 3))  # (8,)
        c = self.ln(c)
        return torch.softmax(self.fc(torch.sigmoid(c)), dim=-1)


def test_broad_op_mix_matches_pytorch():
    from hwsim.frontends.onnx import from_proto
    from hwsim.frontends.torch import export_onnx

    onnx = pytest.importorskip("onnx")
    torch.manual_seed(0)
    m = _Mixed()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 1.5)
    m.eval()
    buf = io.BytesIO()
    export_onnx(m, (2, 9, 9), buf)
    g = from_proto(onnx.load_from_string(buf.getvalue()), name="mixed")
    x = torch.randn(3, 2, 9, 9)
    with torch.no_grad():
        np.testing.assert_allclose(to_torch(g)(x).numpy(), m(x).numpy(), rtol=1e-5, atol=1e-6)


def test_missing_weights_and_opaque_raise():
    x = TensorSpec("x", (4,))
    y = TensorSpec("y", (2,))
    g = OpGraph([Op("fc", DENSE, (x,), (y,), {"n_in": 4, "n_out": 2, "bias": True})], [x], ["y"])
    with pytest.raises(ModelError, match="fc"):
        to_torch(g)
    g = OpGraph([Op("weird", OPAQUE, (x,), (y,), {"op_type": "Foo", "domain": ""})], [x], ["y"])
    with pytest.raises(ModelError, match="weird"):
        to_torch(g)


def test_wrong_input_shape_raises():
    g = rbm_graph(1)
    with pytest.raises(ModelError, match="expected"):
        to_torch(g)(torch.zeros(2, 15))


def test_asymmetric_conv_padding():
    rng = np.random.default_rng(3)
    x = TensorSpec("x", (2, 6, 6))
    y = TensorSpec("y", (3, 6, 6))
    attrs = {
        "dims": 2,
        "in_channels": 2,
        "out_channels": 3,
        "kernel": (2, 2),
        "stride": (1, 1),
        "pads": (0, 0, 1, 1),
        "dilation": (1, 1),
        "groups": 1,
        "bias": True,
    }
    w = rng.normal(size=(3, 2, 2, 2)).astype(np.float32)
    b = rng.normal(size=3).astype(np.float32)
    g = OpGraph([Op("c", "conv", (x,), (y,), attrs)], [x], ["y"], weights={"c": {"weight": w, "bias": b}})
    xx = torch.randn(2, 2, 6, 6)
    want = torch.nn.functional.conv2d(torch.nn.functional.pad(xx, (0, 1, 0, 1)), torch.from_numpy(w), torch.from_numpy(b))
    with torch.no_grad():
        np.testing.assert_allclose(to_torch(g)(xx).numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
