"""A prediction request read as plain columns (JSON values per column name), without pandas.

Why: building a DataFrame from a one-row request, and checking it against the signature, cost
more than half of a request's time, while the ONNX form needs only one numpy column per graph
input. So both protocols (`protocols.py`) are read here into columns of JSON values, and the
ONNX scorer builds its tensors from them (`onnx_columns.py`).

This reader only takes the plain shapes of a valid request. Anything else (a malformed body, a
record without a column, values pandas would have to interpret) raises `NotColumnar`, and the
caller takes the pandas path, which answers exactly as before: every error message and
status stays where it is, in `protocols.py` and `ServedModel.prepare`. Columns come back as
pandas would type them (`as_pandas_types`), so routing keys and log records match the pandas
path's too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ml_actions.serving.protocols import (
    V2_DATATYPES,
    ParsedRequest,
    parse_invocations,
    parse_v2_infer,
)

FLOAT_EXACT = 2 ** 53  # integers beyond this change when pandas makes their column float64
INT64 = 2 ** 63


class NotColumnar(Exception):
    """The request is not one of the plain shapes this reader takes: use the pandas path."""


def as_pandas_types(values: list) -> list:
    """`values` as a pandas column built from them would hold them: integers mixed with
    floats or nulls become floats (None -> NaN), like pandas' float64; anything pandas would
    type otherwise (uint64, huge integers made floats) raises `NotColumnar`."""
    has_float = has_none = False
    for value in values:
        if value is None:
            has_none = True
        elif isinstance(value, float):
            has_float = True
        elif isinstance(value, bool) or not isinstance(value, int):
            return values  # an object column: pandas keeps the values as they are
        elif not -INT64 <= value < INT64:
            raise NotColumnar("an integer beyond int64")
    if not has_float and not has_none:
        return values  # int64
    if has_none and not has_float and all(value is None for value in values):
        return values  # all null: an object column of None
    if any(isinstance(v, int) and not -FLOAT_EXACT <= v <= FLOAT_EXACT for v in values):
        raise NotColumnar("an integer that float64 cannot hold exactly")
    return [float("nan") if value is None else float(value) for value in values]


class ColumnarRequest:
    """The rows of a request as columns; `frame` builds the pandas form only when asked (for a
    shadow model), from the same payload with the same parser as the pandas path."""

    def __init__(self, rows: int, column_of: Callable[[str], list | None],
                 parse: Callable[[], ParsedRequest], request_id: str | None = None):
        self.rows = rows
        self.request_id = request_id
        self._column_of = column_of
        self._parse = parse
        self._parsed: ParsedRequest | None = None

    def raw_column(self, name: str) -> list | None:
        """The JSON values of column `name` (None: no such column); `NotColumnar` when only
        some records hold it."""
        return self._column_of(name)

    def column(self, name: str) -> Any:
        """Column `name`'s values as the pandas path holds them (None: no such column): typed
        as pandas types them, or, when that takes pandas, the pandas column itself."""
        try:
            values = self._column_of(name)
            return None if values is None else as_pandas_types(values)
        except NotColumnar:
            frame = self.frame
            return frame[name] if name in frame.columns else None

    def first_value(self, name: str) -> Any:
        """Column `name`'s value in the first row (None without that column)."""
        values = self.column(name)
        if values is None:
            return None
        return values.iloc[0] if isinstance(values, pd.Series) else values[0]

    @property
    def frame(self) -> pd.DataFrame:
        if self._parsed is None:
            self._parsed = self._parse()
        return self._parsed.frame


def _split_columns(split: dict, max_rows: int) -> tuple[int, Callable[[str], list | None]]:
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not isinstance(data, list) or not columns:
        raise NotColumnar("not a plain dataframe_split")
    if not all(isinstance(name, str) for name in columns) or len(set(columns)) != len(columns):
        raise NotColumnar("column names that are not distinct strings")
    width = len(columns)
    if not 0 < len(data) <= max_rows or not all(isinstance(row, list) and len(row) == width
                                                 for row in data):
        raise NotColumnar("rows of another shape")
    by_name = dict(zip(columns, map(list, zip(*data, strict=True)), strict=True))
    return len(data), by_name.get


def _records_columns(records: Any, max_rows: int) -> tuple[int, Callable[[str], list | None]]:
    if not isinstance(records, list) or not 0 < len(records) <= max_rows \
            or not all(isinstance(record, dict) and record for record in records):
        raise NotColumnar("not a plain dataframe_records")
    absent = object()

    def column_of(name: str) -> list | None:
        values = [record.get(name, absent) for record in records]
        if all(value is absent for value in values):
            return None
        if any(value is absent for value in values):
            raise NotColumnar(f"column {name!r} is missing from some records")
        return values

    return len(records), column_of


def read_invocations(payload: Any, max_rows: int) -> ColumnarRequest:
    """MLflow scoring protocol (`dataframe_split` with columns, `dataframe_records`)."""
    if not isinstance(payload, dict):
        raise NotColumnar("not an object")
    if "dataframe_split" in payload:
        split = payload["dataframe_split"]
        if not isinstance(split, dict):
            raise NotColumnar("not a plain dataframe_split")
        rows, column_of = _split_columns(split, max_rows)
    elif "dataframe_records" in payload:
        rows, column_of = _records_columns(payload["dataframe_records"], max_rows)
    else:
        raise NotColumnar("neither dataframe_split nor dataframe_records")
    return ColumnarRequest(rows, column_of, lambda: parse_invocations(payload, max_rows))


def _v2_column(tensor: Any) -> tuple[str, list]:
    """One Open Inference Protocol input that `parse_v2_infer` accepts, as (name, values)."""
    if not isinstance(tensor, dict):
        raise NotColumnar("an input that is not an object")
    name, shape, data = tensor.get("name"), tensor.get("shape"), tensor.get("data")
    if not isinstance(name, str) or not name or tensor.get("datatype") not in V2_DATATYPES:
        raise NotColumnar("an input without a name or datatype")
    if not isinstance(shape, list) or not shape or not all(isinstance(s, int) for s in shape) \
            or len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise NotColumnar("an input that is not one column")
    if not isinstance(data, list):
        raise NotColumnar("an input without data")
    flat = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in data]
    if len(flat) != shape[0]:
        raise NotColumnar("an input whose shape does not match its data")
    return name, flat


def read_v2_infer(payload: Any, max_rows: int) -> ColumnarRequest:
    """Open Inference Protocol: each input is one column."""
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise NotColumnar("no inputs")
    columns = dict(_v2_column(tensor) for tensor in payload["inputs"])
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1 or not 0 < next(iter(lengths)) <= max_rows:
        raise NotColumnar("inputs of other lengths")
    request_id = payload.get("id")
    return ColumnarRequest(lengths.pop(), columns.get,
                           lambda: parse_v2_infer(payload, max_rows),
                           str(request_id) if request_id is not None else None)
