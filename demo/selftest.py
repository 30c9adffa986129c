"""Services for .github/workflows/self-test.yml: `up` starts them and leaves them running.

    python -m demo.selftest up --workdir selftest --env-file "$GITHUB_ENV"
    python -m demo.selftest down --workdir selftest

`up` starts MLflow, the gateway and Prometheus bound to 0.0.0.0 (the Docker actions reach them
through the runner's address, their own `localhost` being the container), simulates a small
data set, trains v1 (champion, loaded into the stable slot) and v2 (@challenger), and writes
SELFTEST_* variables for the next steps. The PIDs go to `<workdir>/pids` for `down`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from demo.stack import ROOT, start_stack

MODEL = "fraud_detector"


def host_address() -> str:
    """The runner's primary address, reachable from containers on its Docker networks."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a route
        return sock.getsockname()[0]


def train(env: dict, data: Path, tracking: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "ml_pipeline.train", "--data", str(data),
                          "--tracking-uri", tracking, "--model-name", MODEL, *args], env=env,
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def up(workdir: Path, env_file: Path) -> None:
    from mlflow.tracking import MlflowClient

    from ml_actions.targets.gateway import GatewayTarget

    stack = start_stack(workdir, bind="0.0.0.0", public_host=host_address())
    (workdir / "pids").write_text(" ".join(str(p.pid) for p in stack.processes))
    local = {p.name: p.url for p in stack.processes}
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "template"), str(ROOT / "core"), str(ROOT)])}
    data = workdir / "data"
    subprocess.run([sys.executable, "-m", "ml_pipeline.simulate", "--customers", "600",
                    "--terminals", "1200", "--days", "60", "--out",
                    str(data / "transactions.parquet")], env=env, check=True)
    v1 = train(env, data / "transactions.parquet", local["mlflow"], "--algorithm",
               "logistic_regression", "--test-output", str(data / "test.parquet"))
    GatewayTarget(local["gateway"], token=stack.admin_token).load(
        "stable", f"models:/{MODEL}/{v1['version']}")
    client = MlflowClient(local["mlflow"], local["mlflow"])
    client.set_registered_model_alias(MODEL, "champion", v1["version"])
    v2 = train(env, data / "transactions.parquet", local["mlflow"], "--algorithm", "gbt")
    values = {"SELFTEST_MODEL": MODEL, "SELFTEST_CHAMPION_VERSION": v1["version"],
              "SELFTEST_CANDIDATE_VERSION": v2["version"],
              "SELFTEST_TRACKING_URI": stack.url("mlflow"),
              "SELFTEST_GATEWAY_URL": stack.url("gateway"),
              "SELFTEST_PROMETHEUS_URL": stack.url("prometheus"),
              "SELFTEST_ADMIN_TOKEN": stack.admin_token,
              "SELFTEST_TEST_DATA": str(data / "test.parquet")}  # relative: the workspace
    print(f"::add-mask::{stack.admin_token}", flush=True)  # a throwaway token, still masked
    with open(env_file, "a", encoding="utf-8") as fh:
        fh.writelines(f"{key}={value}\n" for key, value in values.items())
    print(json.dumps({k: v for k, v in values.items() if "TOKEN" not in k}, indent=2))


def down(workdir: Path) -> None:
    pids = (workdir / "pids").read_text().split() if (workdir / "pids").is_file() else []
    for pid in pids:
        try:
            os.killpg(int(pid), signal.SIGTERM)  # each service leads its own process group
        except ProcessLookupError:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.selftest")
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--workdir", default="selftest")
    parser.add_argument("--env-file", default=os.environ.get("GITHUB_ENV", "selftest.env"))
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.action == "up":
        up(workdir, Path(args.env_file))
    else:
        down(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
