"""An ONNX-served model's tensors made straight from a request's JSON columns, without pandas.

Why: for a model that scores a row in microseconds, the DataFrame the pandas path builds and
converts (`ServedModel.prepare`, then `OnnxSession.feeds`) was most of a request's cost. Here
each signature column is checked on its JSON values and converted with numpy to the type the
pandas path gives it (double -> float64, float -> float32, long -> int64, integer -> int32,
string -> str), then to its graph input's type, exactly the two conversions the pandas path
makes, so the tensors, and the scores, are the same.

Only values whose conversion is unambiguous are taken here: numbers (not booleans, not null,
finite, integers that float64 holds exactly) for numeric columns, strings for string columns.
Anything else raises `NotColumnar` and the request takes the pandas path, which converts it or
answers the same 400 as before (a missing column, a mistyped value).
"""

from __future__ import annotations

import numpy as np

from ml_actions.onnx_form import OnnxSession
from ml_actions.serving.columnar_request import FLOAT_EXACT, ColumnarRequest, NotColumnar

# The signature kinds converted here, as the numpy type `ServedModel.prepare` gives them.
KIND_DTYPES = {"double": np.dtype(np.float64), "float": np.dtype(np.float32),
               "long": np.dtype(np.int64), "integer": np.dtype(np.int32),
               "string": np.dtype(object)}
INT_RANGES = {"long": (-2 ** 63, 2 ** 63 - 1), "integer": (-2 ** 31, 2 ** 31 - 1)}


def _block(columns: list[list], kind: str) -> np.ndarray:
    """The signature columns of one `kind` as one (columns, rows) array of its numpy type,
    from their JSON values; `NotColumnar` for a value the pandas path would interpret."""
    if kind == "string":
        if not all(type(v) is str for column in columns for v in column):
            raise NotColumnar("values pandas would convert to string")
        return np.array(columns, dtype=object)
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        if not all(type(v) is int and low <= v <= high for column in columns for v in column):
            raise NotColumnar(f"values pandas would convert to {kind}")
        return np.array(columns, dtype=KIND_DTYPES[kind])
    for column in columns:
        for v in column:
            if type(v) is not float and (type(v) is not int or not -FLOAT_EXACT <= v
                                         <= FLOAT_EXACT):
                raise NotColumnar(f"values pandas would convert to {kind}")
    block = np.array(columns, dtype=np.float64)
    if not np.isfinite(block).all():
        raise NotColumnar("NaN or infinite values")
    return block.astype(KIND_DTYPES[kind], copy=False)


class OnnxColumns:
    """A request's columns -> the ONNX form's probability output (n, 2), or `NotColumnar`."""

    def __init__(self, session: OnnxSession, schema: list[tuple[str, str]]):
        self.session = session
        self.inputs = session.inputs
        graph = dict(session.inputs)
        kinds: dict[str, list[str]] = {}
        for name, kind in schema:
            kinds.setdefault(kind, []).append(name)
        # Signature columns of one kind are checked and converted together, then to their
        # graph inputs' type in one step when they share it (None: input by input).
        self.plans = []
        for kind, names in kinds.items():
            targets = {graph[name] for name in names if name in graph}
            self.plans.append((kind, names, targets.pop() if len(targets) == 1 else None))
        self.graph = graph

    @classmethod
    def of(cls, session: OnnxSession,
           schema: list[tuple[str, str]] | None) -> OnnxColumns | None:
        """The columnar scorer, if every signature column has a kind converted here and every
        graph input is a signature column of the same family (text or number); else None."""
        if not schema or any(kind not in KIND_DTYPES for _, kind in schema):
            return None
        kinds = dict(schema)
        for name, dtype in session.inputs:
            if name not in kinds or (dtype.kind == "O") != (kinds[name] == "string"):
                return None
        return cls(session, schema)

    def feeds(self, request: ColumnarRequest) -> dict[str, np.ndarray]:
        """One (n, 1) tensor per graph input; every signature column is checked, as the
        pandas path checks them, even those the graph does not read."""
        rows, tensors = request.rows, {}
        for kind, names, target in self.plans:
            values = [request.raw_column(name) for name in names]
            if any(column is None for column in values):
                raise NotColumnar("a missing column")  # the pandas path's 400 names it
            block = _block(values, kind)
            if target is not None:
                block = block.astype(target, copy=False)
            block = block.reshape(len(names), rows, 1)
            for name, column in zip(names, block, strict=True):
                if name in self.graph:
                    tensors[name] = column if target is not None \
                        else column.astype(self.graph[name], copy=False)
        return {name: tensors[name] for name, _ in self.inputs}

    def __call__(self, request: ColumnarRequest) -> np.ndarray:
        return self.session.run(self.feeds(request))
