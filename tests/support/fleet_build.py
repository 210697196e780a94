"""The fleet template and its zips, for tests: made by devtools/fleet_template.py with the SAM venv's Python
(samtranslator comes with SAM CLI and lives only there; `make test` builds that venv through `make lint`).

The code comes from `sam build`'s output (`.aws-sam/build`, built by `make test` first). Without one, a stand-in
build is laid out from the sources (the function's directory as is, the layer's requirements file): the template
and the packaging are the same, only the layer's zip holds no installed packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.fleet_template import code_resources
from devtools.iam import load_template

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
SAM_BUILD = ROOT / ".aws-sam" / "build"


def stand_in_build(dest: Path) -> Path:
    """A `sam build`-shaped directory made from the sources: <LogicalId>/ per function and layer, and a template."""
    template = load_template(ROOT / "template.yaml")
    resources: dict[str, Any] = {}
    for logical_id, prop in code_resources(template).items():
        resource = template["Resources"][logical_id]
        source = ROOT / resource["Properties"][prop]
        target = dest / logical_id / ("python" if prop == "ContentUri" else "")
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
        resources[logical_id] = {"Type": resource["Type"], "Properties": {prop: logical_id}}
    (dest / "template.yaml").write_text(yaml.safe_dump({"Resources": resources}), encoding="utf-8")
    return dest


def generate(out_dir: Path, sam_translation: Path | None = None) -> dict[str, Any]:
    """Run `make fleet-template`'s generator into `out_dir`; the manifest it wrote."""
    if not SAM_PYTHON.is_file():
        pytest.fail(f"{SAM_PYTHON} is missing: run `make sam-venv` (make test does, through make lint)")
    build = SAM_BUILD if (SAM_BUILD / "template.yaml").is_file() else stand_in_build(out_dir.parent / "stand-in-build")
    command = [str(SAM_PYTHON), str(ROOT / "devtools" / "fleet_template.py"), "--build-dir", str(build),
               "--out", str(out_dir)]  # fmt: skip
    if sam_translation is not None:
        command += ["--sam-translation", str(sam_translation)]
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    if done.returncode != 0:
        pytest.fail(f"fleet_template.py failed ({done.returncode}):\n{done.stderr}")
    manifest: dict[str, Any] = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    return manifest
