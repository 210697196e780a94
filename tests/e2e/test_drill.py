"""Restore drills (`selfheal drill`) on the local AWS, with the drill role's policy (template.yaml's DrillRole, the
stack deployed with a DrillSchedule) enforced on every call the drill makes: whatever it may not do, AWS's answer
is AccessDenied, so a drill that passes here touches nothing but scratch `*-drill-*` names.

AWS's clock plays the restores (a PITR restore, AWS Backup's restore of a bucket's recovery point): 2 s here, waited
for on the wall clock, so restore_seconds is what the drill measured.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.invoke import LambdaContext
from devtools.localaws import LocalAws
from selfheal.aws import Clients
from selfheal.drill import buckets as bucket_drill
from selfheal.drill import run_drill
from selfheal.drill import tables as table_drill
from selfheal.engine import Engine
from selfheal.loader import load_estate
from tests.e2e.conftest import put_items, role_calls
from tests.support.cli import in_process
from tests.support.enforce import TEMPLATE
from tests.support.handler import invoke

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:No application metrics to publish")]
EVENTS = Path(__file__).resolve().parents[2] / "events"

DRILL_PARAMETERS = {"DrillSchedule": "rate(7 days)"}
RESTORE_ROLE = "arn:aws:iam::123456789012:role/selfheal-DrillRestoreRole-1A2B3C"  # as CloudFormation names it
PHOTOS, SITE, IMAGES = "galerly-photos", "galerly-frontend-app", "galerly-images-storage"
ESTATE = """\
version: 1
settings: {poll_seconds: 0.1}
tables:
  - name: galerly-photos
    hash_key: gallery_id
    range_key: id
    gsis: [{name: PhotoIdIndex, hash_key: id}]
    recovery: {rto: 1m}
buckets:
  - {name: galerly-frontend-app}                       # its copy: an AWS Backup recovery point
  - {name: galerly-images-storage, versioning: true}   # its copy: its own versions
"""


@pytest.fixture
def estate(aws: LocalAws, ddb: Any, s3: Any, tmp_path: Path) -> Path:
    """The estate built (by the function role), 120 photos in the table, 25 objects in each bucket, a recovery point
    of the site bucket; then the drill role's policy enforced and a 2 s restore clock."""
    path = tmp_path / "estate.yaml"
    path.write_text(ESTATE)
    report = Engine(load_estate(path, env={}), Clients(endpoint_url=aws.endpoint)).apply()
    assert report.exit_code == 0, [r.to_dict() for r in report.results]
    put_items(ddb, PHOTOS, 120)
    for n in range(25):
        s3.put_object(Bucket=SITE, Key=f"pages/{n:02d}.html", Body=f"<p>page {n}</p>".encode() * 40)
        s3.put_object(Bucket=IMAGES, Key=f"photos/{n:02d}.jpg", Body=bytes([n]) * 2048)
    # S3's LastModified has whole seconds (cut): the copy is made in the whole second after the last object's
    time.sleep(1.02 - time.time() % 1)
    aws.add_bucket_recovery_point(SITE)
    aws.enforce_iam(TEMPLATE, parameters=DRILL_PARAMETERS, role="DrillRole")
    aws.set_clock(restore=2)
    aws.reset_calls()
    return path


def drill(capsys: pytest.CaptureFixture[str], aws: LocalAws, path: Path, *args: str) -> tuple[int, Any, str]:
    run = in_process(capsys, "drill", "--estate", str(path), "--endpoint-url", aws.endpoint, "--region", "us-east-1",
                     "--restore-role", RESTORE_ROLE, *args)
    return run.code, json.loads(run.out) if run.out.strip().startswith("{") else None, run.err


def one(value: Any) -> Any:
    """An EMF value: Powertools writes a metric's values as a list."""
    return value[0] if isinstance(value, list) else value


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in report["resources"]}


