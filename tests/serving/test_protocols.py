"""Both wire formats parse into the same table, and every malformed body says why (400)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_actions.errors import RegistryError
from ml_actions.serving.model_loading import ModelOutputError, parse_model_uri, positive_class
from ml_actions.serving.protocols import (
    RequestError,
    decode_json,
    parse_invocations,
    parse_v2_infer,
    v2_response,
)

ROWS = [{"CUSTOMER_ID": 1, "TX_AMOUNT": 10.5}, {"CUSTOMER_ID": 2, "TX_AMOUNT": 99.0}]


def test_split_records_and_v2_give_the_same_frame():
    split = parse_invocations({"dataframe_split": {
        "columns": ["CUSTOMER_ID", "TX_AMOUNT"], "data": [[1, 10.5], [2, 99.0]]}}, 100)
    records = parse_invocations({"dataframe_records": ROWS}, 100)
    v2 = parse_v2_infer({"id": "r1", "inputs": [
        {"name": "CUSTOMER_ID", "shape": [2], "datatype": "INT64", "data": [1, 2]},
        {"name": "TX_AMOUNT", "shape": [2, 1], "datatype": "FP64", "data": [[10.5], [99.0]]}]},
        100)
    pd.testing.assert_frame_equal(split.frame, records.frame)
    pd.testing.assert_frame_equal(split.frame, v2.frame)
    assert v2.request_id == "r1"
    assert split.first_row() == {"CUSTOMER_ID": 1, "TX_AMOUNT": 10.5}


@pytest.mark.parametrize("payload, words", [
    ([], "JSON object"),
    ({"instances": [[1]]}, "dataframe_split"),
    ({"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}, "needs 1 values"),
    ({"dataframe_split": {"columns": "a", "data": [[1]]}}, "list of names"),
    ({"dataframe_split": {"columns": ["a"], "data": [1]}}, "list of rows"),
    ({"dataframe_split": []}, "needs `columns`"),
    ({"dataframe_split": {"columns": ["a"], "data": []}}, "no rows"),
    ({"dataframe_records": [1, 2]}, "list of objects"),
    ({"dataframe_records": []}, "no rows"),
])
def test_malformed_invocations_are_400_with_a_reason(payload, words):
    with pytest.raises(RequestError) as err:
        parse_invocations(payload, 100)
    assert err.value.status == 400 and words in err.value.reason


@pytest.mark.parametrize("payload, words", [
    ({"inputs": "x"}, "`inputs`"),
    ({"inputs": [1]}, "must be an object"),
    ({"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}, "needs a `name`"),
    ({"inputs": [{"name": "a", "shape": [1], "datatype": "FLOAT", "data": [1]}]}, "datatype"),
    ({"inputs": [{"name": "a", "shape": "1", "datatype": "FP64", "data": [1]}]}, "`shape`"),
    ({"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP64", "data": [1]}]}, "one column"),
    ({"inputs": [{"name": "a", "shape": [2], "datatype": "FP64", "data": 1}]}, "must be a list"),
    ({"inputs": [{"name": "a", "shape": [2], "datatype": "FP64", "data": [1]}]}, "has 1"),
    ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]},
                 {"name": "b", "shape": [2], "datatype": "FP64", "data": [1, 2]}]}, "lengths"),
])
def test_malformed_v2_requests_are_400_with_a_reason(payload, words):
    with pytest.raises(RequestError) as err:
        parse_v2_infer(payload, 100)
    assert err.value.status == 400 and words in err.value.reason


def test_bad_json_and_too_many_rows():
    with pytest.raises(RequestError, match="not valid JSON"):
        decode_json(b"{nope")
    with pytest.raises(RequestError, match="empty request body"):
        decode_json(b"")
    with pytest.raises(RequestError) as err:
        parse_invocations({"dataframe_records": ROWS * 3}, 5)
    assert err.value.status == 413


def test_v2_response_shape():
    body = v2_response("m", "3", [0.1, 0.9], "abc")
    assert body["outputs"][0]["data"] == [0.1, 0.9] and body["outputs"][0]["shape"] == [2]
    assert body["id"] == "abc" and body["model_version"] == "3"
    assert "id" not in v2_response("m", "3", [], None)


@pytest.mark.parametrize("output", [
    np.array([[0.8, 0.2], [0.3, 0.7]]),
    np.array([0.2, 0.7]),
    np.array([[0.2], [0.7]]),
    pd.Series([0.2, 0.7]),
    pd.DataFrame({"p": [0.2, 0.7]}),
    pd.DataFrame({0: [0.8, 0.3], 1: [0.2, 0.7]}),
    [0.2, 0.7],
])
def test_positive_class_from_every_probability_shape(output):
    assert positive_class(output).tolist() == pytest.approx([0.2, 0.7])


@pytest.mark.parametrize("output, words", [
    (np.array([0, 1, 2]), "not a probability"),
    (np.array([[0.1, 0.2, 0.7]]), "shape"),
    (pd.DataFrame({"a": [1], "b": [2], "c": [3]}), "3 columns"),
    (np.array(["fraud"]), "not numeric"),
    (np.array([np.nan]), "not a probability"),
])
def test_hard_labels_and_odd_outputs_are_model_errors(output, words):
    with pytest.raises(ModelOutputError, match=words):
        positive_class(output)


def test_model_uris():
    assert parse_model_uri("models:/fraud/3") == ("fraud", "3")
    assert parse_model_uri("models:/fraud@champion") == ("fraud", "@champion")
    for bad in ("runs:/abc/model", "models:/", "fraud/3", None):
        with pytest.raises(RegistryError):
            parse_model_uri(bad)
