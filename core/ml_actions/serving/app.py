"""The gateway's ASGI application: health, metrics, predictions and the admin API.

`create_app` wires config -> registry loader -> slots -> endpoints, and the prediction log
when `serving.prediction_log.path` is set (shutdown drains the shadow, then flushes the log).
The loader reads models through the artifact cache (`model_source.py`), so a restart serves
the versions it served before even while MLflow is down.
The SparkSession is made on the first Spark model served in its Spark form only (one per
process), so a gateway serving scikit-learn models, or Spark models through their ONNX form,
never starts a JVM.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ml_actions.config.gateway import GatewayConfig
from ml_actions.config.serving import ServingConfig
from ml_actions.serving import admin_api
from ml_actions.serving.admin_auth import AdminAuth
from ml_actions.serving.artifact_cache import ArtifactCache
from ml_actions.serving.canary_lease import CanaryLease
from ml_actions.serving.gateway import Gateway
from ml_actions.serving.gateway_metrics import GatewayMetrics
from ml_actions.serving.model_loading import ServedModel, build_served_model
from ml_actions.serving.model_source import ModelSource, RetryPolicy
from ml_actions.serving.prediction import predict
from ml_actions.serving.prediction_log import PredictionLog
from ml_actions.serving.shadow_mirror import ShadowMirror
from ml_actions.serving.slot_manager import Loader, SlotManager
from ml_actions.serving.state_store import StateStore

log = logging.getLogger("ml_actions.gateway")


def registry_loader(tracking_uri: str, cache_dir: Path, spark_config: Any = None,
                    prefer_onnx: bool = True, gateway: GatewayConfig | None = None,
                    state_dir: Path | None = None) -> Loader:
    """Load `models:/...` URIs from the MLflow registry at `tracking_uri` through the artifact
    cache in `cache_dir` (`gateway`: its retry policy and bound; the state file in
    `state_dir` names the versions the bound never deletes). A version's ONNX form is served
    when it has one and `prefer_onnx` (`gateway.serve_onnx`) is on."""
    import mlflow

    from ml_actions.registry import Registry

    settings = gateway or GatewayConfig()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    registry = Registry(tracking_uri, retries=0)  # the source retries, with the gateway's policy
    store = StateStore(state_dir) if state_dir is not None else None
    cache = ArtifactCache(cache_dir, settings.cache_versions,
                          store.served_versions if store is not None else lambda: ())
    source = ModelSource(registry.resolve, lambda uri, dst: Path(
        mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst))),
        cache, RetryPolicy.of(settings))
    spark_lock = threading.Lock()

    def spark_provider():
        from ml_actions.config.settings import SparkConfig
        from ml_actions.spark import get_spark

        config = spark_config or SparkConfig()
        # A request batch is small: one partition avoids scheduling tasks for empty slices.
        conf = {"spark.default.parallelism": "1", **config.conf}
        with spark_lock:
            return get_spark(replace(config, conf=conf), app_name="ml-actions-gateway")

    def load(uri: str) -> ServedModel:
        local = source.fetch(uri)
        try:
            return build_served_model(local.ref, local.model_dir, spark_provider, prefer_onnx,
                                      local.release)
        except BaseException:
            local.release()
            raise

    return load


def open_prediction_log(serving: ServingConfig, metrics: GatewayMetrics) -> PredictionLog | None:
    """The log writer when a path is configured (checked writable now: exit 2 if not)."""
    if not serving.prediction_log.path:
        return None
    return PredictionLog(serving.prediction_log, on_records=metrics.log_records.inc,
                         on_dropped=metrics.log_dropped.inc,
                         on_write_error=metrics.log_write_errors.inc)


def create_app(config: GatewayConfig, state_dir: Path, admin_token: str,
               loader: Loader, serving: ServingConfig | None = None) -> Starlette:
    state_dir = Path(state_dir)
    serving = serving or ServingConfig()
    metrics = GatewayMetrics()
    prediction_log = open_prediction_log(serving, metrics)
    mirror = ShadowMirror(metrics, config.shadow_queue_size,
                          prediction_log.submit if prediction_log else None)
    executor = ThreadPoolExecutor(config.predict_threads, thread_name_prefix="predict")
    manager = SlotManager(config, loader, StateStore(state_dir, config.history_limit), metrics,
                          executor)
    lease = CanaryLease(manager)
    gateway = Gateway(config, manager, metrics, AdminAuth(admin_token), mirror,
                      serving.prediction_log, lease)
    metrics.set_slots(manager.table.weights(), {})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "up"})

    async def readyz(request: Request) -> JSONResponse:
        if manager.ready:
            stable = manager.table.stable.model
            return JSONResponse({"status": "ready", "stable": stable.ref.uri})
        return JSONResponse({"status": "not ready",
                             "stable": asdict(manager.state.slots["stable"])}, status_code=503)

    async def metrics_endpoint(request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    async def invocations(request: Request) -> JSONResponse:
        return await predict(gateway, request, "mlflow")

    async def v2_infer(request: Request) -> JSONResponse:
        return await predict(gateway, request, "v2", request.path_params["name"])

    async def v2_model(request: Request) -> JSONResponse:
        live = manager.table.stable
        name = request.path_params["name"]
        if live is None or live.model.name != name:
            return JSONResponse({"error": f"model {name!r} is not served here"},
                                status_code=404)
        inputs = [{"name": n, "datatype": kind} for n, kind in (live.model.schema or [])]
        return JSONResponse({"name": name, "versions": [live.model.version],
                             "platform": f"mlflow-{live.model.flavor}", "inputs": inputs,
                             "outputs": [{"name": "fraud_probability", "datatype": "FP64"}]})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        lease.restore(manager.store.load())
        manager.restore()
        yield
        lease.close()
        await mirror.close()
        if prediction_log is not None:
            prediction_log.close()
        await manager.close()
        executor.shutdown(wait=False, cancel_futures=True)

    routes = [
        Route("/healthz", healthz), Route("/readyz", readyz),
        Route("/v2/health/live", healthz), Route("/v2/health/ready", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/invocations", invocations, methods=["POST"]),
        Route("/v2/models/{name}/infer", v2_infer, methods=["POST"]),
        Route("/v2/models/{name}", v2_model),
    ]
    routes += [Route(path, admin_api.admin_endpoint(gateway, handler), methods=methods)
               for path, methods, handler in admin_api.ROUTES]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.gateway = gateway
    return app
