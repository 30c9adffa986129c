"""The ONNX form of a registered version: how it is declared, opened and fed.

Training (`template/ml_pipeline/onnx_export.py`) writes the ONNX form of a Spark pipeline into
the same MLflow model directory as its Spark form, declared as an `onnx` flavour (`data:
model.onnx`, the graph's `probability_output`). Two readers need the same facts about it and
must agree on them: the quality gate, which checks the form scores as the Spark form does
(`validation/serving_parity.py`), and the gateway, which serves it (`serving/onnx_scoring.py`).

Threads: one scoring call is microseconds of work, far less than waking a thread pool, so a
session runs on the calling thread (one intra-op and one inter-op thread, no spinning: spinning
threads would burn the cores that the event loop, Spark or the other slot need). Parallelism
comes from the callers: a session is safe to call from several threads at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ONNX_FLAVOR = "onnx"
DEFAULT_OUTPUT = "probability"
# numpy types of the graph inputs a form may declare (the template's are float and string);
# any other input type is fed float32, which onnxruntime then refuses.
INPUT_DTYPES = {"tensor(float)": np.dtype(np.float32), "tensor(double)": np.dtype(np.float64),
                "tensor(int64)": np.dtype(np.int64), "tensor(int32)": np.dtype(np.int32),
                "tensor(string)": np.dtype(object)}
# The version tag the quality gate sets: "fail" means the two forms disagree on the test set,
# and the gateway then serves the Spark form.
PARITY_TAG = "validation.serving_parity"


@dataclass(frozen=True)
class OnnxForm:
    """Where a model directory's ONNX form is and which output holds the probabilities."""

    path: Path
    probability_output: str


def onnx_flavor(flavors: dict[str, Any] | None) -> dict[str, Any] | None:
    """The `onnx` flavour's settings, if the model declares one with a file."""
    flavor = (flavors or {}).get(ONNX_FLAVOR)
    return flavor if flavor and flavor.get("data") else None


def onnx_form_of(flavors: dict[str, Any] | None, model_dir: Path) -> OnnxForm | None:
    """The ONNX form in a downloaded model directory, if it declares one that exists."""
    flavor = onnx_flavor(flavors)
    if flavor is None or not (model_dir / str(flavor["data"])).is_file():
        return None
    return OnnxForm(model_dir / str(flavor["data"]),
                    str(flavor.get("probability_output") or DEFAULT_OUTPUT))


def session_options():
    """onnxruntime options for microsecond calls on a shared machine (see the docstring)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initialisers are not news
    return options


class OnnxSession:
    """An onnxruntime session over an ONNX form: rows in, P(positive) per row out."""

    def __init__(self, model: Path | bytes, probability_output: str = DEFAULT_OUTPUT):
        import onnxruntime as ort

        source = str(model) if isinstance(model, Path) else model
        self.session = ort.InferenceSession(source, sess_options=session_options(),
                                            providers=["CPUExecutionProvider"])
        outputs = [o.name for o in self.session.get_outputs()]
        if probability_output not in outputs:
            raise ValueError(f"the ONNX form has no {probability_output!r} output "
                             f"(outputs: {', '.join(outputs)})")
        self.output = probability_output
        # (name, numpy type) per graph input; strings are numpy objects
        self.inputs = [(i.name, INPUT_DTYPES.get(i.type, np.dtype(np.float32)))
                       for i in self.session.get_inputs()]

    @property
    def input_names(self) -> list[str]:
        return [name for name, _ in self.inputs]

    def feeds(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """One (n, 1) column per graph input, of its type: strings as objects."""
        rows = len(frame)
        return {name: (frame[name].astype(str).to_numpy(dtype=object) if dtype.kind == "O"
                       else frame[name].to_numpy(dtype=dtype)).reshape(rows, 1)
                for name, dtype in self.inputs}

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The probability output for ready (n, 1) tensors, one per graph input."""
        return self.session.run([self.output], feeds)[0]

    def probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """The probability output as the graph gives it: (n, 2) class probabilities."""
        return self.run(self.feeds(frame))

    def positive(self, frame: pd.DataFrame) -> np.ndarray:
        """P(positive class) per row, as float64."""
        out = self.probabilities(frame)
        return (out[:, -1] if out.ndim == 2 else out).astype("float64")
