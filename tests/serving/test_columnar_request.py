"""A request read as JSON columns holds what the pandas path's DataFrame holds, or declines.

The columnar reader must never accept a request the pandas parser refuses, nor see other
values than it: routing keys, log columns and the shadow's frame come from it.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ml_actions.serving.columnar_request import ColumnarRequest, NotColumnar, as_pandas_types
from ml_actions.serving.prediction import read_request
from ml_actions.serving.protocols import RequestError, parse_invocations, parse_v2_infer

MAX_ROWS = 100


def split(columns, data) -> dict:
    return {"dataframe_split": {"columns": columns, "data": data}}


def v2(**columns) -> dict:
    return {"id": 7, "inputs": [{"name": name, "shape": [len(values)], "datatype": "FP64",
                                 "data": values} for name, values in columns.items()]}


PLAIN = [
    ("mlflow", split(["CUSTOMER_ID", "TX_AMOUNT", "KIND"], [[1, 10.5, "a"], [2, 99, "b"]])),
    ("mlflow", split(["CUSTOMER_ID", "TX_AMOUNT"], [[None, 1.0], [3, 2.0]])),
    ("mlflow", {"dataframe_records": [{"CUSTOMER_ID": 5, "TX_AMOUNT": 1},
                                      {"CUSTOMER_ID": 6.5, "TX_AMOUNT": 2}]}),
    ("mlflow", {"dataframe_records": [{"CUSTOMER_ID": True, "TX_AMOUNT": 1}]}),
    ("mlflow", {"dataframe_split": {"columns": ["a"], "data": [[1]]}, "dataframe_records": []}),
    ("v2", v2(CUSTOMER_ID=[1, 2], TX_AMOUNT=[[1.5], [2.5]])),
    ("v2", {"inputs": [{"name": "a", "shape": [1, 1], "datatype": "INT64", "data": [[4]]}]}),
]


def pandas_path(protocol: str, payload: dict):
    parse = parse_v2_infer if protocol == "v2" else parse_invocations
    return parse(payload, MAX_ROWS)


@pytest.mark.parametrize("protocol, payload", PLAIN)
def test_plain_requests_are_read_as_columns_with_the_pandas_values(protocol, payload):
    columnar = read_request(payload, protocol, MAX_ROWS)
    expected = pandas_path(protocol, payload)
    assert isinstance(columnar, ColumnarRequest)
    assert columnar.rows == len(expected.frame)
    assert columnar.request_id == expected.request_id
    pd.testing.assert_frame_equal(columnar.frame, expected.frame)
    for name in [*expected.frame.columns, "ABSENT"]:
        got, want = columnar.column(name), expected.column(name)
        if want is None:
            assert got is None
            continue
        assert [str(v) for v in got] == [str(v) for v in want.tolist()]
        assert str(columnar.first_value(name)) == str(expected.first_value(name))


@pytest.mark.parametrize("protocol, payload", [
    ("mlflow", []),
    ("mlflow", {"instances": [[1]]}),
    ("mlflow", split(["a"], [[1, 2]])),
    ("mlflow", split("a", [[1]])),
    ("mlflow", split(["a"], [])),
    ("mlflow", split(["a"], [[1]] * (MAX_ROWS + 1))),
    ("mlflow", {"dataframe_records": [1, 2]}),
    ("mlflow", {"dataframe_records": []}),
    ("v2", {"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP64", "data": [1]}]}),
    ("v2", {"inputs": [{"name": "a", "shape": [2], "datatype": "FP64", "data": [1]}]}),
    ("v2", {"inputs": [{"name": "a", "shape": [1], "datatype": "FLOAT", "data": [1]}]}),
    ("v2", v2(a=[1, 2], b=[1])),
    ("v2", {"inputs": []}),
])
def test_malformed_requests_get_the_pandas_paths_error(protocol, payload):
    with pytest.raises(RequestError) as expected:
        pandas_path(protocol, payload)
    with pytest.raises(RequestError) as got:
        read_request(payload, protocol, MAX_ROWS)
    assert (got.value.status, got.value.reason) == (expected.value.status, expected.value.reason)


@pytest.mark.parametrize("protocol, payload", [
    ("mlflow", split(None, [[1, 2]])),  # pandas names the columns 0, 1
    ("mlflow", split(["a", "a"], [[1, 2]])),
    ("mlflow", {"dataframe_records": [{"a": 1}, {}]}),
])
def test_unusual_shapes_take_the_pandas_path(protocol, payload):
    parsed = read_request(payload, protocol, MAX_ROWS)
    assert not isinstance(parsed, ColumnarRequest)
    pd.testing.assert_frame_equal(parsed.frame, pandas_path(protocol, payload).frame)


def test_a_column_missing_from_some_records_is_read_through_pandas():
    payload = {"dataframe_records": [{"a": 1, "k": 5}, {"a": 2}]}
    columnar = read_request(payload, "mlflow", MAX_ROWS)
    assert isinstance(columnar, ColumnarRequest)
    with pytest.raises(NotColumnar):
        columnar.raw_column("k")
    assert columnar.first_value("k") == 5.0 and str(columnar.first_value("k")) == "5.0"
    assert math.isnan(columnar.column("k").iloc[1])


@pytest.mark.parametrize("values", [
    [1, 2], [1, None], [1, 2.5], [None, 1], [True, None], [1, True], [None, None],
    ["a", None], [1, "a"], [True, False], [1.5, float("nan")], [2 ** 53, None], [-3, 0.0],
])
def test_values_are_typed_as_pandas_types_them(values):
    expected = pd.DataFrame({"k": values})["k"].tolist()
    got = as_pandas_types(values)
    assert [str(v) for v in got] == [str(v) for v in expected]


@pytest.mark.parametrize("values", [[2 ** 63, 1], [2 ** 53 + 1, None], [2 ** 64, 1.0]])
def test_integers_pandas_would_change_take_the_pandas_path(values):
    with pytest.raises(NotColumnar):
        as_pandas_types(values)
