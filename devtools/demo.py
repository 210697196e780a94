"""`make demo`: the whole story on a local AWS (a moto server this script starts and stops).

status -> apply on an empty account -> someone deletes a table full of data, switches PITR off and makes the photos
bucket public -> plan -> the nightly Lambda run meets a restore slower than itself, reports it `restoring` and
schedules a follow-up -> Scheduler fires the follow-up -> the data is back, fully configured -> someone makes the
bucket public again, CloudTrail's record of it arrives, the function heals just that bucket and tells people who did
what and what was done.

The CLI steps run the real `selfheal` CLI as a subprocess over HTTP; the Lambda steps run the real handler
(devtools/invoke.py) with the function role's policy enforced by the local AWS, which plays AWS's clock scaled down
(a restore takes RESTORE_SECONDS, not an hour). The demo fails (exit 1) if any step does not end as it should.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools import breakage, followups  # noqa: E402
from devtools.localaws import LocalAws  # noqa: E402

TEMPLATE = ROOT / "template.yaml"
RESTORE_SECONDS = 12  # AWS: 20 minutes to hours
LAMBDA_TIMEOUT = 8  # AWS: up to 900 s; shorter than the restore either way
FOLLOWUP_DELAY = 14  # the template's FollowupDelaySeconds, scaled down like the restore

PHOTOS = [
    {"gallery_id": "wedding-2026", "id": f"photo-{n:03d}", "user_id": "ana@example.com",
     "created_at": f"2026-06-1{n}T10:00:00Z", "key": f"wedding-2026/photo-{n:03d}.jpg"}
    for n in range(1, 6)
]


def banner(text: str) -> None:
    print(f"\n\033[1m=== {text}\033[0m" if sys.stdout.isatty() else f"\n=== {text}", flush=True)


def selfheal(env: dict[str, str], *args: str, expect: int) -> subprocess.CompletedProcess[str]:
    print(f"$ selfheal {' '.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", "selfheal", *args], env=env, text=True, capture_output=True)
    print(done.stdout, end="")
    if done.stderr.strip():
        print(done.stderr, end="", file=sys.stderr)
    print(f"(exit {done.returncode})", flush=True)
    if done.returncode != expect:
        raise SystemExit(f"demo: `selfheal {' '.join(args)}` exited {done.returncode}, expected {expect}")
    return done


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
        document = json.loads(note["Message"])
        print(f"Subject: {note['Subject']}")
        print(f"Caused by: {document['change']['event']} by {document['change']['caller']}, "
              f"from {document['change']['source_ip']}, at {document['change']['time']}")
        for r in document["resources"]:
            print(f"{r['kind']} {r['name']}: {r['outcome']} — {r['reason']}")
            for c in r["changes"]:
                print(f"  {c['path']}: {c['from']} -> {c['to']}")
    print("\ndemo: done — local AWS stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
