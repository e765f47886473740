"""Rewrites of an exported ONNX graph that keep its outputs and make onnxruntime's CPU provider faster.

:func:`apply_graph_passes` runs them all on a file in place; every ONNX export gets them (its ``params.graph_passes``
records how many nodes each pass rewrote) before any fp16 or int8 conversion, and the export gate then checks the
result against PyTorch like any other export.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional


EMBEDDING_OUTPUT = "embedding"


def apply_graph_passes(path: Path) -> dict[str, int]:
    """Run every pass on the ONNX file at ``path`` in place; return how many rewrites each made."""
    return {"embedding_output": embedding_output(path), "softmax_last_axis": softmax_last_axis(path),
            "conv_per_chunk": conv_per_chunk(path)}


def embedding_output(path: Path) -> int:
    """Add a second graph output ``embedding``, ``(batch, channels)``: the backbone's last feature map (the output of
    its SPPF block, found by its MaxPool nodes, stride 32) averaged over space, in place; return 1 when added, 0 when
    the graph has no SPPF block or already has the output.

    Field monitoring compares these vectors between the training images and what a device sees (drift) and spreads
    an annotation queue over them (diversity); the detections are unchanged and the pooling costs ~0.1 % of a
    forward pass."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    graph = model.graph
    if any(o.name == EMBEDDING_OUTPUT for o in graph.output):
        return 0
    layers = sorted({m.group(1) for n in graph.node if n.op_type == "MaxPool"
                     for m in [re.match(r"/model\.(\d+)/", n.name)] if m}, key=int)
    if not layers:
        return 0
    prefix = f"/model.{layers[-1]}/"
    inside = {out for n in graph.node if n.name.startswith(prefix) for out in n.output}
    leaving = [i for n in graph.node if not n.name.startswith(prefix) for i in n.input if i in inside]
    if not leaving:
        return 0
    pooled = f"{prefix}embedding/pooled"
    graph.node.extend([helper.make_node("GlobalAveragePool", [leaving[0]], [pooled], name=f"{prefix}embedding/pool"),
                       helper.make_node("Flatten", [pooled], [EMBEDDING_OUTPUT], axis=1,
                                        name=f"{prefix}embedding/flatten")])
    graph.output.append(helper.make_tensor_value_info(EMBEDDING_OUTPUT, onnx.TensorProto.FLOAT, ["batch", "channels"]))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return 1


def softmax_last_axis(path: Path) -> int:
    """Rewrite 4-D Softmax nodes over axis 1 as transpose → softmax over the last axis → transpose, in place; return
    how many were rewritten.

    The YOLO head's distribution focal loss decodes boxes with a softmax over axis 1 of ``(1, 16, 4, anchors)``;
    onnxruntime's CPU kernel is slow on a non-last axis (10.6 of 54 ms for yolo11n at 640 here). Swapping axes 1 and
    3 around a last-axis softmax computes the same values (identical outputs, tested) and cuts inference by ~17 %.
    """
    import onnx
    from onnx import helper, shape_inference

    model = onnx.load(str(path))
    inferred = shape_inference.infer_shapes(model)
    ranks = {v.name: len(v.type.tensor_type.shape.dim)
             for v in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)}
    nodes, rewritten = [], 0
    for node in model.graph.node:
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
        if node.op_type != "Softmax" or axis != 1 or ranks.get(node.input[0]) != 4:
            nodes.append(node)
            continue
        moved, done = f"{node.input[0]}/axis_last", f"{node.output[0]}/axis_last"
        nodes += [helper.make_node("Transpose", [node.input[0]], [moved], perm=[0, 3, 2, 1], name=f"{node.name}/pre"),
                  helper.make_node("Softmax", [moved], [done], axis=-1, name=node.name),
                  helper.make_node("Transpose", [done], [node.output[0]], perm=[0, 3, 2, 1], name=f"{node.name}/post")]
        rewritten += 1
    if rewritten:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        onnx.save(model, str(path))
    return rewritten


