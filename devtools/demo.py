"""`make demo`: the whole story on a local AWS (a moto server this script starts and stops).

status -> apply on an empty account -> someone deletes a table full of data, switches PITR off and makes the photos
bucket public -> plan -> the nightly Lambda run meets a restore slower than itself, reports it `restoring` and
schedules a follow-up -> Scheduler fires the follow-up -> the data is back, fully configured -> someone makes the
bucket public again, CloudTrail's record of it arrives, the function heals just that bucket and tells people who did
what and what was done -> a script deletes hundreds of photos, the function counts S3's deletion events and warns
once, with the command that undoes it -> that command brings every photo back.

The CLI steps run the real `selfheal` CLI as a subprocess over HTTP; the Lambda steps run the real handler
(devtools/invoke.py) with the function role's policy enforced by the local AWS, which plays AWS's clock scaled down
(a restore takes RESTORE_SECONDS, not an hour). moto sends no S3 event notifications: the demo plays EventBridge,
handing the function one `Object Deleted` event per delete marker, in the shape S3 documents. The demo fails (exit 1)
if any step does not end as it should.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools import breakage, followups  # noqa: E402
from devtools.localaws import LocalAws  # noqa: E402

TEMPLATE = ROOT / "template.yaml"
RESTORE_SECONDS = 12  # AWS: 20 minutes to hours
LAMBDA_TIMEOUT = 8  # AWS: up to 900 s; shorter than the restore either way
FOLLOWUP_DELAY = 14  # the template's FollowupDelaySeconds, scaled down like the restore

MASS_DELETE = 250  # the demo's estate warns at more than this many deleted within 5 minutes (shipped: 1,000)
DELETED = 300  # photo files the script deletes
PHOTOS = [
    {"gallery_id": "wedding-2026", "id": f"photo-{n:03d}", "user_id": "ana@example.com",
     "created_at": f"2026-06-1{n}T10:00:00Z", "key": f"wedding-2026/photo-{n:03d}.jpg"}
    for n in range(1, 6)
]


def banner(text: str) -> None:
    print(f"\n\033[1m=== {text}\033[0m" if sys.stdout.isatty() else f"\n=== {text}", flush=True)


def selfheal(env: dict[str, str], *args: str, expect: int, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    print(f"$ selfheal {' '.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", "selfheal", *args], env=env, text=True, capture_output=True, cwd=cwd)
    print(done.stdout, end="")
    if done.stderr.strip():
        print(done.stderr, end="", file=sys.stderr)
    print(f"(exit {done.returncode})", flush=True)
    if done.returncode != expect:
        raise SystemExit(f"demo: `selfheal {' '.join(args)}` exited {done.returncode}, expected {expect}")
    return done


def deletion_events(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """What S3 sends EventBridge for each delete marker now current in `bucket` ("Object Deleted", as the S3 user
    guide's "EventBridge event message structure" shows it), oldest first."""
    markers = [m for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
               for m in page.get("DeleteMarkers", []) if m["IsLatest"]]
    return [{"version": "0", "id": f"demo-{n}", "detail-type": "Object Deleted", "source": "aws.s3",
             "account": "123456789012", "time": m["LastModified"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "region": "us-east-1", "resources": [f"arn:aws:s3:::{bucket}"],
             "detail": {"version": "0", "bucket": {"name": bucket},
                        "object": {"key": m["Key"], "version-id": m["VersionId"], "sequencer": f"{n:016X}"},
                        "request-id": f"DEMO{n:012d}", "requester": "123456789012", "source-ip-address": "127.0.0.1",
                        "reason": "DeleteObject", "deletion-type": "Delete Marker Created"}}
            for n, m in enumerate(sorted(markers, key=lambda m: m["LastModified"]))]


def lambda_runs(env: dict[str, str], events: list[dict[str, Any]], title: str) -> list[dict[str, Any]]:
    """The real handler once per event, in one warm container, as an EventBridge rule delivers them."""
    path = Path(env["DEMO_DIR"]) / "events.json"
    path.write_text(json.dumps(events))
    print(f"$ lambda {title} x {len(events)}", flush=True)
    done = subprocess.run([sys.executable, str(ROOT / "devtools" / "invoke.py"), str(path), "--each",
                           "--timeout", str(LAMBDA_TIMEOUT)], env=env, text=True, capture_output=True)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"demo: the {title} runs failed (exit {done.returncode})")
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def lambda_run(env: dict[str, str], event: dict[str, Any], title: str) -> dict[str, Any]:
    """The real handler on one event, as Lambda would run it (a subprocess, its role enforced by the local AWS)."""
    path = Path(env["DEMO_DIR"]) / "event.json"
    path.write_text(json.dumps(event))
    print(f"$ lambda {title} (timeout {LAMBDA_TIMEOUT}s)", flush=True)
    done = subprocess.run([sys.executable, str(ROOT / "devtools" / "invoke.py"), str(path),
                           "--timeout", str(LAMBDA_TIMEOUT)], env=env, text=True, capture_output=True)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"demo: the {title} run failed (exit {done.returncode})")
    report: dict[str, Any] = json.loads(done.stdout)
    for r in report["resources"]:
        if r["outcome"] != "ok":
            print(f"  {r['kind']} {r['name']}: {r['outcome']} — {r['reason']}")
    print(f"  summary: {', '.join(f'{k} {v}' for k, v in report['summary'].items() if v)}")
    if "followup" in report:
        print(f"  follow-up: {json.dumps(report['followup'])}")
    return report


