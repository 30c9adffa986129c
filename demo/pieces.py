"""What the demo needs before it starts; a missing piece is named, never faked."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"validate-model": "core/ml_actions/cli/commands/validate_model.py (issue 3)",
            "canary-deploy": "core/ml_actions/cli/commands/canary_deploy.py (issue 5)",
            "rollback": "core/ml_actions/cli/commands/rollback.py (issue 5)",
            "gateway serve": "core/ml_actions/cli/commands/gateway.py (issue 4)"}
MODULES = {"ml_pipeline.simulate": "template/ml_pipeline/simulate.py (issue 2)",
           "ml_pipeline.train": "template/ml_pipeline/train.py (issue 2)"}


def missing_pieces() -> list[str]:
    """Human-readable names of what is missing: commands, template modules, binaries."""
    from ml_actions.cli.main import discover_commands

    missing = []
    declared = {c.name for c in discover_commands()}
    missing += [f"command `ml-actions {name}`: {where}" for name, where in COMMANDS.items()
                if name not in declared]
    template = str(ROOT / "template")
    if template not in sys.path:
        sys.path.insert(0, template)
    missing += [f"module {name}: {where}" for name, where in MODULES.items()
                if importlib.util.find_spec(name) is None]
    if not (shutil.which("prometheus") or Path("/usr/bin/prometheus").exists()):
        missing.append("the prometheus binary: run `make setup` or `apt-get install prometheus`")
    if not shutil.which("java"):
        missing.append("a Java 17 runtime for Spark: `apt-get install openjdk-17-jre-headless`")
    return missing
