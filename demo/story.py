"""The demo's story: five chapters on real components, then one table.

1. v1 trained, validated, deployed as the champion (the platform's first model);
2. v2 (better) trained, validated against v1, canaried 5 -> 25 -> 50 -> 100 % and promoted;
3. v3 (amount only: worse offline) blocked by the gate;
4. v4 (passes offline, misbehaves online) canaried and rolled back automatically;
   v1 and v2 are served through their ONNX forms (onnxruntime, checked by the gate's
   serving_parity); v4 has no ONNX form (its batch-scaling SQL stage cannot be converted),
   so the gateway serves its Spark form, and the table says which form served each version;
5. a manual rollback after the full promotion of v2.

Every step is the command a workflow would run (`python -m ml_pipeline.train`, `ml-actions
validate-model`, `ml-actions canary-deploy`, `ml-actions rollback`) with its outputs read from
`$GITHUB_OUTPUT`, while generated traffic runs throughout. Nothing is simulated but the
transactions: a missing piece stops the demo with a message that names it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from demo.pieces import missing_pieces
from demo.report import Rollout, render_table, served_forms, write_summary
from demo.steps import StepRunner, StoryError

ROOT = Path(__file__).resolve().parents[1]
MODEL = "fraud_detector"
TEMPLATE_CONFIG = ROOT / "template" / "ml-actions.yaml"
DEMO_CONFIG = Path(__file__).with_name("ml-actions.yaml")  # time keys only, over the template
# the template's schedule in seconds: a 30 s shadow phase (3 000 mirrored requests at 100/s),
# then 5 -> 25 -> 50 -> 100 % held 5 s each (longer while the evidence is not in), a 10 s bake
SCHEDULE = ["--shadow", "30s", "--steps", "5,25,50,100", "--interval", "5s", "--bake", "10s"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "demo-output"), help="reports folder")
    parser.add_argument("--rate", type=float, default=100.0, help="traffic, requests/second")
    parser.add_argument("--environment", default="prod",
                        help="environment of the template's ml-actions.yaml the commands use "
                        "(default prod: the bar a model clears to reach production)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_pieces()
    if missing:
        print("demo: cannot run, these pieces are missing:", file=sys.stderr)
        for piece in missing:
            print(f"  - {piece}", file=sys.stderr)
        return 2
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from demo.stack import start_stack

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = write_demo_config(out / "ml-actions.yaml")
    steps = StepRunner(out, args.environment, config)
    steps.log(f"demo-output: {out}; config: {TEMPLATE_CONFIG.relative_to(ROOT)} with the "
              f"timings of {DEMO_CONFIG.relative_to(ROOT)}")
    stack = start_stack(out / "services", gateway_config=config, log=steps.log)
    traffic = None
    try:
        traffic = tell_the_story(steps, stack, args)
        return 0
    except StoryError as err:
        steps.log(f"STOPPED: {err}")
        return 1
    finally:
        if traffic is not None:
            traffic.stop()
        stack.stop()
        steps.log("services stopped")


def merged(base: dict, over: dict) -> dict:
    """`over` merged into `base`, mapping by mapping (a scalar or list of `over` wins)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = (merged(out[key], value) if isinstance(value, dict)
                    and isinstance(out.get(key), dict) else value)
    return out


def write_demo_config(path: Path) -> Path:
    """The template's ml-actions.yaml with the demo's timings over it: the one config every
    demo command reads, so the gate judges with the template's own settings."""
    import yaml

    template = yaml.safe_load(TEMPLATE_CONFIG.read_text(encoding="utf-8"))
    demo = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    path.write_text(f"# {TEMPLATE_CONFIG.relative_to(ROOT)} with {DEMO_CONFIG.relative_to(ROOT)} "
                    "merged over it, by `python -m demo`\n"
                    + yaml.safe_dump(merged(template, demo), sort_keys=False), encoding="utf-8")
    return path