def outcome(report: dict[str, Any], name: str) -> str:
    found: str = next(r["outcome"] for r in report["resources"] if r["name"] == name)
    return found


def main() -> int:
    with LocalAws() as aws, tempfile.TemporaryDirectory() as demo_dir:
        env = {**os.environ, "AWS_ENDPOINT_URL": aws.endpoint, "AWS_ACCESS_KEY_ID": "demo",
               "AWS_SECRET_ACCESS_KEY": "demo", "AWS_DEFAULT_REGION": "us-east-1",
               "COLUMNS": os.environ.get("COLUMNS", "150"),
               "SELFHEAL_ESTATE": str(ROOT / "functions" / "selfheal" / "estate.yaml")}  # the shipped one, by name
        env.pop("AWS_PROFILE", None)
        session = boto3.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name="us-east-1")
        ddb = session.client("dynamodb", endpoint_url=aws.endpoint)
        s3 = session.client("s3", endpoint_url=aws.endpoint)
        print(f"local AWS (moto server) at {aws.endpoint}")

        banner("1. An empty account: what exists?")
        selfheal(env, "status", expect=0)

        banner("2. Heal it: every table and bucket created with its full configuration")
        selfheal(env, "apply", expect=0)
        aws.reset_calls()
        selfheal(env, "apply", expect=0)
        writes = aws.writes()
        print(f"second apply: {len(aws.calls())} AWS calls, {len(writes)} writes")
        if writes:
            raise SystemExit(f"demo: a healthy estate must get 0 writes, got {writes}")

        banner("3. The app runs: 5 photos are stored in galerly-photos")
        for item in PHOTOS:
            ddb.put_item(TableName="galerly-photos", Item={k: {"S": v} for k, v in item.items()})
        print(f"galerly-photos holds {ddb.scan(TableName='galerly-photos', Select='COUNT')['Count']} items")

        banner("4. Things go wrong: a table is deleted, backups are switched off, the photos bucket is made public")
        breakage.delete_table(ddb, "galerly-photos")
        print("deleted table galerly-photos (it had point-in-time recovery, so AWS kept its $DeletedTableBackup)")
        breakage.switch_off_pitr(ddb, "galerly-sessions")
        print("switched off point-in-time recovery on galerly-sessions")
        breakage.make_public(s3, "galerly-images-storage")
        print("made galerly-images-storage public: access block off, a public-read statement added")

        banner("5. What would selfheal do? (exit 2: changes pending)")
        selfheal(env, "plan", expect=2)

        banner(f"6. The nightly Lambda run: a restore takes {RESTORE_SECONDS}s here (hours on AWS), "
               f"longer than the function's {LAMBDA_TIMEOUT}s")
        aws.set_clock(restore=RESTORE_SECONDS)
        aws.enforce_iam(TEMPLATE)
        followups.create_group(aws.endpoint)
        lambda_env = {**env, **followups.function_environment(FOLLOWUP_DELAY), "DEMO_DIR": str(Path(demo_dir)),
                      "POWERTOOLS_TRACE_DISABLED": "true", "AWS_REGION": "us-east-1"}
        nightly = json.loads((ROOT / "events" / "scheduled.json").read_text())
        first = lambda_run(lambda_env, nightly, "scheduled event")
        if outcome(first, "galerly-photos") != "restoring" or "followup" not in first:
            raise SystemExit("demo: the nightly run should report galerly-photos restoring and schedule a follow-up")
        creates = [c for c in aws.calls() if c["operation"] == "CreateTable"]
        if creates:
            raise SystemExit(f"demo: a table was created empty while its backup existed: {creates}")
        print("no CreateTable: a table is never created empty while a backup of it exists")

        banner("7. EventBridge Scheduler fires the follow-up; the restored table gets PITR, protection and tags")
        report = first
        while "followup" in report:
            fired = followups.due(aws.endpoint, timeout=120)
            print(f"schedule {fired.name} fired at {fired.at:%H:%M:%S} UTC and was deleted "
                  f"(ActionAfterCompletion {fired.action_after_completion})")
            report = lambda_run(lambda_env, fired.event, f"follow-up {fired.event['detail']['link']}")
        if outcome(report, "galerly-photos") != "restored":
            raise SystemExit("demo: the follow-up should have finished the restore")

        banner("8. The data is back, and everything is in sync")
        items = ddb.scan(TableName="galerly-photos")["Items"]
        print(f"galerly-photos holds {len(items)} items: {', '.join(sorted(i['id']['S'] for i in items))}")
        if len(items) != len(PHOTOS):
            raise SystemExit(f"demo: expected {len(PHOTOS)} photos back, found {len(items)}")
        pitr = ddb.describe_continuous_backups(TableName="galerly-photos")["ContinuousBackupsDescription"]
        print(f"point-in-time recovery: {pitr['PointInTimeRecoveryDescription']['PointInTimeRecoveryStatus']}")
        selfheal(env, "plan", expect=0)

        banner("9. Someone makes the photos bucket public; CloudTrail's record of it reaches the function")
        sns = session.client("sns", endpoint_url=aws.endpoint)
        sqs = session.client("sqs", endpoint_url=aws.endpoint)
        topic = sns.create_topic(Name="selfheal-AlarmTopic-DEMO")["TopicArn"]
        queue = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        breakage.make_public(s3, "galerly-images-storage")
        change = json.loads((ROOT / "events" / "change-bucket-public.json").read_text())
        who = change["detail"]["userIdentity"]["arn"]
        print(f"{who} put a public-read statement on galerly-images-storage and lifted its public access block")
        healed = lambda_run({**lambda_env, "SELFHEAL_TOPIC_ARN": topic}, change, "CloudTrail change event")
        if [(r["name"], r["outcome"]) for r in healed["resources"]] != [("galerly-images-storage", "repaired")]:
            raise SystemExit("demo: the change run should have repaired just the photos bucket")

        banner("10. The message people get (e-mail, Slack or Chime through the alarm topic)")
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if len(got) != 1:
            raise SystemExit(f"demo: expected one message on the alarm topic, got {len(got)}")
        note = json.loads(got[0]["Body"])
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=got[0]["ReceiptHandle"])
        document = json.loads(note["Message"])
        print(f"Subject: {note['Subject']}")
        print(f"Caused by: {document['change']['event']} by {document['change']['caller']}, "
              f"from {document['change']['source_ip']}, at {document['change']['time']}")
        for r in document["resources"]:
            print(f"{r['kind']} {r['name']}: {r['outcome']} — {r['reason']}")
            for c in r["changes"]:
                print(f"  {c['path']}: {c['from']} -> {c['to']}")

        banner(f"11. A cleanup script runs against the wrong bucket: {DELETED} photos deleted in a second")
        files = {f"{prefix}/photo-{n:03d}.jpg": f"photo {n} of {prefix}".encode()
                 for prefix, count in (("wedding-2026", 200), ("portraits", 80), ("thumbs", 20)) for n in range(count)}
        for key, body in files.items():
            s3.put_object(Bucket="galerly-images-storage", Key=key, Body=body, ContentType="image/jpeg")
        print(f"galerly-images-storage holds {len(files)} photos (versioned: a delete leaves a delete marker)")
        # `--to` is a second before the first deletion: the photos must be older than that. The count's windows are
        # fixed (5 minutes from the epoch): the burst starts clear of a window's edge.
        time.sleep(2.0)
        to_edge = 300 - time.time() % 300
        if to_edge < 15:
            time.sleep(to_edge + 1)
        keys = list(files)
        for i in range(0, len(keys), 1000):
            s3.delete_objects(Bucket="galerly-images-storage",
                              Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})
        left = s3.list_objects_v2(Bucket="galerly-images-storage").get("KeyCount", 0)
        print(f"$ aws s3 rm s3://galerly-images-storage --recursive   ->   {left} objects left")

        banner(f"12. S3 tells EventBridge of each deletion; the function counts them (warns past {MASS_DELETE} "
               "within 5 minutes)")
        estate = yaml.safe_load(Path(env["SELFHEAL_ESTATE"]).read_text(encoding="utf-8"))
        photos = next(b for b in estate["buckets"] if b["name"] == "${photos_bucket}")
        photos["mass_delete"] = {"objects": MASS_DELETE, "minutes": 5}  # the shipped estate's default: 1,000
        demo_estate = Path(demo_dir) / "estate.yaml"
        demo_estate.write_text(yaml.safe_dump(estate, sort_keys=False), encoding="utf-8")
        print(f"the demo's estate: the shipped one, its photos bucket declaring mass_delete: {photos['mass_delete']}")
        ddb.create_table(TableName="selfheal-DeletionCounts-DEMO", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "window", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "window", "KeyType": "HASH"}])  # the stack's DeletionCounts
        started = time.monotonic()
        counted = lambda_runs({**lambda_env, "SELFHEAL_TOPIC_ARN": topic, "SELFHEAL_ESTATE": str(demo_estate),
                               "SELFHEAL_DELETIONS_TABLE": "selfheal-DeletionCounts-DEMO"},
                              deletion_events(s3, "galerly-images-storage"), "Object Deleted")
        warned = [n for n, r in enumerate(counted, start=1) if r.get("warned")]
        print(f"{sum(1 for r in counted if r.get('counted'))} deletions counted in "
              f"{time.monotonic() - started:.1f}s; warned once, at deletion {warned}")
        if warned != [MASS_DELETE + 1]:
            raise SystemExit(f"demo: expected one warning, at deletion {MASS_DELETE + 1}, got {warned}")

        banner("13. The warning, as the alarm topic delivers it")
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
        if len(got) != 1:
            raise SystemExit(f"demo: expected one message on the alarm topic, got {len(got)}")
        note = json.loads(got[0]["Body"])
        print(f"Subject: {note['Subject']}\n")
        print(note["Message"])
        commands = [line.split()[1:] for line in note["Message"].splitlines()
                    if line.startswith("    selfheal recover ")]
        if len(commands) != 2 or commands[0][-1] != "--dry-run":
            raise SystemExit(f"demo: the warning should name `selfheal recover ... --dry-run` and the run: {commands}")

        banner("14. The operator runs the commands the message names (their own credentials, not the function's)")
        when = datetime.fromisoformat(commands[1][commands[1].index("--to") + 1].replace("Z", "+00:00"))
        print(f"--to {when:%H:%M:%S} UTC: a second before the first deletion")
        selfheal(env, *commands[0], expect=2, cwd=demo_dir)  # work pending
        selfheal(env, *commands[1], expect=0, cwd=demo_dir)
        back = {k: s3.get_object(Bucket="galerly-images-storage", Key=k)["Body"].read() for k in files}
        print(f"galerly-images-storage holds {len(back)} of the {len(files)} photos again, each as it was")
        if back != files:
            raise SystemExit("demo: the recover should have brought every photo back as it was")
        versions = sum(len(p.get("Versions", [])) for p in
                       s3.get_paginator("list_object_versions").paginate(Bucket="galerly-images-storage"))
        selfheal(env, *commands[1], expect=0, cwd=demo_dir)  # a rerun writes nothing
        if sum(len(p.get("Versions", [])) for p in
               s3.get_paginator("list_object_versions").paginate(Bucket="galerly-images-storage")) != versions:
            raise SystemExit("demo: a rerun of the recover should have written nothing")
    print("\ndemo: done — local AWS stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
