"""What the deploy takes from outside: the layer's dependencies pinned by hash, the workflow's actions by commit, and
the deploy role's token reachable from the deploy job alone."""

from __future__ import annotations

import re
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LAMBDA = {**default_environment(), "python_version": "3.12", "sys_platform": "linux", "platform_system": "Linux",
          "platform_machine": "x86_64", "implementation_name": "cpython", "extra": ""}


def layer_requirements() -> dict[str, tuple[str, list[str]]]:
    """name -> (pinned version, its hashes), from layers/deps/requirements.txt (continuation lines joined)."""
    text = (ROOT / "layers" / "deps" / "requirements.txt").read_text(encoding="utf-8").replace("\\\n", " ")
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("--") else line
        if not line:
            continue
        spec, *options = line.split("--hash=")
        requirement = Requirement(spec.strip())
        (pin,) = requirement.specifier
        assert pin.operator == "==", requirement
        out[canonicalize_name(requirement.name)] = (pin.version, [o.strip() for o in options])
    return out


def test_every_layer_dependency_is_pinned_by_hash_and_the_set_is_complete() -> None:
    pinned = layer_requirements()
    assert all(hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes)
               for _, hashes in pinned.values()), pinned
    # Complete: every dependency each pinned distribution declares for the Lambda's Python is pinned too (read
    # from the project venv, which installs the same versions: requirements-dev.txt).
    missing = set()
    for name, (version, _) in pinned.items():
        dist = distribution(name)
        assert dist.version == version, (name, dist.version, version)
        for raw in dist.requires or []:
            needed = Requirement(raw)
            if needed.marker is None or needed.marker.evaluate(LAMBDA):
                if canonicalize_name(needed.name) not in pinned:
                    missing.add(f"{needed.name} (needed by {name})")
    assert missing == set()


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    return loaded


def test_every_action_is_pinned_by_commit_sha() -> None:
    uses = [step["uses"] for job in workflow()["jobs"].values() for step in job.get("steps", []) if "uses" in step]
    assert uses and [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u)] == []


def test_only_the_deploy_job_can_mint_the_token_and_it_installs_nothing() -> None:
    spec = workflow()
    assert spec["permissions"] == {"contents": "read"}
    minting = {name for name, job in spec["jobs"].items() if (job.get("permissions") or {}).get("id-token")}
    assert minting == {"deploy"}
    runs = " ".join(step.get("run", "") for step in spec["jobs"]["deploy"]["steps"])
    assert not re.search(r"pip install|make (sam-)?venv|make sam|npm |curl |wget ", runs), runs


def test_prod_deploys_only_from_main() -> None:
    jobs = workflow()["jobs"]
    for name in ("validate-secrets", "deploy"):
        assert "(inputs.environment != 'prod' || github.ref == 'refs/heads/main')" in jobs[name]["if"]
    assert jobs["deploy"]["environment"] == "${{ inputs.environment || 'dev' }}"
