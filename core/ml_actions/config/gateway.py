"""Settings of the serving gateway (the `gateway:` section of ml-actions.yaml).

Batching, limits and the operating threshold are config, not constants: the right batch wait
for a Spark model on a CI runner is not the right one for a scikit-learn model in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GatewayConfig:
    # Input field whose value pins a customer to one slot; the X-Routing-Key header wins.
    routing_key: str | None = "CUSTOMER_ID"
    # P(fraud) at or above this is a "fraud" decision in ml_gateway_decisions_total.
    decision_threshold: float = field(default=0.5, metadata={"range": (0, 1)})
    # Micro-batching: rows per model call, and how long the first request waits for company.
    max_batch_size: int = field(default=64, metadata={"range": (1, 100000)})
    max_batch_wait_ms: float = field(default=5.0, metadata={"range": (0, 10000)})
    # Requests larger than this are refused with 413 before they are parsed.
    max_body_bytes: int = field(default=1_048_576, metadata={"range": (1024, 1_073_741_824)})
    # Rows per request; a bigger request is a 413 too (one request must not starve the batch).
    max_rows_per_request: int = field(default=10_000, metadata={"range": (1, 10_000_000)})
    # Serve a version's ONNX form (onnxruntime, no JVM) when it has one and the quality gate
    # did not find it disagreeing with the Spark form; false: always the logged flavour.
    serve_onnx: bool = True
    # Requests of at most this many rows for an ONNX-served model are scored on the event loop
    # at once, without batching: a thread hop or a batching wait costs more than the model.
    inline_rows: int = field(default=64, metadata={"range": (0, 100000)})
    # Threads that run model calls (Spark transforms release the GIL while the JVM works).
    predict_threads: int = field(default=4, metadata={"range": (1, 64)})
    # A freshly loaded model must answer one of this many warm-up calls before it takes traffic.
    warmup_attempts: int = field(default=5, metadata={"range": (1, 100)})
    warmup_rows: int = field(default=8, metadata={"range": (1, 10000)})
    # Seconds uvicorn waits for in-flight requests on SIGTERM before closing connections.
    drain_timeout_seconds: float = field(default=30.0, metadata={"range": (0, 3600)})
    # Idle keep-alive connections stay open this long; longer than a load balancer's or client
    # pool's idle timeout, so the gateway never closes a connection a client is reusing.
    keep_alive_seconds: float = field(default=75.0, metadata={"range": (1, 3600)})
    # Changes kept in the state file's history (who changed what and when).
    history_limit: int = field(default=200, metadata={"range": (1, 100000)})
    # Mirrored requests waiting for (or in) the shadow model; beyond it they are dropped and
    # counted (outcome="dropped"), so a slow shadow never holds back the answers.
    shadow_queue_size: int = field(default=1000, metadata={"range": (1, 1_000_000)})
    # Threads that run the shadow model's calls: its own, so it never takes a predict thread.
    shadow_threads: int = field(default=1, metadata={"range": (1, 64)})
    # The shadow's batch waits this long for company: nobody waits for its answer, and fewer,
    # larger calls take less CPU (and GIL) from the models that answer.
    shadow_batch_wait_ms: float = field(default=100.0, metadata={"range": (0, 10000)})
    # A request whose model has not answered within this many seconds gets a 504 (counted as
    # code="504"): a hung model or a dead batch must not hold a caller, or a client's socket.
    request_timeout_seconds: float = field(default=10.0, metadata={"range": (0.01, 3600)})
    # Reaching MLflow to load a model: this many attempts, waiting `load_backoff_seconds`
    # after the first failure and doubling up to `load_max_backoff_seconds`, so a registry
    # that restarts during a deploy (or a gateway restart) costs a delay, not a failed load.
    load_attempts: int = field(default=5, metadata={"range": (1, 100)})
    load_backoff_seconds: float = field(default=1.0, metadata={"range": (0, 600)})
    load_max_backoff_seconds: float = field(default=30.0, metadata={"range": (0, 3600)})
    # Downloaded versions kept in <state-dir>/model-cache besides the ones the slots serve
    # (most recently used first): a restart, or a rollback to a recent version, needs no
    # download and works while MLflow is down.
    cache_versions: int = field(default=8, metadata={"range": (1, 10000)})

    def __post_init__(self) -> None:
        if self.load_max_backoff_seconds < self.load_backoff_seconds:
            raise ValueError(f"load_max_backoff_seconds ({self.load_max_backoff_seconds}) is "
                             f"below load_backoff_seconds ({self.load_backoff_seconds}): the "
                             "cap must be at least the first wait")
