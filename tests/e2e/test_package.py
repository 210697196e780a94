"""`pip install .` gives a `selfheal` that works from any directory: the wheel carries the shipped estate and its
schema. Built from a copy of the sources, installed (not editable) into a fresh venv outside the checkout, run from
another directory against the local AWS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from selfheal import __version__
from selfheal.loader import DEFAULT_ESTATE_PATH, load_estate
from tests.e2e.conftest import heal_from_empty
from tests.support.seed import SEED_BUCKETS

# Its module-scoped fixture is costly: one worker runs the whole module (make test: --dist loadgroup).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("package")]

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel, built from a copy of what it packages (nothing else of the checkout), pip-installed into a new venv
    whose only other path is the project venv's site-packages for the dependencies (boto3, rich, ...), so the test
    needs no network. Returns the venv."""
    tmp = tmp_path_factory.mktemp("package")
    src = tmp / "src"
    shutil.copytree(ROOT / "functions" / "selfheal" / "selfheal", src / "functions" / "selfheal" / "selfheal",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "dist",
                src, cwd=tmp)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("selfheal-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"selfheal/estate.yaml", "selfheal/estate.schema.json", "selfheal/cli.py"} <= set(names)

    venv = tmp / "venv"
    made = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    pip = run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel,
              cwd=tmp)
    assert pip.returncode == 0, pip.stderr
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).stdout.strip())
    (site / "_project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_installed_cli_runs_from_any_directory_against_a_local_aws(installed, aws, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SELFHEAL_", "PYTHON", "VIRTUAL_ENV"))}
    env.pop("AWS_ENDPOINT_URL", None)  # the endpoint comes from --endpoint-url, as a user would pass it
    env["COLUMNS"] = "250"
    selfheal = installed / "bin" / "selfheal"

    where = run(installed / "bin" / "python", "-c", "import selfheal; print(selfheal.__file__)", cwd=elsewhere,
                env=env)
    assert Path(where.stdout.strip()).is_relative_to(installed), where  # the wheel's copy, not the checkout's

    version = run(selfheal, "--version", cwd=elsewhere, env=env)
    assert (version.returncode, version.stdout.strip()) == (0, f"selfheal {__version__}")

    heal_from_empty(aws.endpoint)
    bare = run(selfheal, "plan", "--endpoint-url", aws.endpoint, cwd=elsewhere, env=env)
    assert bare.returncode == 1 and "no estate file — pass --estate PATH" in bare.stderr  # never the shipped one
    plan = run(selfheal, "plan", "--estate", "shipped", "--json", "--endpoint-url", aws.endpoint, cwd=elsewhere,
               env=env)
    assert plan.returncode in (0, 2), plan.stdout + plan.stderr  # the shipped estate, found inside the package
    shipped = [r.name for r in load_estate(DEFAULT_ESTATE_PATH, env={}).resources]
    assert [r["name"] for r in json.loads(plan.stdout)["resources"]] == shipped

    schema = run(selfheal, "schema", cwd=elsewhere, env=env)
    assert schema.returncode == 0 and '"title": "selfheal estate"' in schema.stdout

    aws.reset_calls()
    imported = run(selfheal, "import", "--endpoint-url", aws.endpoint, "--prefix", "galerly", "--bucket",
                   *SEED_BUCKETS, "-o", "estate.yaml", cwd=elsewhere, env=env)
    assert imported.returncode == 0, imported.stderr
    assert aws.writes() == []
    first = (elsewhere / "estate.yaml").read_text().splitlines()[0]
    ref = first.removeprefix("# yaml-language-server: $schema=")
    assert not Path(ref).is_absolute() and (elsewhere / ref).resolve().is_relative_to(installed)

    replan = run(selfheal, "plan", "--estate", "estate.yaml", "--endpoint-url", aws.endpoint, cwd=elsewhere, env=env)
    assert replan.returncode == 0, replan.stdout + replan.stderr
