"""What a heal leaves open, and what a run leaks: the private bucket is TLS-only and fully blocked, the website
bucket is public for reading objects only, no log line carries a secret, and the role cannot delete."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path

import boto3
import pytest

from devtools.invoke import LambdaContext, ResponseServer, load_handler
from selfheal.aws import Clients
from tests.functional.helpers import as_list, private_bucket, public_bucket, read_bucket
from tests.support import cli
from tests.support.iam import allowed, iam_action, load_template, policy_statements

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SECRET = "reliabilitySECRETkey0000000000000000000000"  # a fake secret key that must never be printed
SIGNATURE = "5e1f" * 16  # a presigned URL's signature that must never be printed
READ_PREFIXES = ("get", "list", "describe", "head")
ESTATE_SERVICES = ("dynamodb", "s3", "kms")


@pytest.fixture
def healed(world):
    report = world.run()
    assert report.exit_code == 0, report.failure_reason()
    return world


def test_photos_bucket_denies_plain_http_and_blocks_all_public_access(healed):
    spec = private_bucket(healed.estate)
    got = read_bucket(healed.s3, spec.name)

    assert got["bpa"] == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                          "RestrictPublicBuckets": True}
    denies = [s for s in got["policy"] if s["Effect"] == "Deny"
              and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
    assert len(denies) == 1, got["policy"]
    deny = denies[0]
    assert deny["Principal"] in ("*", {"AWS": "*"})
    assert any(fnmatchcase("s3:GetObject", a) and fnmatchcase("s3:PutObject", a) for a in as_list(deny["Action"]))
    assert sorted(as_list(deny["Resource"])) == sorted([f"arn:aws:s3:::{spec.name}", f"arn:aws:s3:::{spec.name}/*"])
    assert not [s for s in got["policy"] if s["Effect"] == "Allow"]


def test_frontend_bucket_allows_the_public_to_read_objects_only(healed):
    spec = public_bucket(healed.estate)
    got = read_bucket(healed.s3, spec.name)

    public = [s for s in got["policy"] if s["Effect"] == "Allow" and s["Principal"] in ("*", {"AWS": "*"})]
    assert [as_list(s["Action"]) for s in public] == [["s3:GetObject"]]
    assert as_list(public[0]["Resource"]) == [f"arn:aws:s3:::{spec.name}/*"]
    assert (got["bpa"]["BlockPublicAcls"], got["bpa"]["IgnorePublicAcls"]) == (True, True)  # ACLs stay blocked
    assert got["ownership"] == ["BucketOwnerEnforced"]


@contextlib.contextmanager
def everything_logged() -> Iterator[io.StringIO]:
    """Every record from the run's loggers, whatever propagation a handler module set; all but crhelper at DEBUG."""
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    handler.setLevel(logging.DEBUG)
    loggers = {n: logging.getLogger(n) for n in ("", "selfheal", "botocore", "boto3", "urllib3", "crhelper")}
    levels = {n: lg.level for n, lg in loggers.items()}
    for name, lg in loggers.items():
        if name != "crhelper":
            lg.setLevel(logging.DEBUG)
        lg.addHandler(handler)
    try:
        yield text
    finally:
        for name, lg in loggers.items():
            lg.removeHandler(handler)
            lg.setLevel(levels[name])


def test_no_log_line_or_cli_output_carries_the_secret_key(world, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)

    with everything_logged() as logged:
        report = world.run(clients=Clients(session=boto3.Session(region_name="us-east-1")))

    assert report.exit_code == 0
    text = logged.getvalue()
    assert "botocore" in text and "selfheal" in text  # botocore's request dumps and the engine's lines were captured
    assert SECRET not in text
    env = cli.environment(world.aws.endpoint, AWS_SECRET_ACCESS_KEY=SECRET)
    procs = [cli.start(*args, env=env) for args in (["apply"], ["plan", "--json"])]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
        assert "checked" in out and SECRET not in out + err


def test_a_cloudformation_run_logs_neither_the_secret_nor_the_presigned_url(world, monkeypatch, capsys):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    app = load_handler()
    event = json.loads((ROOT / "events" / "cfn-create.json").read_text())
    # An operator turns on DEBUG (LOG_LEVEL=DEBUG) for everything; crhelper keeps the level the function gives it
    # (it would print the whole event, ResponseURL included, at DEBUG).
    app.logger.setLevel("DEBUG")
    request = {**event, "ResponseURL": ""}
    with ResponseServer() as server:
        host, port = server._server.server_address[:2]
        url = (f"https://{host}:{port}/arn%3Aaws%3Acloudformation/stack?X-Amz-Algorithm=AWS4-HMAC-SHA256"
               f"&X-Amz-Credential=AKIAEXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature={SIGNATURE}")
        try:
            with everything_logged() as logged:
                app.lambda_handler({**request, "ResponseURL": url}, LambdaContext(timeout_s=120))
        finally:
            app.logger.setLevel("INFO")

    assert [r["body"]["Status"] for r in server.requests] == ["SUCCESS"]
    printed = capsys.readouterr()
    everything = logged.getvalue() + printed.out + printed.err
    assert "selfheal" in everything  # the run's lines were captured
    assert SECRET not in everything
    assert SIGNATURE not in everything and "X-Amz-Credential" not in everything


def test_the_function_role_cannot_delete_and_scopes_every_write(healed):
    statements = [s for s in policy_statements(load_template(TEMPLATE)) if s.get("Effect") == "Allow"]
    assert statements
    actions = [str(a).lower() for s in statements for a in as_list(s["Action"])]
    # A Delete action named, or covered by a wildcard (kms:GenerateDataKey* covers no delete; s3:* would).
    assert not [a for a in actions if fnmatchcase(a.split(":", 1)[0] + ":deleteanything", a)], actions
    for s in statements:
        # The estate's services: a write there names its tables, buckets or keys. (X-Ray has no resource ARNs.)
        writes = [a for a in (str(x).lower() for x in as_list(s["Action"]))
                  if a.split(":", 1)[0] in ESTATE_SERVICES and not a.split(":", 1)[1].startswith(READ_PREFIXES)]
        if writes:
            assert "*" not in as_list(s["Resource"]), s

    # Every write a full heal really made is one the role allows, and none is a delete.
    healed.aws.reset_calls()
    healed.ddb.update_table(TableName="galerly-users", DeletionProtectionEnabled=False)
    healed.run()
    writes = {(c["service"], c["operation"], c["name"]) for c in healed.aws.writes()}
    assert ("dynamodb", "UpdateTable", "galerly-users") in writes
    for service, operation, name in writes:
        assert not iam_action(service, operation).split(":")[1].lower().startswith("delete")
        assert allowed(TEMPLATE, operation, service, name or "", "us-east-1", "123456789012"), (service, operation)
