"""`ml-actions gateway serve`: run the embedded serving gateway in the foreground.

Thin: read inputs and config, build the app, hand it to uvicorn. uvicorn drains in-flight
requests on SIGTERM for `gateway.drain_timeout_seconds` before it closes connections; then
the app lets mirrored shadow requests finish and flushes the prediction log.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from ml_actions.cli.declarations import (
    Command,
    Inputs,
    Option,
    environment_option,
    tracking_uri_option,
)
from ml_actions.cli.runner import ActionsRunner
from ml_actions.errors import ConfigurationError, InputError
from ml_actions.serving_contract import ADMIN_TOKEN_ENV as TOKEN_ENV


def serve(inputs: Inputs, runner: ActionsRunner) -> int:
    import uvicorn

    from ml_actions.config.settings import load_config
    from ml_actions.serving.app import create_app, registry_loader
    from ml_actions.serving.prediction_log import check_writable

    token = runner.env.get(TOKEN_ENV, "")
    if not token.strip():
        raise ConfigurationError(f"set {TOKEN_ENV} to the admin API's bearer token; the gateway "
                                 "refuses to start with an open admin API")
    if not inputs.tracking_uri:
        raise InputError("missing --tracking-uri (or $MLFLOW_TRACKING_URI): the registry the "
                         "gateway loads models from")
    if not 0 < inputs.port < 65536:
        raise InputError(f"--port must be in 1-65535, got {inputs.port}")
    config = load_config(inputs.config, inputs.environment)
    if inputs.prediction_log:
        config.serving.prediction_log = replace(config.serving.prediction_log,
                                                path=inputs.prediction_log)
    if config.serving.prediction_log.path:  # before anything else is set up
        check_writable(config.serving.prediction_log.path)
    state_dir = Path(inputs.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=getattr(logging, inputs.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    loader = registry_loader(inputs.tracking_uri, state_dir / "model-cache", config.spark,
                             prefer_onnx=config.gateway.serve_onnx, gateway=config.gateway,
                             state_dir=state_dir)
    app = create_app(config.gateway, state_dir, token.strip(), loader, config.serving)
    uvicorn.run(app, host=inputs.host, port=inputs.port, log_level=inputs.log_level.lower(),
                access_log=False, lifespan="on",
                timeout_keep_alive=int(config.gateway.keep_alive_seconds),
                timeout_graceful_shutdown=int(config.gateway.drain_timeout_seconds) or None)
    return 0


COMMANDS = [
    Command(
        name="gateway serve",
        help="Serve registry models in stable/canary slots with weighted routing and metrics.",
        run=serve,
        options=(
            Option("host", "interface to listen on", default="127.0.0.1", action_input=False),
            Option("port", "port to listen on", default="8080", kind="int", action_input=False),
            Option("state-dir", "folder for the durable slot/weight state",
                   default=".ml-actions/gateway", action_input=False),
            tracking_uri_option(action_input=False),
            Option("config", "ml-actions.yaml (gateway: and serving: sections)",
                   action_input=False),
            Option("prediction-log", "folder or pyarrow URI for the prediction log's Parquet "
                   "files (overrides serving.prediction_log.path; unset: no log)",
                   action_input=False),
            environment_option(action_input=False),
            Option("log-level", "debug | info | warning", default="info", action_input=False),
        ),
    ),
]
