"""Settings of what the gateway records (the `serving:` section of ml-actions.yaml).

The prediction log is the evidence a label-delayed gate is paired on: every scored request,
with the shadow model's answer to the same request when one is scoring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_actions.config.durations import parse_duration


@dataclass
class PredictionLogConfig:
    # A local folder or any URI pyarrow's filesystems open (s3://, gs://, hdfs://); unset: off.
    path: str | None = None
    # The request column that identifies a transaction, the key labels are joined on.
    key_column: str = "TRANSACTION_ID"
    # A request column logged as `amount` (amount-weighted fraud caught); null when absent.
    amount_column: str = "TX_AMOUNT"
    # Buffered records are written at least this often: a crash loses at most this much.
    flush_interval: str = "5s"
    # A new Parquet file is started after this many records (files stay readable in size).
    max_file_records: int = field(default=100_000, metadata={"range": (1, 100_000_000)})
    # Records waiting to be written; beyond it records are dropped (counted), never blocking.
    max_buffer: int = field(default=100_000, metadata={"range": (1, 100_000_000)})

    def __post_init__(self) -> None:
        parse_duration(self.flush_interval, "flush_interval")

    @property
    def flush_interval_seconds(self) -> float:
        return parse_duration(self.flush_interval, "serving.prediction_log.flush_interval")


@dataclass
class ServingConfig:
    prediction_log: PredictionLogConfig = field(default_factory=PredictionLogConfig)
