"""The ONNX form of a registered version, scored with onnxruntime: no JVM, microseconds a row.

Training (`template/ml_pipeline/onnx_export.py`) writes the ONNX form of a Spark pipeline into
the same MLflow model directory as its Spark form, declared as an `onnx` flavour (`data:
model.onnx`, the graph's `probability_output`). The gateway scores that form when it is
present: one onnxruntime session per slot, created and warmed at load.

Threads: the gateway's concurrency comes from its requests, not from inside one call. A row
costs microseconds, far less than waking a thread pool, so each session runs on the calling
thread (one intra-op and one inter-op thread, no spinning: spinning threads would burn the
cores the event loop and the other slot need). Large requests go to the predict executor,
where several sessions may run at once; a session is safe to call from several threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ONNX_FLAVOR = "onnx"
DEFAULT_OUTPUT = "probability"
# The version tag the quality gate sets; "fail" means the two forms disagree on the test set.
PARITY_TAG = "validation.serving_parity"


@dataclass(frozen=True)
class OnnxForm:
    """Where a model directory's ONNX form is and which output holds the probabilities."""

    path: Path
    probability_output: str


def onnx_form_of(mlmodel: Any, model_dir: Path) -> OnnxForm | None:
    """The `onnx` flavour of an MLmodel, if it has one whose file exists."""
    flavor = (mlmodel.flavors or {}).get(ONNX_FLAVOR)
    if not flavor or not flavor.get("data"):
        return None
    path = model_dir / str(flavor["data"])
    if not path.is_file():
        return None
    return OnnxForm(path, str(flavor.get("probability_output") or DEFAULT_OUTPUT))


def session_options():
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


class OnnxScorer:
    """rows (a DataFrame with the graph's input columns) -> the probability output."""

    def __init__(self, form: OnnxForm):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(form.path), sess_options=session_options(),
                                            providers=["CPUExecutionProvider"])
        outputs = [o.name for o in self.session.get_outputs()]
        if form.probability_output not in outputs:
            raise ValueError(f"the ONNX form has no {form.probability_output!r} output "
                             f"(outputs: {', '.join(outputs)})")
        self.output = form.probability_output
        self.inputs = [(i.name, i.type == "tensor(string)") for i in self.session.get_inputs()]

    @property
    def input_names(self) -> list[str]:
        return [name for name, _ in self.inputs]

    def feeds(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """One (n, 1) column per graph input: strings as objects, every number as float32."""
        rows = len(frame)
        return {name: (frame[name].astype(str).to_numpy(dtype=object) if text
                       else frame[name].to_numpy(dtype=np.float32)).reshape(rows, 1)
                for name, text in self.inputs}

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        return self.session.run([self.output], self.feeds(frame))[0]