def tell_the_story(steps: StepRunner, stack, args):
    from demo.traffic import TrafficGenerator
    from ml_actions.targets.gateway import GatewayTarget

    tracking, gateway, prometheus = (stack.url("mlflow"), stack.url("gateway"),
                                     stack.url("prometheus"))
    steps.env.update({"MLFLOW_TRACKING_URI": tracking,
                      "ML_ACTIONS_ADMIN_TOKEN": stack.admin_token})
    target = GatewayTarget(gateway, token=stack.admin_token)
    data = steps.out / "data"
    steps.chapter("Data")
    steps.python("simulate", "ml_pipeline.simulate", "--days", "60", "--out",
                 str(data / "transactions.parquet"))

    steps.chapter("1. v1 (2 days of training data): train, validate, deploy as the champion")
    v1 = steps.train("v1", "--algorithm", "logistic_regression", "--train-days", "2",
                     "--test-output", str(data / "test"))
    gate1 = steps.validate("v1", v1["version"], data / "test")
    if gate1.code != 0:
        raise StoryError(f"v1 did not pass the gate (exit {gate1.code}); see {gate1.log}")
    started = time.monotonic()
    target.load("stable", f"models:/{MODEL}/{v1['version']}")
    steps.registry_alias(tracking, MODEL, "champion", v1["version"])
    steps.log(f"v1 loaded into the empty gateway's stable slot and aliased @champion "
              f"({time.monotonic() - started:.1f} s)")
    rows = steps.request_rows(tracking, f"models:/{MODEL}/{v1['version']}", data / "test")
    traffic = TrafficGenerator(gateway, rows, "CUSTOMER_ID", rate=args.rate).start()
    steps.log(f"traffic: {args.rate:g} requests/s, keyed by customer, until the end")
    rollouts: list[Rollout] = []

    steps.chapter("2. v2 (a week of training data): the pull request that reaches production")
    pr_opened = time.monotonic()
    v2 = steps.train("v2", "--algorithm", "logistic_regression")
    gate2 = steps.validate("v2", v2["version"], data / "test", pr_comment=True)
    if gate2.code != 0:
        raise StoryError(f"v2 did not pass the gate (exit {gate2.code}); see {gate2.log}")
    traffic.set_phase("v2 rollout")
    canary2 = steps.canary("v2", v2["version"], gateway, prometheus, SCHEDULE)
    rollouts.append(Rollout.from_run("v2 canary", canary2, traffic.snapshot("v2 rollout")))
    if canary2.outputs.get("result") != "promoted":
        raise StoryError(f"v2 was not promoted ({canary2.outputs.get('result')}); see "
                         f"{canary2.log}")
    time_to_production = time.monotonic() - pr_opened
    steps.log(f"v2 serves 100 %: {time_to_production:.0f} s from the pull request")

    steps.chapter("3. v3 (amount only): worse offline, blocked by the gate")
    traffic.set_phase("steady")
    # logistic regression: seconds to train, where the GBT takes minutes on 2 cores
    v3 = steps.train("v3", "--algorithm", "logistic_regression", "--feature-set", "amount_only")
    gate3 = steps.validate("v3", v3["version"], data / "test")
    if gate3.code != 1:
        raise StoryError(f"the gate should block v3 (exit 1), got exit {gate3.code}")
    steps.log(f"v3 blocked: {', '.join(gate3.failed_checks()) or 'see the report'}")

    steps.chapter("4. v4: passes offline, misbehaves online (features scaled per batch)")
    v4 = steps.skewed_model("v4", tracking, MODEL, data, v2["version"])
    gate4 = steps.validate("v4", v4, data / "test")
    if gate4.code != 0:
        raise StoryError(f"v4 should pass offline (exit 0), got exit {gate4.code}; see "
                         f"{gate4.log}")
    traffic.set_phase("v4 rollout")
    canary4 = steps.canary("v4", v4, gateway, prometheus, SCHEDULE, expect=(0, 1))
    rollouts.append(Rollout.from_run("v4 canary", canary4, traffic.snapshot("v4 rollout")))
    if canary4.outputs.get("result") != "rolled_back":
        raise StoryError(f"v4 should be rolled back, got {canary4.outputs.get('result')}")

    steps.chapter("5. Manual rollback after the full promotion of v2")
    traffic.set_phase("manual rollback")
    time.sleep(3)  # traffic on v2 before the rollback
    manual = steps.rollback("manual", gateway, "demo: manual rollback after v2's promotion")
    time.sleep(3)  # and on the restored version after it
    rollouts.append(Rollout.from_run("manual rollback", manual,
                                     traffic.snapshot("manual rollback")))
    traffic.stop()
    gates = {"v1": gate1, "v2": gate2, "v3": gate3, "v4": gate4}
    forms = served_forms(target.state().history)
    table = render_table(time_to_production, gates, rollouts, traffic, forms)
    print("\n" + table, flush=True)
    write_summary(steps.out, table, time_to_production, gates, rollouts,
                  {"v1": v1, "v2": v2, "v3": v3, "v4": {"version": v4}}, forms)
    steps.log(f"reports: {steps.out} (summary.md, summary.json, v*/validation-report.*, "
              "v*/rollout-report.json)")
    return traffic


if __name__ == "__main__":
    sys.exit(main())
