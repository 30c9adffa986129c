"""One ONNX tree-ensemble node for a whole GBT, instead of one node per tree.

onnxmltools converts a Spark GBT as one `TreeEnsembleRegressor` node per tree, a `Concat` of
their outputs and a `MatMul` by the tree weights. onnxruntime pays a few microseconds per node,
so a 150-tree model costs ~0.75 ms a row, almost all of it overhead. The same sum is one
`TreeEnsembleRegressor` holding every tree with each leaf value multiplied by its tree's weight
(`aggregate_function: SUM`): the same model in one node, at a small fraction of the cost. The
graph is only rewritten when it has exactly that shape; anything else is left as converted.
Leaves times weights are rounded to float32 once instead of at the MatMul, so scores move by
~1e-7 at most, far inside the gate's parity tolerance (which checks the result anyway).
"""

from __future__ import annotations

from typing import Any

NODE_LISTS = ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes",
              "nodes_values", "nodes_truenodeids", "nodes_falsenodeids",
              "nodes_missing_value_tracks_true", "nodes_hitrates")
TARGET_LISTS = ("target_ids", "target_nodeids", "target_treeids")


def _attributes(node) -> dict[str, Any]:
    from onnx import helper

    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}


def _mergeable(tree) -> bool:
    attrs = _attributes(tree)
    return (tree.op_type == "TreeEnsembleRegressor" and attrs.get("n_targets") == 1
            and attrs.get("post_transform", "NONE") == "NONE"
            and attrs.get("aggregate_function", "SUM") == "SUM"
            and not attrs.get("base_values") and "nodes_values_as_tensor" not in attrs
            and "target_weights_as_tensor" not in attrs
            and all(key in attrs for key in (*NODE_LISTS, *TARGET_LISTS, "target_weights")))


def _merged_node(trees: list, weights: list[float], output: str, name: str):
    """One TreeEnsembleRegressor summing `trees`, each leaf scaled by its tree's weight."""
    from onnx import helper

    merged: dict[str, list] = {key: [] for key in (*NODE_LISTS, *TARGET_LISTS,
                                                   "target_weights")}
    offset = 0
    for tree, weight in zip(trees, weights, strict=True):
        attrs = _attributes(tree)
        renumber = {old: offset + i for i, old in enumerate(sorted(set(attrs["nodes_treeids"])))}
        for key in NODE_LISTS:
            values = attrs[key]
            merged[key] += [renumber[v] for v in values] if key == "nodes_treeids" else values
        merged["target_treeids"] += [renumber[v] for v in attrs["target_treeids"]]
        merged["target_ids"] += attrs["target_ids"]
        merged["target_nodeids"] += attrs["target_nodeids"]
        merged["target_weights"] += [float(v) * weight for v in attrs["target_weights"]]
        offset += len(renumber)
    merged["nodes_modes"] = [m.decode() if isinstance(m, bytes) else m
                             for m in merged["nodes_modes"]]
    return helper.make_node("TreeEnsembleRegressor", list(trees[0].input), [output], name=name,
                            domain="ai.onnx.ml", n_targets=1, post_transform="NONE",
                            aggregate_function="SUM", **merged)


def merge_tree_ensembles(model):
    """`model` with every per-tree Concat + MatMul pattern folded into one ensemble node."""
    from onnx import numpy_helper

    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    initializers = {i.name: i for i in graph.initializer}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    replaced: dict[int, Any] = {}  # id(MatMul node) -> merged node
    removed: set[int] = set()
    dropped_initializers: set[str] = set()
    for number, matmul in enumerate(n for n in graph.node if n.op_type == "MatMul"):
        concat = producers.get(matmul.input[0])
        weights = initializers.get(matmul.input[1])
        if concat is None or concat.op_type != "Concat" or weights is None \
                or consumers.get(concat.output[0]) != 1 or consumers.get(weights.name) != 1:
            continue
        trees = [producers.get(name) for name in concat.input]
        if not trees or any(t is None or not _mergeable(t) or list(t.input) != list(trees[0].input)
                            or consumers.get(t.output[0]) != 1 for t in trees):
            continue
        vector = numpy_helper.to_array(weights).reshape(-1).tolist()
        if len(vector) != len(trees):
            continue
        replaced[id(matmul)] = _merged_node(trees, vector, matmul.output[0],
                                            f"TreeEnsembleSum{number}")
        removed.update(id(node) for node in (*trees, concat))
        dropped_initializers.add(weights.name)
    if not replaced:
        return model
    nodes = [replaced.get(id(node), node) for node in graph.node if id(node) not in removed]
    del graph.node[:]
    graph.node.extend(nodes)
    kept = [i for i in graph.initializer if i.name not in dropped_initializers]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model
