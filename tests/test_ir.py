from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import mlp_graph

from hwsim.errors import ModelError
from hwsim.ir import CONV, DENSE, Attrs, Op, OpGraph, OpPrecision, Precision, TensorSpec, weight_sparsity


@pytest.mark.parametrize(
    "text, kind, total, integer, signed",
    [
        ("ap_fixed<16,6>", "fixed", 16, 6, True),
        ("fixed<8, 1>", "fixed", 8, 1, True),
        ("ap_ufixed<10,0>", "fixed", 10, 0, False),
        ("ap_int<4>", "int", 4, 4, True),
        ("ap_uint<8>", "int", 8, 8, False),
        ("int8", "int", 8, 8, True),
        ("float32", "float", 32, 8, True),
        ("ternary", "ternary", 2, 2, True),
        ("binary", "binary", 1, 1, True),
    ],
)
def test_precision_parse(text, kind, total, integer, signed):
    p = Precision.parse(text)
    assert (p.kind, p.total_bits, p.int_bits, p.signed) == (kind, total, integer, signed)
    assert Precision.from_json(p.to_json()) == p


def test_precision_rejects_garbage():
    with pytest.raises(ValueError):
        Precision.parse("ap_fixed<16>")
    with pytest.raises(ValueError):
        Precision("fixed", 0, 0)


def test_precision_hls_spelling_round_trips():
    for p in (Precision.fixed(18, 8), Precision.fixed(6, 2, signed=False), Precision.integer(3)):
        assert Precision.parse(p.to_hls()) == p


def test_counts_dense_and_conv():
    g = mlp_graph((16, 64, 32, 32, 5))
    # 16*64+64 + 64*32+32 + 32*32+32 + 32*5+5
    assert g.n_params == 1088 + 2080 + 1056 + 165
    assert g.macs == 16 * 64 + 64 * 32 + 32 * 32 + 32 * 5
    x = TensorSpec("x", (3, 11, 11))
    conv = Op(
        "c",
        CONV,
        (x,),
        (TensorSpec("y", (8, 9, 9)),),
        {
            "dims": 2,
            "in_channels": 3,
            "out_channels": 8,
            "kernel": (3, 3),
            "stride": (1, 1),
            "pads": (0, 0, 0, 0),
            "dilation": (1, 1),
            "groups": 1,
            "bias": True,
        },
    )
    assert conv.n_params == 8 * 3 * 9 + 8
    assert conv.macs == 81 * 8 * 3 * 9


def test_dense_rows_deepsets():
    x = TensorSpec("x", (8, 3))
    op = Op("phi", DENSE, (x,), (TensorSpec("y", (8, 32)),), {"n_in": 3, "n_out": 32, "bias": True})
    assert op.rows == 8
    assert op.macs == 8 * 3 * 32
    assert op.n_params == 3 * 32 + 32


def test_json_round_trip_and_fingerprint_stability():
    g = mlp_graph()
    text = g.dumps()
    g2 = OpGraph.loads(text)
    assert g2 == g
    assert g2.fingerprint() == g.fingerprint()
    assert json.loads(text)["schema_version"] == 1


def test_fingerprint_ignores_names_but_not_structure():
    a = mlp_graph((16, 8, 4), name="a")
    b = mlp_graph((16, 8, 4), name="b", seed=3)  # other weights, other graph name
    assert a.fingerprint() == b.fingerprint()
    c = mlp_graph((16, 8, 5))
    assert c.fingerprint() != a.fingerprint()
    p = OpPrecision(weight=Precision.fixed(8, 1))
    d = mlp_graph((16, 8, 4), precision=p)
    assert d.fingerprint() != a.fingerprint()
    # renaming ops does not change the fingerprint
    renamed = OpGraph([op.evolve(name="z_" + op.name, origin=()) for op in a.ops()], a.inputs, a.outputs)
    assert renamed.fingerprint() == a.fingerprint()


def test_sparsity_changes_fingerprint_and_counts():
    g = mlp_graph((4, 4))
    op = g.ops()[0].evolve(sparsity=0.5)
    assert op.n_nonzero_weights == 8
    g2 = g.replace_ops([op, *g.ops()[1:]])
    assert g2.fingerprint() != g.fingerprint()
    assert weight_sparsity(np.array([0.0, 1.0, 0.0, 2.0])) == 0.5
    with pytest.raises(ValueError):
        op.evolve(sparsity=1.5)


def test_ops_are_frozen_and_attrs_hashable():
    g = mlp_graph((4, 2))
    op = g.ops()[0]
    with pytest.raises(AttributeError):
        op.name = "x"  # type: ignore[misc]
    assert hash(op.attrs) == hash(Attrs({"n_in": 4, "n_out": 2, "bias": True}))
    assert op.attrs == {"n_in": 4, "n_out": 2, "bias": True}


def test_graph_validation_errors():
    x = TensorSpec("x", (4,))
    op = Op("a", DENSE, (TensorSpec("missing", (4,)),), (TensorSpec("y", (2,)),), {"n_in": 4, "n_out": 2, "bias": True})
    with pytest.raises(ModelError, match="missing"):
        OpGraph([op], [x], ["y"])
    op1 = Op("a", DENSE, (x,), (TensorSpec("y", (2,)),), {"n_in": 4, "n_out": 2, "bias": True})
    with pytest.raises(ModelError, match="duplicate"):
        OpGraph([op1, op1], [x], ["y"])
    with pytest.raises(ModelError, match="output"):
        OpGraph([op1], [x], ["nope"])
    with pytest.raises(ModelError, match="schema_version"):
        OpGraph.from_json({"schema_version": 99, "ops": [], "inputs": [], "outputs": []})


def test_topological_order_and_neighbours():
    g = mlp_graph((16, 8, 4))
    names = [op.name for op in g.ops()]
    assert names == ["fc0", "act0", "fc1", "act1"]
    assert [o.name for o in g.successors("fc0")] == ["act0"]
    assert [o.name for o in g.predecessors("fc1")] == ["act0"]
    assert g.producer("h1").name == "fc1"
    assert [o.name for o in g.consumers("a0")] == ["fc1"]
    assert g.nx.number_of_edges() == 3