def scratch_left(aws: LocalAws) -> list[str]:
    ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.endpoint)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint)
    return [t for t in ddb.list_tables()["TableNames"] if "-drill-" in t] + \
        [b["Name"] for b in s3.list_buckets()["Buckets"] if "-drill-" in b["Name"]]


def test_a_drill_restores_verifies_times_and_removes_each_copy_and_touches_no_declared_resource(
    aws: LocalAws, estate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN the drill runs under its own role
    code, report, err = drill(capsys, aws, estate, "--json")

    # THEN every resource verified, each from its newest copy, and the run exits 0
    assert code == 0, (err, report)
    assert report["action"] == "drill"
    got = by_name(report)
    photos, site, images = got[PHOTOS], got[SITE], got[IMAGES]
    assert photos["copy"] == "pitr" and photos["verified"] is True and photos["outcome"] == "ok", photos
    assert photos["details"]["items"] == {"table": 120, "copy": 120}
    assert site["copy"] == "aws-backup" and site["copy_ref"].startswith("arn:aws:backup:") and site["verified"], site
    assert site["details"]["objects"] == {"sampled": 20, "matched": 20}
    # the versions-only bucket: nothing restored elsewhere, its versions checked
    assert images["copy"] == "versions" and images["restore_seconds"] is None and images["verified"], images
    # timed on AWS's clock (2 s), and how old each copy was
    for r in (photos, site):
        assert 2.0 <= r["restore_seconds"] < 10, r
        assert r["copy_age_seconds"] is not None and r["copy_age_seconds"] < 120
        assert r["scratch"].startswith(f"{r['name']}-drill-") and len(r["scratch"]) == len(r["name"]) + 19
        assert r["removed"] is True
    assert photos["rto_seconds"] == 60 and photos["rto_exceeded"] is False
    assert scratch_left(aws) == []
    # AND the role was refused nothing, and every write it made named a scratch copy
    assert [c for c in aws.iam_log() if c.get("denied")] == []
    writes = [(c["operation"], c["name"]) for c in role_calls(aws) if c["write"]]
    assert {op for op, _ in writes} == {"RestoreTableToPointInTime", "StartRestoreJob", "DeleteTable", "DeleteBucket",
                                        "DeleteObjects"}
    restored = {name for op, name in writes if op.startswith("Delete")}
    assert restored and all("-drill-" in str(name) for name in restored), restored


def test_a_restore_over_the_declared_rto_is_timed_on_aws_clock_and_reported_exceeded(
    aws: LocalAws, estate: Path
) -> None:
    # GIVEN a 90 s restore against the table's declared rto of 1m, AWS's clock moved on 10 s every 0.1 s by the test,
    # and the drill timing on that same clock (wall time plus what the test moved it on)
    aws.set_clock(restore=90)
    moved = [0.0]
    stop = threading.Event()

    def move_on() -> None:
        while not stop.wait(0.1):
            moved[0] = aws.advance_clock(10)

    mover = threading.Thread(target=move_on, daemon=True)
    mover.start()
    try:
        report = run_drill(load_estate(estate, env={}), Clients(endpoint_url=aws.endpoint), only=(PHOTOS,),
                           clock=lambda: time.monotonic() + moved[0])
    finally:
        stop.set()
        mover.join()

    # THEN the data came back (verified) in at least AWS's 90 s, over the rto: the drill says so; a slow restore is
    # not a failed one (exit 0), its rto_exceeded metric is what alarms
    (photos,) = report.results
    result = photos.to_dict()
    assert result["verified"] is True and report.exit_code == 0, result
    assert result["restore_seconds"] >= 90 and result["rto_exceeded"] is True, result
    assert any("over the declared rto of 60s" in n for n in result["notes"])
    assert result["removed"] is True and scratch_left(aws) == []


def test_a_copy_with_fewer_items_is_not_verified_and_the_drill_exits_1(
    aws: LocalAws, estate: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, ddb: Any
) -> None:
    # GIVEN a fault: the scratch copy loses an item after AWS restored it (moto's restore copies every item, so the
    # fault is injected between the restore and the check, by the test's own client, not the role)
    original = table_drill.TableDrill.verify

    def lossy(self: Any, clients: Any, spec: Any, copy: Any, scratch: str | None) -> Any:
        assert scratch is not None
        ddb.delete_item(TableName=scratch, Key={"gallery_id": {"S": "g-0"}, "id": {"S": "photo-00000"}})
        return original(self, clients, spec, copy, scratch)

    monkeypatch.setattr(table_drill.TableDrill, "verify", lossy)

    # WHEN the drill runs
    code, report, err = drill(capsys, aws, estate, "--only", PHOTOS, "--json")

    # THEN not verified, the counts named, exit 1 — and the scratch copy still removed, the table untouched
    photos = by_name(report)[PHOTOS]
    assert code == 1 and photos["verified"] is False and photos["outcome"] == "error", photos
    assert photos["details"]["items"] == {"table": 120, "copy": 119}
    assert "119 items in the copy, 120 in the table" in photos["reason"]
    assert photos["removed"] is True and scratch_left(aws) == []
    assert ddb.scan(TableName=PHOTOS, Select="COUNT")["Count"] == 120


def test_objects_written_after_the_copy_are_not_held_against_it(
    aws: LocalAws, estate: Path, capsys: pytest.CaptureFixture[str], s3: Any
) -> None:
    # GIVEN a new object and an old one overwritten since the recovery point (neither as the copy holds them)
    s3.put_object(Bucket=SITE, Key="pages/new.html", Body=b"written after the copy")
    s3.put_object(Bucket=SITE, Key="pages/00.html", Body=b"changed after the copy")
    # WHEN the drill runs
    code, report, err = drill(capsys, aws, estate, "--only", SITE, "--json")
    # THEN the sample is drawn from what the copy must hold, and it all matches
    site = by_name(report)[SITE]
    assert code == 0 and site["verified"], (err, site)
    assert site["details"]["objects"] == {"sampled": 20, "matched": 20}


def test_a_bucket_copy_missing_an_object_is_not_verified(
    aws: LocalAws, estate: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, s3: Any
) -> None:
    # GIVEN a fault: one object gone from the restored scratch bucket (injected by the test's client before the check)
    original = bucket_drill.BucketDrill.verify

    def lossy(self: Any, clients: Any, spec: Any, copy: Any, scratch: str | None) -> Any:
        if scratch is not None:
            s3.delete_object(Bucket=scratch, Key="pages/24.html")
        return original(self, clients, spec, copy, scratch)

    monkeypatch.setattr(bucket_drill.BucketDrill, "verify", lossy)
    code, report, err = drill(capsys, aws, estate, "--only", SITE, "--json")
    site = by_name(report)[SITE]
    assert code == 1 and site["verified"] is False, site
    assert "pages/24.html: in the bucket since before the copy, missing from the copy" in site["reason"]
    assert site["removed"] is True and scratch_left(aws) == []


@pytest.mark.parametrize(
    ("estate_text", "only", "says"),
    [
        # a table with no copy at all: PITR off and no backup
        ("tables: [{name: galerly-bare, hash_key: id, pitr: false}]", (), "table galerly-bare: no copy to restore"),
        # a bucket with neither versions nor an AWS Backup point
        ("buckets: [{name: galerly-frontend-app}]", (), "bucket galerly-frontend-app: no copy to restore"),
        # a bucket whose scratch name would pass S3's 63 characters
        ("buckets: [{name: galerly-assets-with-a-long-name-of-forty-five-c, versioning: true}]", (),
         "over AWS's 63 for a bucket"),
        # an --only name the estate does not declare
        ("tables: [{name: galerly-bare, hash_key: id}]", ("galerly-nope",), "'galerly-nope' is not declared"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_no_write(
    aws: LocalAws, s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], estate_text: str,
    only: tuple[str, ...], says: str,
) -> None:
    path = tmp_path / "estate.yaml"
    path.write_text(f"version: 1\n{estate_text}\n")
    Engine(load_estate(path, env={}), Clients(endpoint_url=aws.endpoint)).apply()
    aws.enforce_iam(TEMPLATE, parameters=DRILL_PARAMETERS, role="DrillRole")
    aws.reset_calls()

    code, report, err = drill(capsys, aws, path, *(("--only", *only) if only else ()))

    assert code == 1 and report is None
    (line,) = err.strip().splitlines()
    assert says in line and " — " in line, line  # the problem, then the fix
    assert [c for c in role_calls(aws) if c["write"]] == []


def drill_environment(aws: LocalAws, estate: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """The drill function's environment (template.yaml's DrillFunction): the estate, the restore role, the alarm topic
    with a queue subscribed to it (SNS's JSON rendering of each message), and no other SELFHEAL_ setting. Returns the
    queue's client and URL."""
    for name in [n for n in os.environ if n.startswith("SELFHEAL_")]:
        monkeypatch.delenv(name)
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=aws.endpoint)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=aws.endpoint)
    topic = sns.create_topic(Name="selfheal-AlarmTopic-1A2B3C4D5E")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "false"})
    monkeypatch.setenv("SELFHEAL_ESTATE", str(estate))
    monkeypatch.setenv("SELFHEAL_TOPIC_ARN", topic)
    monkeypatch.setenv("SELFHEAL_BACKUP_RESTORE_ROLE_ARN", RESTORE_ROLE)
    return sqs, str(queue)


