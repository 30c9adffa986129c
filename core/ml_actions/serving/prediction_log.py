"""The prediction log: every scored request as Parquet records, written off the request path.

Why: a fraud model's failure shows up in labels that arrive days later; the monitor can only
compare models on the same transactions if every answer (and the shadow's answer to the same
request) was kept. Files land in `<path>/date=YYYY-MM-DD/part-*.parquet` (Spark and pyarrow
read the folder as a dataset partitioned by `date`), one new file per flush, split at
`max_file_records`. `path` is a local folder or any URI `pyarrow.fs.FileSystem.from_uri`
opens (s3://, gs://, hdfs://).

It never blocks or fails a request: `submit` appends to a bounded buffer under a lock and
returns; when the buffer holds `max_buffer` records, new ones are dropped and counted in
`ml_gateway_prediction_log_dropped_total`. One background thread writes the buffer every
`flush_interval`; a failed write is logged and counted in
`ml_gateway_prediction_log_write_errors_total` (its records are lost, the gateway serves on).
`close` (the gateway's shutdown, after uvicorn drained the requests on SIGTERM) writes what
is left. A file is written under a hidden temporary name and renamed, so a reader never sees
half a file.

Crash bound: a SIGKILL loses the records buffered since the last flush, i.e. the answers of
at most one `flush_interval` (plus the few milliseconds the write in progress takes).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ml_actions.config.serving import PredictionLogConfig
from ml_actions.errors import ConfigurationError
from ml_actions.serving.prediction_record import PredictionEntry, entries_to_table

log = logging.getLogger("ml_actions.gateway")


def open_filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and base path of `path`; a plain path is a local folder."""
    if "://" not in path:
        local = pafs.LocalFileSystem()
        return local, str(Path(path).expanduser().resolve())
    try:
        return pafs.FileSystem.from_uri(path)
    except (pa.ArrowException, ValueError, OSError) as err:
        raise ConfigurationError(
            f"serving.prediction_log.path {path!r} cannot be opened ({err}); use a local folder "
            "or a URI pyarrow supports (s3://, gs://, hdfs://)") from None


class PredictionLog:
    def __init__(self, config: PredictionLogConfig,
                 on_records: Callable[[int], None] = lambda n: None,
                 on_dropped: Callable[[int], None] = lambda n: None,
                 on_write_error: Callable[[], None] = lambda: None):
        if not config.path:
            raise ConfigurationError("serving.prediction_log.path is not set")
        self.config = config
        self.fs, self.base = open_filesystem(config.path)
        self._check_writable()
        self.interval = config.flush_interval_seconds
        self._on_records, self._on_dropped, self._on_error = on_records, on_dropped, on_write_error
        self._buffer: list[PredictionEntry] = []
        self._buffered = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def _check_writable(self) -> None:
        probe = f"{self.base}/.write-probe-{uuid.uuid4().hex}"
        try:
            self.fs.create_dir(self.base, recursive=True)
            with self.fs.open_output_stream(probe) as stream:
                stream.write(b"ok")
            self.fs.delete_file(probe)
        except (OSError, pa.ArrowException) as err:
            raise ConfigurationError(
                f"prediction log path {self.config.path!r} is not writable ({err}); pass "
                "--prediction-log (or serving.prediction_log.path) a folder the gateway can "
                "write") from None

    def submit(self, entry: PredictionEntry) -> bool:
        """Buffer `entry`'s records; False (and counted) when the buffer is full."""
        with self._lock:
            if self._buffered + entry.rows > self.config.max_buffer or self._stop.is_set():
                dropped = True
            else:
                self._buffer.append(entry)
                self._buffered += entry.rows
                dropped = False
        if dropped:
            self._on_dropped(entry.rows)
        return not dropped

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking records and write the buffered ones."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        next_flush = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, next_flush - time.monotonic())):
            next_flush += self.interval
            if next_flush < time.monotonic():  # a write took longer than an interval
                next_flush = time.monotonic() + self.interval
            self.flush()
        self.flush()

    def flush(self) -> int:
        """Write everything buffered now; returns the records written."""
        with self._lock:
            entries, self._buffer, self._buffered = self._buffer, [], 0
        if not entries:
            return 0
        try:
            table = entries_to_table(entries)
            written = self._write(table)
        except Exception as err:  # noqa: BLE001 - never let the writer thread die
            log.error("prediction log: writing %d records to %s failed: %s",
                      sum(e.rows for e in entries), self.config.path, err)
            self._on_error()
            return 0
        self._on_records(written)
        return written

    def _write(self, table: pa.Table) -> int:
        dates = pc.strftime(table["time"], format="%Y-%m-%d").to_numpy(zero_copy_only=False)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        written = 0
        for day in sorted(set(dates)):
            part = table.filter(pc.equal(pa.array(dates), day)) if len(set(dates)) > 1 \
                else table
            folder = f"{self.base}/date={day}"
            self.fs.create_dir(folder, recursive=True)
            step = self.config.max_file_records
            for index, start in enumerate(range(0, part.num_rows, step)):
                name = f"part-{stamp}-{uuid.uuid4().hex[:8]}-{index:04d}.parquet"
                tmp = f"{folder}/.{name}.tmp"
                pq.write_table(part.slice(start, step), tmp, filesystem=self.fs)
                self.fs.move(tmp, f"{folder}/{name}")
                written += min(step, part.num_rows - start)
        return written
