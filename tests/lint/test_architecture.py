"""The package layout as enforced rules: import contracts, no import cycles, small modules.

`lint-imports` runs the contracts of pyproject.toml on the real package, and again on a copy
with one forbidden import added, so a contract that can never fail (a typo in a module name,
a tool that was never consulted) fails this test instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "core" / "ml_actions"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MAX_MODULE_LINES = 300


def lint_imports(source_root: Path, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
                          cwd=config.parent, env=env, capture_output=True, text=True,
                          timeout=300)


def test_import_contracts_hold():
    done = lint_imports(ROOT / "core", ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and " 9 kept" in done.stdout


@pytest.mark.parametrize("module,line,contract", [
    ("validation/gates.py", "from ml_actions.rollout import controller",
     "Offline validation knows nothing of traffic, rollout or serving"),
    ("serving/routing.py", "from ml_actions.targets import base",
     "serving/ and targets/ share only the wire contract"),
    ("rollout/budget.py", "from ml_actions.cli import runner",
     "Only cli/ talks to the runner"),
    ("config/durations.py", "import mlflow", "Config is pure data"),
    ("monitoring/verdict.py", "from ml_actions.serving import gateway",
     "The monitor reads the gateway only through its prediction log"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, line, contract):
    shutil.copytree(PACKAGE, tmp_path / "core" / "ml_actions",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "core" / "ml_actions" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    done = lint_imports(tmp_path / "core", tmp_path / "pyproject.toml")
    assert done.returncode != 0
    broken = [ln for ln in done.stdout.splitlines() if ln.endswith("BROKEN")]
    assert len(broken) == 1 and broken[0].startswith(contract), done.stdout


def test_no_import_cycle_between_modules():
    """Tarjan's strongly connected components over grimp's graph (lazy imports included)."""
    graph = grimp.build_graph("ml_actions")
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    assert len(edges) > 50 and not cycles, cycles


def test_modules_stay_small_and_core_is_not_a_package():
    sizes = {p.relative_to(PACKAGE): len(p.read_text().splitlines())
             for p in PACKAGE.rglob("*.py")}
    too_long = {str(p): n for p, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"split these modules (one idea each): {too_long}"
    names = [p.stem for p in PACKAGE.rglob("*.py")]
    assert not {"utils", "helpers", "metrics", "misc", "common"} & set(names)
    done = subprocess.run([sys.executable, "-c", "import core"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and "ml_actions" in done.stderr
