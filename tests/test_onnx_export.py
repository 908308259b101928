"""`onnx_export.simplify_graph`: the rewrites of tf2onnx's output are exact and keep what is used.

Built with onnx.helper (no TensorFlow), in the shapes tf2onnx emits for stacked Keras LSTMs: a
zero initial state expanded to the run-time batch size, and a Transpose to batch-major and back
between two recurrent layers.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from dwcp_training.models.onnx_export import simplify_graph

T, H = 5, 3


def _init(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _lstm(prefix: str, x: str, width: int, rng) -> tuple[list, list]:
    """An LSTM node on time-major `x` with a zero state built from x's batch size."""
    inits = [
        _init(f"{prefix}_W", rng.normal(size=(1, 4 * H, width)).astype(np.float32)),
        _init(f"{prefix}_R", rng.normal(size=(1, 4 * H, H)).astype(np.float32)),
        _init(f"{prefix}_B", rng.normal(size=(1, 8 * H)).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Shape", [x], [f"{prefix}_shape"]),
        helper.make_node("Gather", [f"{prefix}_shape", "one"], [f"{prefix}_batch"], axis=0),
        helper.make_node("Concat", [f"{prefix}_batch", "h_width"], [f"{prefix}_hshape"], axis=0),
        helper.make_node("Expand", ["zero", f"{prefix}_hshape"], [f"{prefix}_zeros"]),
        helper.make_node("Unsqueeze", [f"{prefix}_zeros", "zero_axis"], [f"{prefix}_h0"]),
        helper.make_node(
            "LSTM",
            [x, f"{prefix}_W", f"{prefix}_R", f"{prefix}_B", "", f"{prefix}_h0", f"{prefix}_h0"],
            [f"{prefix}_Y"],
            hidden_size=H,
        ),
        helper.make_node("Squeeze", [f"{prefix}_Y", "one_axis"], [f"{prefix}_out"]),
    ]
    return nodes, inits


def _model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    n1, i1 = _lstm("a", "x", 2, rng)
    n2, i2 = _lstm("b", "back", H, rng)
    between = [
        helper.make_node("Transpose", ["a_out"], ["batch_major"], perm=[1, 0, 2]),
        helper.make_node("Transpose", ["batch_major"], ["back"], perm=[1, 0, 2]),
    ]
    # A Loop whose body reads an outer-scope value: that producer must survive.
    body = helper.make_graph(
        [helper.make_node("Add", ["carried", "outer_bias"], ["carried_out"])],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("carried", TensorProto.FLOAT, [T, None, H]),
        ],
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("carried_out", TensorProto.FLOAT, [T, None, H]),
        ],
    )
    tail = [
        helper.make_node("ReduceMean", ["b_out"], ["outer_bias"], keepdims=1),
        helper.make_node("Loop", ["trips", "", "b_out"], ["y"], body=body),
    ]
    consts = [
        _init("zero", np.float32(0.0)),
        _init("one", np.array([1], np.int64)),
        _init("h_width", np.array([H], np.int64)),
        _init("zero_axis", np.array([0], np.int64)),
        _init("one_axis", np.array([1], np.int64)),
        _init("trips", np.int64(2)),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("Shape", ["x"], ["x_shape"]),
            helper.make_node("Gather", ["x_shape", "zero_idx"], ["unused_len"], axis=0),
            *n1,
            *between,
            *n2,
            *tail,
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [T, None, H])],
        [*consts, _init("zero_idx", np.int64(0)), *i1, *i2],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_simplify_graph_is_exact_and_drops_zero_states_and_cancelling_transposes():
    before = _model()
    onnx.checker.check_model(before)
    after = _model()
    simplify_graph(after)
    onnx.checker.check_model(after)

    ops = [n.op_type for n in after.graph.node]
    assert "Expand" not in ops and "Transpose" not in ops and "Gather" not in ops, ops
    for node in after.graph.node:
        if node.op_type == "LSTM":
            assert list(node.input) == [node.input[0], *node.input[1:4]], list(node.input)
    assert "outer_bias" in {o for n in after.graph.node for o in n.output}
    assert "zero_idx" not in {i.name for i in after.graph.initializer}

    x = np.random.default_rng(1).normal(size=(T, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(_run(after, x), _run(before, x))


def test_a_nonzero_initial_state_is_kept():
    model = _model()
    for init in model.graph.initializer:
        if init.name == "zero":
            init.CopyFrom(_init("zero", np.float32(0.5)))
    simplify_graph(model)
    lstms = [n for n in model.graph.node if n.op_type == "LSTM"]
    assert all(len(n.input) == 7 and n.input[5] for n in lstms)
