"""Hand onnxmltools' tree converters every tree of an ensemble from one save instead of one each.

The converters read a tree by saving it with Spark and reading its node table back: about a
second per tree locally, so a 100-tree GBT takes minutes to convert. The same node tables are
in the ensemble's own saved `data` (one row per node, keyed by `treeID`), so the ensemble is
saved once, its nodes are read once, and the converters' reader is answered from that table
while the conversion runs. What the converters do with the nodes is untouched (their
categorical-split bug included: the quality gate's `serving_parity` check is what catches it).

Only a local Spark master is sped up; anywhere else the converters read as they always do.
"""

from __future__ import annotations

import contextlib
import importlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession

# The converter modules that bind the reader under this name (onnxmltools 1.16).
READER = "save_read_sparkml_model_data"
CONVERTER_MODULES = tuple(
    f"onnxmltools.convert.sparkml.operator_converters.{name}" for name in (
        "decision_tree_classifier", "decision_tree_regressor", "random_forest_classifier",
        "random_forest_regressor"))


class NodeTable:
    """One tree's nodes, answering the two calls the converters make on a Spark DataFrame."""

    def __init__(self, frame: pd.DataFrame):
        self._frame = frame

    def toPandas(self) -> pd.DataFrame:  # noqa: N802 - the Spark DataFrame method it stands for
        return self._frame.copy()

    def count(self) -> int:
        return len(self._frame)


def ensemble_nodes(spark: SparkSession, ensemble, workdir: Path) -> dict[str, NodeTable]:
    """{tree uid: its nodes} for a fitted tree ensemble, from one save of the ensemble."""
    path = workdir / ensemble.uid
    ensemble.write().overwrite().save(str(path))
    rows = spark.read.parquet(str(path / "data")).select("treeID", "nodeData.*").toPandas()
    trees = ensemble.trees
    uids = [tree.uid for tree in trees]
    if len(set(uids)) != len(uids):  # cannot tell the trees apart: let the converter read
        return {}
    return {uid: NodeTable(rows[rows.treeID == number].drop(columns="treeID")
                           .reset_index(drop=True))
            for number, uid in enumerate(uids)}


@contextlib.contextmanager
def bulk_tree_reads(model: PipelineModel, spark: SparkSession) -> Iterator[None]:
    """While inside, the converters read the trees of `model`'s ensembles from one save each."""
    if not str(spark.conf.get("spark.master", "local")).startswith("local"):
        yield
        return
    modules = [importlib.import_module(name) for name in CONVERTER_MODULES]
    modules = [m for m in modules if hasattr(m, READER)]
    with tempfile.TemporaryDirectory(prefix="onnx-trees-") as tmp:
        nodes: dict[str, NodeTable] = {}
        for stage in getattr(model, "stages", [model]):
            if hasattr(stage, "trees") and hasattr(stage, "write"):
                nodes.update(ensemble_nodes(spark, stage, Path(tmp)))
        originals = {m: getattr(m, READER) for m in modules}

        def read(session, tree):
            found = nodes.get(getattr(tree, "uid", None))
            return found if found is not None else originals[modules[0]](session, tree)

        try:
            for module in modules:
                setattr(module, READER, read)
            yield
        finally:
            for module, original in originals.items():
                setattr(module, READER, original)
