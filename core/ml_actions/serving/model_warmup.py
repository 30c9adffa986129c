"""Loading a model and warming it before it takes traffic (run in a loader thread).

A freshly loaded model's first call compiles and caches (a Spark plan, an ONNX session), so a
slot swaps a model in only after one of `warmup_attempts` calls on `warmup_rows` rows worked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ml_actions.config.gateway import GatewayConfig
from ml_actions.serving.model_loading import ServedModel

log = logging.getLogger("ml_actions.gateway")


def warm(model: ServedModel, config: GatewayConfig) -> None:
    frame = model.warmup_frame(config.warmup_rows)
    if frame is None:
        return
    last: Exception | None = None
    for _ in range(config.warmup_attempts):
        try:
            model.score(frame)  # the first call compiles/caches; later calls are fast
            return
        except Exception as err:  # noqa: BLE001 - a model may fail some calls; retry
            last = err
    raise RuntimeError(f"warm-up failed {config.warmup_attempts} times: {last}")


def load_and_warm(loader: Callable[[str], ServedModel], uri: str,
                  config: GatewayConfig) -> ServedModel:
    started = time.monotonic()
    log.info("loading %s", uri)
    model = loader(uri)
    loaded = time.monotonic()
    try:
        warm(model, config)
    except BaseException:
        model.release()
        raise
    log.info("%s loaded in %.1f s, warmed in %.1f s", uri, loaded - started,
             time.monotonic() - loaded)
    return model
