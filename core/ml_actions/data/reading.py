"""Reading a table for a check: any URI Spark reads, the format from the name.

validate-data and validate-model read their input the same way, so a file one accepts the other
accepts too, and a wrong path or a corrupt file gets the same one-line error naming the flag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml_actions.errors import DataError, first_line

FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".orc": "orc",
           ".parquet": "parquet", ".pq": "parquet", ".avro": "avro"}


def local_path(uri: str) -> Path | None:
    """The local path behind `uri` (plain or `file://`), or None for a remote URI."""
    plain = uri.removeprefix("file://")
    return None if "://" in plain else Path(plain)


def format_of(uri: str) -> str:
    """The Spark format by suffix; a Spark output folder by its data files; else Parquet."""
    local = local_path(uri) or Path(uri)
    if local.suffix.lower() in FORMATS:
        return FORMATS[local.suffix.lower()]
    if local.is_dir():
        for child in sorted(local.rglob("*")):
            if child.suffix.lower() in FORMATS:
                return FORMATS[child.suffix.lower()]
    return "parquet"


def read_table(spark: Any, uri: str, flag: str) -> Any:
    """The table at `uri` as a DataFrame whose schema was read; `flag` names the input in errors."""
    local = local_path(uri)
    if local is not None and not local.exists():
        raise DataError(f"{flag} {uri}: no such file or directory (it does not exist); pass the "
                        "path of a Parquet, CSV, JSON or ORC file or folder")
    fmt = format_of(uri)
    reader = spark.read.format(fmt)
    if fmt == "csv":
        reader = reader.option("header", "true").option("inferSchema", "true")
        if uri.lower().endswith(".tsv"):
            reader = reader.option("sep", "\t")
    try:
        frame = reader.load(uri)
        frame.schema  # noqa: B018 - forces the read of the footer/schema
    except Exception as err:  # Spark's AnalysisException / Py4JJavaError have no common base
        reason = first_line(err)
        advice = ("write timestamps in microseconds (pandas: to_parquet(..., "
                  "coerce_timestamps='us'); pyarrow: pa.timestamp('us'))"
                  if "TIMESTAMP(NANOS" in reason else
                  "check the path and that the file is not empty or corrupt")
        raise DataError(f"{flag} {uri}: cannot read it as {fmt} ({reason}); {advice}") from None
    return frame


def require_column(frame: Any, column: str, source: str, flag: str, uri: str,
                   hint: str = "", role: str = "label column") -> None:
    """A `DataError` unless `column` is in `frame`: read from the schema, so no Spark job over
    the data runs first (a missing label used to surface as "labels must be binary ... e.g.
    [None]" after a whole scoring pass). `source` says where the name came from."""
    if column in frame.columns:
        return
    near = [c for c in frame.columns if c.lower() == column.lower()]
    maybe = f" (did you mean {near[0]!r}? names are case-sensitive here)" if near else ""
    raise DataError(f"{role} {column!r} (from {source}): column not found in {flag} {uri}"
                    f"{maybe}; columns are: {', '.join(frame.columns)}{hint}")
