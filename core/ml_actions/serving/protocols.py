"""The two wire formats the gateway speaks, parsed into one pandas DataFrame.

`POST /invocations` is MLflow's scoring protocol (`dataframe_split`, `dataframe_records`);
`POST /v2/models/{name}/infer` is the Open Inference Protocol (KServe, MLServer), one input
per column. Clients keep their code when the target becomes KServe. Anything malformed raises
`RequestError` with the reason, which the app returns as a 400: a bad request never becomes
a 500 that a canary analysis would blame on the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

V2_DATATYPES = {"FP64", "FP32", "FP16", "INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32",
                "UINT16", "UINT8", "BOOL", "BYTES"}


class RequestError(Exception):
    """A client mistake: `status` (400, 404, 413) and a reason meant for the client."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass
class ParsedRequest:
    frame: pd.DataFrame
    request_id: str | None = None

    def first_row(self) -> dict | None:
        if self.frame.empty:
            return None
        return self.frame.iloc[0].to_dict()

    def column(self, name: str) -> pd.Series | None:
        """The request's column `name`, None when it has none."""
        return self.frame[name] if name in self.frame.columns else None

    def first_value(self, name: str) -> Any:
        """Column `name`'s value in the first row (None without that column)."""
        column = self.column(name)
        return None if column is None else column.iloc[0]


def decode_json(body: bytes) -> Any:
    if not body:
        raise RequestError("empty request body; send a JSON object")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as err:
        raise RequestError(f"request body is not valid JSON: {err}") from None


def _check_rows(frame: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    if frame.empty or len(frame.columns) == 0:
        raise RequestError("the request holds no rows; send at least one row")
    if len(frame) > max_rows:
        raise RequestError(f"{len(frame)} rows exceed the limit of {max_rows} per request; "
                           "split the request", status=413)
    return frame.reset_index(drop=True)


def parse_invocations(payload: Any, max_rows: int) -> ParsedRequest:
    """MLflow scoring protocol: `dataframe_split` or `dataframe_records`."""
    if not isinstance(payload, dict):
        raise RequestError("expected a JSON object with `dataframe_split` or `dataframe_records`")
    if "dataframe_split" in payload:
        split = payload["dataframe_split"]
        if not isinstance(split, dict) or not isinstance(split.get("data"), list):
            raise RequestError("`dataframe_split` needs `columns` (list) and `data` (list of rows)")
        columns, data = split.get("columns"), split["data"]
        if columns is not None and not isinstance(columns, list):
            raise RequestError("`dataframe_split.columns` must be a list of names")
        if not all(isinstance(row, list) for row in data):
            raise RequestError("`dataframe_split.data` must be a list of rows (lists)")
        width = len(columns) if columns is not None else None
        if width is not None and any(len(row) != width for row in data):
            raise RequestError(f"every row of `dataframe_split.data` needs {width} values, "
                               "one per column")
        try:
            frame = pd.DataFrame(data, columns=columns)
        except (ValueError, TypeError) as err:
            raise RequestError(f"cannot build a table from `dataframe_split`: {err}") from None
        return ParsedRequest(_check_rows(frame, max_rows))
    if "dataframe_records" in payload:
        records = payload["dataframe_records"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise RequestError("`dataframe_records` must be a list of objects (column: value)")
        return ParsedRequest(_check_rows(pd.DataFrame.from_records(records), max_rows))
    keys = ", ".join(sorted(map(str, payload))) or "none"
    raise RequestError(f"unsupported payload (keys: {keys}); send `dataframe_split` or "
                       "`dataframe_records` (MLflow scoring protocol)")


def parse_v2_infer(payload: Any, max_rows: int) -> ParsedRequest:
    """Open Inference Protocol: each input is one column, shape [n] or [n, 1]."""
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise RequestError("expected a JSON object with `inputs`: a list of tensors "
                           "(Open Inference Protocol)")
    columns: dict[str, list] = {}
    for number, tensor in enumerate(payload["inputs"]):
        if not isinstance(tensor, dict):
            raise RequestError(f"inputs[{number}] must be an object with name, shape, "
                               "datatype and data")
        name, shape, data = tensor.get("name"), tensor.get("shape"), tensor.get("data")
        if not isinstance(name, str) or not name:
            raise RequestError(f"inputs[{number}] needs a `name` (the column it holds)")
        if tensor.get("datatype") not in V2_DATATYPES:
            raise RequestError(f"input {name!r}: datatype {tensor.get('datatype')!r} is not one "
                               f"of {', '.join(sorted(V2_DATATYPES))}")
        if not isinstance(shape, list) or not shape or not all(isinstance(s, int) for s in shape):
            raise RequestError(f"input {name!r}: `shape` must be a list of integers, e.g. [3]")
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise RequestError(f"input {name!r}: shape {shape} is not one column; send each "
                               "column as its own input with shape [n] or [n, 1]")
        if not isinstance(data, list):
            raise RequestError(f"input {name!r}: `data` must be a list")
        flat = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in data]
        if len(flat) != shape[0]:
            raise RequestError(f"input {name!r}: shape says {shape[0]} values, data has "
                               f"{len(flat)}")
        columns[name] = flat
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise RequestError(f"inputs have different lengths {sorted(lengths)}; every column "
                           "needs one value per row")
    request_id = payload.get("id")
    return ParsedRequest(_check_rows(pd.DataFrame(columns), max_rows),
                         str(request_id) if request_id is not None else None)


def v2_response(model_name: str, model_version: str, scores: list[float],
                request_id: str | None) -> dict:
    body = {"model_name": model_name, "model_version": model_version,
            "outputs": [{"name": "fraud_probability", "shape": [len(scores)],
                         "datatype": "FP64", "data": scores}]}
    if request_id is not None:
        body["id"] = request_id
    return body
