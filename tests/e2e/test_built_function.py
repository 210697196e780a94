"""The function `sam build` produced (.aws-sam/build: code + deps layer), not the source tree, heals on a schedule.

`make test` builds first. The built code runs in a fresh process whose sys.path is laid out as in Lambda (the
function's code, then the layer's python/), against the moto server over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from devtools import followups
from selfheal.aws import Clients
from selfheal.engine import Engine
from selfheal.loader import load_estate
from tests.support.estates import GALERLY

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"


def built_dirs() -> tuple[Path, Path]:
    template = BUILD / "template.yaml"
    assert template.exists(), "no .aws-sam/build: run `make build` (make test does it first)"
    function, layer = BUILD / "Function", BUILD / "DepsLayer" / "python"
    assert (function / "app.py").exists() and (function / "estate.yaml").exists() and (function / "selfheal").is_dir()
    assert (layer / "crhelper").is_dir() and (layer / "aws_lambda_powertools").is_dir() and (layer / "yaml").is_dir()
    return function, layer


def invoke_built(aws, function: Path, layer: Path, event: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": aws.endpoint, "POWERTOOLS_TRACE_DISABLED": "true",
           **followups.function_environment(1)}
    return subprocess.run(
        [sys.executable, str(ROOT / "devtools" / "invoke.py"), str(event),
         "--code-dir", str(function), "--layer-dir", str(layer), "--endpoint-url", aws.endpoint],
        env=env, capture_output=True, text=True, timeout=120, cwd="/",
    )


@pytest.mark.e2e
def test_the_built_function_restores_a_deleted_table_on_a_scheduled_event(aws, tmp_path) -> None:
    function, layer = built_dirs()
    # GIVEN a healthy estate from which one table (with items) is deleted and PITR is switched off on another
    session = boto3.Session(region_name="us-east-1")
    clients = Clients(session=session, endpoint_url=aws.endpoint)
    assert Engine(load_estate(GALERLY, env={}), clients).apply().exit_code == 0
    ddb = session.client("dynamodb", endpoint_url=aws.endpoint)
    for n in range(3):
        ddb.put_item(TableName="galerly-contact", Item={"id": {"S": f"ticket-{n}"}, "status": {"S": "open"},
                                                       "created_at": {"S": "2026-11-25"}})
    ddb.update_table(TableName="galerly-contact", DeletionProtectionEnabled=False)
    ddb.delete_table(TableName="galerly-contact")
    ddb.update_continuous_backups(TableName="galerly-users",
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    aws.reset_calls()

    # WHEN the built handler gets EventBridge's scheduled event
    followups.create_group(aws.endpoint)
    done = invoke_built(aws, function, layer, ROOT / "events" / "scheduled.json")

    # THEN it ran the built code, started the restore (never waited for), repaired PITR, and handed over
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"handler {function / 'app.py'}" in done.stderr
    report = json.loads(done.stdout)
    assert (report["action"], report["trigger"]) == ("apply", "schedule")
    outcomes = {r["name"]: r["outcome"] for r in report["resources"]}
    assert outcomes.pop("galerly-contact") == "restoring"
    assert outcomes.pop("galerly-users") == "repaired"
    assert set(outcomes.values()) == {"ok"}
    assert report["followup"]["link"] == 1

    # WHEN Scheduler fires the follow-up at the built function
    fired = followups.due(aws.endpoint, timeout=30, advance=aws.advance_clock)
    (tmp_path / "followup.json").write_text(json.dumps(fired.event))
    again = invoke_built(aws, function, layer, tmp_path / "followup.json")

    # THEN the table is back with its items and settings, nothing else was written, nothing more is scheduled
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads(again.stdout)
    assert {r["name"]: r["outcome"] for r in report["resources"] if r["outcome"] != "ok"} == {
        "galerly-contact": "restored"}
    assert "followup" not in report
    assert ddb.scan(TableName="galerly-contact", Select="COUNT")["Count"] == 3
    pitr = ddb.describe_continuous_backups(TableName="galerly-users")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert not [c for c in aws.calls() if c["operation"].startswith("Delete") and c["client"] == "selfheal"]


def test_the_built_function_imports_its_dependencies_from_the_layer_not_the_project_venv() -> None:
    function, layer = built_dirs()
    probe = ("import app, selfheal, crhelper, aws_lambda_powertools, yaml; "
             "print('\\n'.join(m.__file__ for m in (app, selfheal, crhelper, aws_lambda_powertools, yaml)))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(function), str(layer)]),
           "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    app_file, selfheal_file, *deps = done.stdout.split()
    assert app_file.startswith(str(function)) and selfheal_file.startswith(str(function))
    assert all(path.startswith(str(layer)) for path in deps), deps