def conv_per_chunk(path: Path) -> int:
    """Replace ``Conv → SiLU → Split`` over channels by one ``Conv → SiLU`` per chunk (the convolution's weights cut
    along its output channels), in place; return how many splits were replaced.

    YOLO's C2f / C3k2 blocks split their first convolution's output in two (``chunk(2, 1)``). onnxruntime's CPU
    provider runs convolutions in a blocked channel layout (NCHWc) but Split only in plain NCHW, so every split costs
    a reorder out of the blocked layout and one back for each consumer, and the residual Add that follows runs in
    NCHW too. Two convolutions with half the outputs each do the same arithmetic and stay in the blocked layout
    (yolo11n at 640x384 here: 25.8 → 24.1 ms; the outputs agree to float rounding, tested). SiLU is Ultralytics'
    ``Sigmoid`` + ``Mul``; a split whose input is anything else is left alone.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
        return 0  # subgraphs may read the initializers this pass would drop
    producer = {out: node for node in graph.node for out in node.output}
    users: dict[str, int] = {}
    for name in [i for node in graph.node for i in node.input] + [o.name for o in graph.output]:
        users[name] = users.get(name, 0) + 1  # a graph output counts as one more reader
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for n in graph.node:  # Constant nodes, and Identity nodes the exporter uses for repeated initializers
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            constants[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        elif n.op_type == "Identity" and n.input[0] in constants:
            constants[n.output[0]] = constants[n.input[0]]
    replaced: dict[int, list[Any]] = {}
    dropped: set[int] = set()
    for node in graph.node:
        found = _silu_conv_split(node, producer, users, constants)
        if found is None:
            continue
        conv, sigmoid, mul, sizes = found
        weight = constants[conv.input[1]]
        bias = constants[conv.input[2]] if len(conv.input) > 2 else None
        attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
        new, start = [], 0
        for k, (size, out) in enumerate(zip(sizes, node.output)):
            inputs = [conv.input[0], f"{conv.name}/weight/chunk{k}"]  # convolutions may share a weight tensor
            graph.initializer.append(numpy_helper.from_array(weight[start:start + size], inputs[1]))
            if bias is not None:
                inputs.append(f"{conv.name}/bias/chunk{k}")
                graph.initializer.append(numpy_helper.from_array(bias[start:start + size], inputs[2]))
            pre, act = f"{conv.output[0]}/chunk{k}", f"{sigmoid.output[0]}/chunk{k}"
            new += [helper.make_node("Conv", inputs, [pre], name=f"{conv.name}/chunk{k}", **attrs),
                    helper.make_node("Sigmoid", [pre], [act], name=f"{sigmoid.name}/chunk{k}"),
                    helper.make_node("Mul", [pre, act], [out], name=f"{mul.name}/chunk{k}")]
            start += size
        replaced[id(node)] = new
        dropped |= {id(conv), id(sigmoid), id(mul)}
    if not replaced:
        return 0
    nodes = []
    for node in graph.node:
        if id(node) in replaced:
            nodes += replaced[id(node)]
        elif id(node) not in dropped:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    kept = [t for t in graph.initializer if t.name in used]  # the uncut weights and the split sizes
    del graph.initializer[:]
    graph.initializer.extend(kept)
    kept_nodes = [n for n in graph.node if n.op_type not in ("Constant", "Identity") or n.output[0] in used]
    del graph.node[:]
    graph.node.extend(kept_nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return len(replaced)


def _silu_conv_split(node: Any, producer: dict[str, Any], users: dict[str, int], constants: dict[str, Any]
                     ) -> Optional[tuple[Any, Any, Any, list[int]]]:
    """``(conv, sigmoid, mul, chunk sizes)`` when ``node`` is a channel Split of ``Conv → Sigmoid·Mul`` whose
    intermediate results nothing else reads and whose weights are constants; else None."""
    if node.op_type != "Split" or next((a.i for a in node.attribute if a.name == "axis"), 0) != 1:
        return None
    mul = producer.get(node.input[0])
    if mul is None or mul.op_type != "Mul" or users.get(mul.output[0]) != 1 or len(mul.input) != 2:
        return None
    conv, sigmoid = producer.get(mul.input[0]), producer.get(mul.input[1])
    if conv is None or sigmoid is None or conv.op_type != "Conv" or sigmoid.op_type != "Sigmoid":
        return None
    if sigmoid.input[0] != conv.output[0] or users.get(conv.output[0]) != 2 or users.get(sigmoid.output[0]) != 1:
        return None
    if any(name not in constants for name in conv.input[1:]) or any(
            a.name == "group" and a.i != 1 for a in conv.attribute):
        return None
    channels = int(constants[conv.input[1]].shape[0])
    given = next((list(a.ints) for a in node.attribute if a.name == "split"), None)
    if given is None and len(node.input) > 1 and node.input[1]:
        if node.input[1] not in constants:
            return None
        given = [int(v) for v in constants[node.input[1]].reshape(-1)]
    sizes = given or [channels // len(node.output)] * len(node.output)
    if len(sizes) != len(node.output) or sum(sizes) != channels or min(sizes) <= 0:
        return None
    return conv, sigmoid, mul, sizes
