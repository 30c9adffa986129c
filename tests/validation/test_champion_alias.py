"""The champion alias: a typo is exit 2 listing the aliases; a true first deployment passes.

`--champion-alias prod-champ` while `@champion` is set used to exit 0 as a "first deployment",
skipping every comparison with the production model; the report even named `@champion`.
"""

from __future__ import annotations

import json

import pytest

from ml_actions.cli.main import main

pytestmark = pytest.mark.integration


def test_an_unset_champion_alias_beside_other_aliases_is_exit_2_listing_them(
        scenario, runner_factory, tmp_path):
    files = runner_factory()
    code = main(scenario.args(tmp_path, "--champion-alias", "prod-champ"), runner=files.runner)
    errors = [line for line in files.log().splitlines() if line.startswith("::error")]
    assert code == 2, files.log()
    assert len(errors) == 1, files.log()
    weak, spark = scenario.versions["weak"], scenario.versions["spark"]
    assert "champion alias @prod-champ is not set" in errors[0]
    assert f"@champion -> {weak}" in errors[0] and f"@challenger -> {spark}" in errors[0]
    assert "--champion-alias" in errors[0]
    assert not (tmp_path / "validation-report.json").exists()


def test_a_true_first_deployment_is_a_recorded_pass_naming_the_alias(
        scenario, runner_factory, tmp_path):
    """Only the aliases a pipeline sets before any promotion: no champion yet, nothing to
    compare, and the report says which alias it looked for."""
    client = scenario.registry.client
    name = f"{scenario.model}_first"
    version = client.copy_model_version(f"models:/{scenario.model}/{scenario.versions['spark']}",
                                        name).version
    client.set_registered_model_alias(name, "challenger", version)
    client.set_registered_model_alias(name, "validated", version)  # an earlier gate's pass
    files = runner_factory()
    code = main(scenario.args(tmp_path, "--champion-alias", "prod-champ", model=name),
                runner=files.runner)
    assert code == 0, files.log()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert report["champion"] is None and report["champion_alias"] == "prod-champ"
    skipped = {c["name"] for c in report["checks"] if c["status"] == "skip"}
    assert "auc_vs_champion" in skipped
    markdown = (tmp_path / "validation-report.md").read_text()
    assert "@prod-champ not set yet" in markdown and "@champion" not in markdown
