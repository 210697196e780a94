"""The function `sam build` produced (.aws-sam/build: code + deps layer), not the source tree, heals on a schedule.

`make test` builds first. The built code runs in a fresh process whose sys.path is laid out as in Lambda (the
function's code, then the layer's python/), against the moto server over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
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


def test_the_build_ships_bytecode_and_the_parsed_service_data() -> None:
    # Lambda's file system is read-only: only the .pyc files the package carries spare a cold start compiling, and
    # only unchecked-hash ones hold once packaging has changed the sources' times (PEP 552: flags 0b01).
    function, layer = built_dirs()
    sources = [*function.rglob("*.py"), *(p for d in ("boto3", "botocore", "aws_lambda_powertools", "yaml")
                                          for p in (layer / d).rglob("*.py"))]  # fmt: skip
    flags = {}
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
        flags[source] = int.from_bytes(pyc.read_bytes()[4:8], "little") if pyc.exists() else None
    assert len(sources) > 300 and {f for f in flags.values()} == {0b01}, [s for s, f in flags.items() if f != 0b01][:5]

    # AND a cold start of the built function reads botocore's data from the build, not from botocore's JSON
    code = ("import app; clients = app._clients(); clients.client('dynamodb'); "
            "print(type(clients.core.get_component('data_loader')).__name__)")
    env = {**os.environ, "PYTHONPATH": f"{function}{os.pathsep}{layer}", "PYTHONDONTWRITEBYTECODE": "1",
           "POWERTOOLS_TRACE_DISABLED": "true", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # never called
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=function,
                          env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["CachedLoader"]


def test_a_cold_start_of_the_build_compiles_no_dataclass_method() -> None:
    # GIVEN the built function (make build records the code dataclasses write for the package's classes)
    function, layer = built_dirs()
    assert (function / "selfheal" / "classcode.marshal").is_file()
    # WHEN a fresh interpreter imports it and every module of the package, counting what dataclasses still compile
    code = textwrap.dedent("""
        import importlib, pkgutil, selfheal, selfheal.classcode as c
        compiled, real = [], c.compiled
        c.compiled = lambda source: compiled.append(source) or real(source)
        import app
        for module in pkgutil.walk_packages(selfheal.__path__, "selfheal."):
            try:
                module.name.endswith("__main__") or importlib.import_module(module.name)
            except ModuleNotFoundError as exc:  # the CLI's own dependencies: not in the layer
                assert not exc.name.startswith("selfheal"), exc
        from selfheal.spec import Settings
        print(len(compiled), Settings.__init__.__code__.co_filename)
    """)
    env = {**os.environ, "PYTHONPATH": f"{function}{os.pathsep}{layer}", "PYTHONDONTWRITEBYTECODE": "1",
           "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=function, env=env)  # -S: the layer's packages only, as in Lambda
    # THEN none: each method came from the recorded code (a dataclass made by exec's own compile is still "<string>")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0", "<string>"]


@pytest.mark.parametrize("in_lambda", [True, False])
def test_a_cold_start_in_lambda_freezes_what_it_imported_and_collects_again_after(in_lambda: bool) -> None:
    # GIVEN the built function imported in a fresh interpreter, as Lambda's runtime (AWS_LAMBDA_FUNCTION_NAME set)
    # or as any other host (a test, a tool) imports it
    function, layer = built_dirs()
    code = "import gc, app; print(gc.get_freeze_count() > 10000, gc.isenabled(), app._COLD_START)"
    env = {**os.environ, "PYTHONPATH": f"{function}{os.pathsep}{layer}", "PYTHONDONTWRITEBYTECODE": "1",
           "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    if in_lambda:
        env["AWS_LAMBDA_FUNCTION_NAME"] = "selfheal"
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=function, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    # THEN in Lambda its objects are frozen (never traversed by a collection again) and the collector runs again for
    # what the runs make; elsewhere the process's collector is left alone
    assert done.stdout.split() == [str(in_lambda), "True", str(in_lambda)]


def test_the_build_ships_the_estate_validators_and_libyaml_so_a_cold_load_compiles_nothing() -> None:
    # GIVEN the built function and layer, fastjsonschema unable to compile anything WHEN a fresh process loads the
    # estate THEN every validator comes from the build (selfheal/validators.py) and libyaml reads the YAML
    function, layer = built_dirs()
    code = ("import fastjsonschema\n"
            "def refused(*_, **__): raise AssertionError('compiled at run time')\n"
            "fastjsonschema.compile = refused\n"
            "from selfheal import loader\n"
            f"estate = loader.load_estate({str(GALERLY)!r}, env={{}})\n"
            "print(len(estate.tables), len(estate.buckets), loader._strict_loaders()[0].__mro__[1].__name__)")
    env = {**os.environ, "PYTHONPATH": f"{function}{os.pathsep}{layer}", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=function,
                          env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = load_estate(GALERLY, env={})
    assert done.stdout.split() == [str(len(expected.tables)), str(len(expected.buckets)), "CSafeLoader"]
