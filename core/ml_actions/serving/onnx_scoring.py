"""The gateway's scorer for a version's ONNX form: one onnxruntime session per slot.

The form and how it is opened and fed are shared with the quality gate (`ml_actions.onnx_form`),
so what the gate checked is what the gateway computes. The session is created (and warmed by
the slot manager) when the slot loads, never on a request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_actions.onnx_form import PARITY_TAG, OnnxForm, OnnxSession, onnx_form_of

__all__ = ["PARITY_TAG", "OnnxScorer", "onnx_form_in"]


def onnx_form_in(mlmodel: Any, model_dir: Path) -> OnnxForm | None:
    """The ONNX form of a downloaded MLflow model, if it has one."""
    return onnx_form_of(mlmodel.flavors, model_dir)


class OnnxScorer:
    """rows (a DataFrame with the graph's input columns) -> the (n, 2) probability output."""

    def __init__(self, form: OnnxForm):
        self.session = OnnxSession(form.path, form.probability_output)

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        return self.session.probabilities(frame)
