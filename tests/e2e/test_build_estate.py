"""`make build ESTATE=...` and `make fleet-template ESTATE=...` for an estate that is not Galerly's: the built template
passes the linters a deploy's template is held to (cfn-lint, `sam validate --lint`), and its StackSet translation too.

Subprocesses of the SAM venv (cfn-lint, sam, samtranslator live only there; `make test` builds it through make lint).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools import buildapp
from devtools.fleet_template import code_resources
from devtools.iam import load_template
from tests.support.fleet_build import ROOT, SAM_PYTHON

HARBOR = ROOT / "tests" / "fixtures" / "harbor.yaml"
SAM_BIN = ROOT / ".venv-sam" / "bin"
ENV = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
pytestmark = pytest.mark.xdist_group("build_estate")  # one build, shared by the module's tests


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("harbor-app")
    assert buildapp.main([str(HARBOR), "--out", str(out)], say=lambda _: None) == 0
    return out / "template.yaml"


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=300, env=ENV)


def test_the_built_template_passes_cfn_lint_and_sam_validate(built: Path) -> None:
    assert (SAM_BIN / "cfn-lint").is_file(), "run `make sam-venv` (make test does, through make lint)"
    lint = run(SAM_BIN / "cfn-lint", built)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    validate = run(SAM_BIN / "sam", "validate", "--lint", "--template-file", built)
    assert validate.returncode == 0, validate.stdout + validate.stderr


def stand_in_build(template_path: Path, dest: Path) -> Path:
    """What `sam build` leaves for the built template: <LogicalId>/ per function and layer, and a template naming
    them (the layer's installed packages left out: the packaging is the same)."""
    template = load_template(template_path)
    resources: dict[str, Any] = {}
    for logical_id, prop in code_resources(template).items():
        resource = template["Resources"][logical_id]
        source = (template_path.parent / resource["Properties"][prop]).resolve()
        target = dest / logical_id / ("python" if prop == "ContentUri" else "")
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
        resources[logical_id] = {"Type": resource["Type"], "Properties": {prop: logical_id}}
    (dest / "template.yaml").write_text(yaml.safe_dump({"Resources": resources}), encoding="utf-8")
    return dest


def test_the_fleet_template_of_the_built_estate_carries_its_role_and_passes_cfn_lint(
    built: Path, tmp_path: Path
) -> None:
    build = stand_in_build(built, tmp_path / "build")
    out = tmp_path / "fleet"
    done = run(SAM_PYTHON, ROOT / "devtools" / "fleet_template.py", "--template", built, "--build-dir", build,
               "--out", out)
    assert done.returncode == 0, done.stderr
    lint = run(SAM_BIN / "cfn-lint", out / "template.yaml")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fleet = load_template(out / "template.yaml")
    assert {"Stage", "AssetsBucket"} <= set(fleet["Parameters"])
    managed = [r for r in fleet["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    text = yaml.safe_dump(managed)
    assert "billing-invoices" in text and "harbor-uploads-example" in text and "galerly" not in text
    carried = (build / "Function" / "estate.yaml").read_text(encoding="utf-8")
    assert carried == HARBOR.read_text(encoding="utf-8")