def test_the_scheduled_drill_sends_a_restore_metric_per_resource_and_one_message(
    aws: LocalAws, estate: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the drill function's environment (template.yaml's DrillFunction) and a queue on the alarm topic
    sqs, queue = drill_environment(aws, estate, monkeypatch)
    with open(EVENTS / "drill.json", encoding="utf-8") as fh:
        event = json.load(fh)
    capsys.readouterr()

    # WHEN its schedule fires
    result = invoke(event, timeout_s=120).result

    # THEN every drill verified, and the role was refused nothing
    assert result["action"] == "drill" and all(r["verified"] for r in result["resources"]), result
    assert [c for c in aws.iam_log() if c.get("denied")] == []
    # AND one EMF RestoreMinutes metric per restore, by resource, in the Selfheal namespace
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    minutes = {b["resource"]: one(b["RestoreMinutes"]) for b in blobs if "RestoreMinutes" in b}
    assert set(minutes) == {PHOTOS, SITE} and all(m >= 2 / 60 for m in minutes.values()), minutes
    assert all(b["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Selfheal" for b in blobs if "RestoreMinutes" in b)
    assert [one(b["drills_failed"]) for b in blobs if "drills_failed" in b] == [0]
    # AND one message on the alarm topic for the whole drill
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    (message,) = [json.loads(m["Body"]) for m in got]
    assert message["Subject"] == "selfheal drill: 3/3 verified"
    document = json.loads(message["Message"])  # a queue gets the message's JSON rendering (e-mail: the text)
    assert document["action"] == "drill"
    assert {r["name"]: (r["copy"], r["verified"]) for r in document["resources"]} == {
        PHOTOS: ("pitr", True), SITE: ("aws-backup", True), IMAGES: ("versions", True)}


def test_a_restore_that_outlives_the_invocation_is_handed_to_the_drills_next_invocation(
    aws: LocalAws, estate: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN restores of 10 minutes, a drill function with 8 s to live (Lambda plays it: the test delivers the async
    # invocation the drill sends itself), and a queue on the alarm topic
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=aws.endpoint)
    lam = boto3.client("lambda", region_name="us-east-1", endpoint_url=aws.endpoint)
    role = iam.create_role(RoleName="selfheal-DrillRole-1A2B", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
    lam.create_function(FunctionName="selfheal-selfheal-drill", Runtime="python3.12", Role=role,
                        Handler="app.lambda_handler", Code={"ZipFile": buf.getvalue()})
    sqs, queue = drill_environment(aws, estate, monkeypatch)
    aws.set_clock(restore=600)

    def inbox() -> list[Any]:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]

    # WHEN the schedule fires
    first = invoke({"action": "drill"}, LambdaContext("selfheal-selfheal-drill", timeout_s=8)).result

    # THEN the versions check is done, the two restores are handed over (the drill invoked itself, asynchronously,
    # with what they need) and nothing is removed or told yet
    follow = first["handed_over"]
    assert follow["link"] == 1 and {d["name"] for d in follow["done"]} == {IMAGES}
    assert {p["name"] for p in follow["resume"]} == {PHOTOS, SITE}
    assert {r["name"]: r["outcome"] for r in first["resources"]}[PHOTOS] == "restoring"
    invoked = [c for c in role_calls(aws) if c["service"] == "lambda"]
    assert [(c["operation"], c["status"]) for c in invoked] == [("Invoke", 202)]
    assert [c for c in aws.iam_log() if c.get("denied")] == []
    assert sorted(scratch_left(aws)) == sorted(p["scratch"] for p in follow["resume"])
    assert inbox() == []

    # WHEN AWS has finished and Lambda delivers that invocation
    aws.advance_clock(600)
    second = invoke(follow, LambdaContext("selfheal-selfheal-drill", timeout_s=60)).result

    # THEN both are verified and removed, timed from when they were started (on the wall clock, across invocations)
    got = by_name(second)
    assert all(got[n]["verified"] and got[n]["removed"] for n in (PHOTOS, SITE)), second
    assert all(got[n]["restore_seconds"] >= 5 for n in (PHOTOS, SITE)), second
    assert "handed_over" not in second and scratch_left(aws) == []
    # AND one message tells the whole drill, the first invocation's check included
    (message,) = inbox()
    document = json.loads(message["Message"])
    assert {r["name"]: r["verified"] for r in document["resources"]} == {PHOTOS: True, SITE: True, IMAGES: True}
    assert message["Subject"] == "selfheal drill: 3/3 verified"


@pytest.mark.iam_parameters(PhotosCopyBucketName="galerly-images-replica")  # the function role builds the estate
def test_a_bucket_with_a_declared_replica_is_drilled_as_a_refill_from_it(
    aws: LocalAws, s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a photos bucket whose declared copy is a replica bucket holding its objects (the stack names the replica)
    path = tmp_path / "estate.yaml"
    path.write_text("version: 1\nsettings: {poll_seconds: 0.1}\nbuckets:\n  - {name: galerly-images-storage, "
                    "versioning: true, copy_from: {bucket: galerly-images-replica}}\n")
    s3.create_bucket(Bucket="galerly-images-replica")
    built = Engine(load_estate(path, env={}), Clients(endpoint_url=aws.endpoint)).apply()
    assert built.exit_code == 0, [r.to_dict() for r in built.results]
    for n in range(30):
        for bucket in (IMAGES, "galerly-images-replica"):
            s3.put_object(Bucket=bucket, Key=f"photos/{n:02d}.jpg", Body=bytes([n]) * 1024)
    aws.enforce_iam(TEMPLATE, parameters={**DRILL_PARAMETERS, "PhotosCopyBucketName": "galerly-images-replica"},
                    role="DrillRole")
    aws.reset_calls()

    # WHEN the drill runs
    code, report, err = drill(capsys, aws, path, "--json")

    # THEN the replica was copied into a scratch bucket by the refill's copier, checked and removed; the role was
    # refused nothing and wrote nothing but the scratch bucket
    images = by_name(report)[IMAGES]
    assert code == 0 and images["copy"] == "replica" and images["verified"], (err, images)
    assert images["copy_ref"] == "galerly-images-replica" and images["restore_seconds"] is not None
    assert images["details"]["objects"] == {"sampled": 20, "matched": 20}
    assert images["removed"] is True and scratch_left(aws) == []
    assert [c for c in aws.iam_log() if c.get("denied")] == []
    written = {c["name"] for c in role_calls(aws) if c["write"]}
    assert written and all("-drill-" in str(name) for name in written), written
