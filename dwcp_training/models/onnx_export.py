"""Keras -> ONNX for the Go side, with the contract's names, checked before it is kept.

`keras.Model.export(format="onnx")` names outputs after internal tensors ("Identity:0") and,
with adapted preprocessing layers, can add their statistics as extra inputs. The Go side binds
inputs and outputs by name, so this module renames them to the contract's names and refuses a
model whose inputs are not exactly the one the contract declares.

tf2onnx also leaves work in the graph that a single request pays for on every call: each
recurrent layer gets its zero initial state built at run time from the batch size
(Shape -> Cast -> Slice -> Concat -> Cast -> Expand -> Unsqueeze), and consecutive recurrent
layers are joined by a Transpose to batch-major and straight back. `simplify_graph` removes
both (ONNX recurrent ops default to a zero state), exactly: the outputs do not change.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dwcp_training.atomic import atomic_path


class ExportError(RuntimeError):
    """The exported graph does not match the model contract."""


def rename_io(model_proto, input_name: str, output_names: Sequence[str]) -> None:
    """Rename the single graph input and the outputs (in order) in place."""
    graph = model_proto.graph
    mapping: dict[str, str] = {}
    initializers = {init.name for init in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in initializers]
    if len(real_inputs) != 1:
        names = [i.name for i in real_inputs]
        raise ExportError(f"expected exactly one model input, the graph has {names}")
    mapping[real_inputs[0].name] = input_name
    if len(graph.output) != len(output_names):
        raise ExportError(
            f"expected outputs {list(output_names)}, graph has {[o.name for o in graph.output]}"
        )
    for out, name in zip(graph.output, output_names, strict=True):
        mapping[out.name] = name
    for value in [*graph.input, *graph.output]:
        value.name = mapping.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]


#: Optional initial-state inputs of the ONNX recurrent ops (absent = zeros).
_STATE_INPUTS = {"LSTM": (5, 6), "GRU": (5,), "RNN": (5,)}
#: Ops whose output is all zeros when their first input is.
_ZERO_PRESERVING = {"Expand", "Unsqueeze", "Squeeze", "Reshape", "Tile", "Identity", "Cast"}


def simplify_graph(model_proto) -> None:
    """Drop zero initial states of recurrent nodes and Transpose pairs that cancel, in place.

    Both rewrites are exact; nodes and initializers left unused are then removed.
    """
    from onnx import numpy_helper

    graph = model_proto.graph
    initializers = {init.name: init for init in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}

    def all_zero(name: str) -> bool:
        while name not in initializers:
            node = producer.get(name)
            if node is None or node.op_type not in _ZERO_PRESERVING:
                return False
            name = node.input[0]
        return not np.any(numpy_helper.to_array(initializers[name]))

    for node in graph.node:
        for k in _STATE_INPUTS.get(node.op_type, ()):
            if k < len(node.input) and node.input[k] and all_zero(node.input[k]):
                node.input[k] = ""
        while node.input and not node.input[-1]:
            node.input.pop()

    def perm(node) -> list[int]:
        return next(list(a.ints) for a in node.attribute if a.name == "perm")

    graph_outputs = {o.name for o in graph.output}
    bypass: dict[str, str] = {}
    for node in graph.node:
        first = producer.get(node.input[0]) if node.op_type == "Transpose" else None
        if first is None or first.op_type != "Transpose" or node.output[0] in graph_outputs:
            continue
        p1, p2 = perm(first), perm(node)
        if [p1[i] for i in p2] == list(range(len(p2))):
            bypass[node.output[0]] = first.input[0]
    for node in graph.node:
        node.input[:] = [bypass.get(n, n) for n in node.input]

    while True:
        used = _used_names(graph) | graph_outputs
        live = [node for node in graph.node if any(o in used for o in node.output if o)]
        if len(live) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(live)
    used = _used_names(graph)
    live_inits = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(live_inits)


def _used_names(graph) -> set[str]:
    """Every name a node of `graph` reads, including from inside subgraphs (Loop, If, Scan)."""
    import onnx

    used: set[str] = set()
    for node in graph.node:
        used.update(node.input)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                used |= _used_names(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    used |= _used_names(sub)
    return used


def check_io(model_proto, input_name: str, sample_shape: Sequence[int], outputs: Sequence[str]):
    """Exactly one float32 input named `input_name` shaped (batch, *sample_shape)."""
    import onnx

    graph = model_proto.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if [i.name for i in inputs] != [input_name]:
        raise ExportError(f"inputs {[i.name for i in inputs]} != [{input_name!r}]")
    tensor = inputs[0].type.tensor_type
    if tensor.elem_type != onnx.TensorProto.FLOAT:
        raise ExportError("the input must be float32")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if dims[1:] != list(sample_shape):
        raise ExportError(f"input shape {dims} != (batch, {', '.join(map(str, sample_shape))})")
    if [o.name for o in graph.output] != list(outputs):
        raise ExportError(f"outputs {[o.name for o in graph.output]} != {list(outputs)}")


def export_keras_onnx(
    model,
    dest: Path,
    input_name: str,
    sample_shape: Sequence[int],
    output_names: Sequence[str],
) -> Path:
    """Export a Keras model (raw input -> contract outputs) to `dest` atomically."""
    import onnx

    # Export needs a built, called model; one dummy batch does it.
    model.predict(np.zeros((1, *sample_shape), dtype=np.float32), verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "model.onnx"
        # tf2onnx prints conversion chatter on stdout; the CLI keeps stdout for summaries.
        with contextlib.redirect_stdout(io.StringIO()):
            model.export(str(raw_path), format="onnx", verbose=False)
        proto = onnx.load(raw_path)
    rename_io(proto, input_name, output_names)
    simplify_graph(proto)
    check_io(proto, input_name, sample_shape, output_names)
    onnx.checker.check_model(proto)
    with atomic_path(dest) as tmp_dest:
        onnx.save(proto, tmp_dest)
    return dest


def onnx_session(path: Path, threads: int = 1):
    """An onnxruntime session pinned to `threads` threads (what the Go side embeds)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(path_or_session, x: np.ndarray, batch: int = 8192) -> dict[str, np.ndarray]:
    """All outputs of an ONNX model on `x`, by output name, batched to bound memory."""
    session = path_or_session if hasattr(path_or_session, "run") else onnx_session(path_or_session)
    input_name = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    x = np.asarray(x, dtype=np.float32)
    for start in range(0, max(len(x), 1), batch):
        chunk = x[start : start + batch]
        for name, value in zip(names, session.run(names, {input_name: chunk}), strict=True):
            parts[name].append(np.asarray(value))
    return {n: np.concatenate(v) if v else np.empty(0) for n, v in parts.items()}
