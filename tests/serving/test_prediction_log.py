"""The prediction log's writer on its own: schema, files, drops, write failures, bad paths."""

from __future__ import annotations

import shutil
import time

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from ml_actions.config.serving import PredictionLogConfig
from ml_actions.errors import ConfigurationError
from ml_actions.serving.prediction_log import PredictionLog
from ml_actions.serving.prediction_record import SCHEMA, PredictionEntry

CONTRACT = {  # the monitor reads these names and types (issue 14's contract)
    "request_id": pa.string(), "row": pa.int32(), "transaction_key": pa.string(),
    "routing_key": pa.string(), "time": pa.timestamp("us", tz="UTC"), "slot": pa.string(),
    "model_name": pa.string(), "model_version": pa.string(), "score": pa.float64(),
    "decision": pa.int8(), "threshold": pa.float64(), "shadow_version": pa.string(),
    "shadow_score": pa.float64(), "shadow_decision": pa.int8(), "amount": pa.float64(),
}


class Counts:
    def __init__(self) -> None:
        self.records = self.dropped = self.errors = 0

    def log(self, path, **config) -> PredictionLog:
        def add_records(n):
            self.records += n

        def add_dropped(n):
            self.dropped += n

        def add_error():
            self.errors += 1

        return PredictionLog(PredictionLogConfig(path=str(path), **config), add_records,
                             add_dropped, add_error)


def entry(request_id: str, scores: list[float], at: float | None = None, **kw) -> PredictionEntry:
    return PredictionEntry(request_id, at if at is not None else time.time(), "cust-1", "stable",
                           "fraud", "3", scores, 0.5, **kw)


def read(path) -> pd.DataFrame:
    return ds.dataset(str(path), partitioning="hive").to_table().to_pandas()


def test_records_follow_the_contract_and_files_split_by_size_and_date(tmp_path):
    assert {f.name: f.type for f in SCHEMA} == CONTRACT
    counts = Counts()
    log = counts.log(tmp_path, flush_interval="1h", max_file_records=4)
    keys = pd.Series([101, 102, 103])
    log.submit(entry("a", [0.1, 0.7, 0.5], keys=keys, amounts=pd.Series([9.5, 1.0, 2.0])))
    log.submit(entry("b", [0.9, 0.2], shadow_version="4", shadow_scores=[0.4, 0.6]))
    log.submit(entry("c", [0.3], at=pd.Timestamp("2026-01-02T23:59:59Z").timestamp()))
    assert counts.records == 0  # nothing is written before a flush
    log.close()
    assert counts.records == 6 and counts.dropped == 0
    files = sorted(tmp_path.rglob("*.parquet"))
    assert {f.parent.name for f in files} == {"date=2026-01-02",
                                              f"date={time.strftime('%Y-%m-%d', time.gmtime())}"}
    assert sorted(pq.read_metadata(f).num_rows for f in files) == [1, 1, 4]  # 5 split at 4
    assert pq.read_schema(files[0]).remove_metadata() == SCHEMA
    frame = read(tmp_path).sort_values(["request_id", "row"]).reset_index(drop=True)
    assert frame.request_id.tolist() == ["a", "a", "a", "b", "b", "c"]
    assert frame.row.tolist() == [0, 1, 2, 0, 1, 0]
    assert frame.transaction_key.tolist()[:3] == ["101", "102", "103"]
    assert frame.transaction_key[3:].isna().all()
    assert frame.decision.tolist() == [0, 1, 1, 1, 0, 0]  # score >= threshold is fraud
    assert frame.amount[:3].tolist() == [9.5, 1.0, 2.0] and frame.amount[3:].isna().all()
    assert frame.shadow_score[3:5].tolist() == [0.4, 0.6]
    assert frame.shadow_decision[3:5].tolist() == [0, 1]
    assert frame.shadow_version[[0, 1, 2, 5]].isna().all()
    assert frame.shadow_score[[0, 1, 2, 5]].isna().all()


def test_a_full_buffer_drops_and_counts_without_blocking(tmp_path):
    counts = Counts()
    log = counts.log(tmp_path, flush_interval="1h", max_buffer=5)
    accepted = [log.submit(entry(f"r{i}", [0.2, 0.3])) for i in range(6)]
    assert accepted == [True, True, False, False, False, False]
    assert log.submit(entry("one", [0.1]))  # a single row still fits
    log.close()
    assert counts.dropped == 8 and counts.records == 5
    assert len(read(tmp_path)) == 5


def test_the_interval_flushes_without_a_close(tmp_path):
    counts = Counts()
    log = counts.log(tmp_path, flush_interval="200ms")
    log.submit(entry("x", [0.4]))
    deadline = time.monotonic() + 10
    while counts.records == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counts.records == 1 and len(read(tmp_path)) == 1
    log.close()


def test_a_failed_write_is_counted_and_the_writer_carries_on(tmp_path):
    base = tmp_path / "log"
    counts = Counts()
    log = counts.log(base, flush_interval="1h")
    shutil.rmtree(base)
    base.write_text("a file where the folder was")
    log.submit(entry("lost", [0.5]))
    assert log.flush() == 0 and counts.errors == 1
    base.unlink()
    log.submit(entry("kept", [0.5]))
    log.close()
    assert counts.records == 1 and read(base).request_id.tolist() == ["kept"]
    assert not [p for p in base.rglob("*") if p.name.startswith(".")]  # no temp files left


def test_a_file_uri_is_a_filesystem_too(tmp_path):
    counts = Counts()
    log = counts.log(f"file://{tmp_path}/uri-log", flush_interval="1h")
    log.submit(entry("u", [0.9]))
    log.close()
    assert read(tmp_path / "uri-log").request_id.tolist() == ["u"]


@pytest.mark.parametrize("make_path, words", [
    (lambda tmp: tmp / "a-file" / "log", "is not writable"),
    (lambda tmp: "nosuchscheme://bucket/log", "cannot be opened"),
])
def test_a_bad_path_is_one_clear_error(tmp_path, make_path, words):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigurationError) as err:
        PredictionLog(PredictionLogConfig(path=str(make_path(tmp_path))))
    message = str(err.value)
    assert words in message and "\n" not in message
    assert "prediction_log" in message or "--prediction-log" in message
