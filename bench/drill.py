"""A restore drill's duration on AWS's clock, scaled: `python -m bench.drill [--scale 400] [--delay-ms 50]`.

The local AWS plays a restore in AWS's time divided by --scale (a PITR restore takes "at least 20 minutes no matter
the size of the table", AWS re:Post knowledge center, "Why does my Amazon DynamoDB table restoration take a long
time?"; AWS publishes no figure for an S3 restore from AWS Backup, so it is given the same 20 minutes here) and adds
--delay-ms to every call. The drill (selfheal/drill) runs as the CLI does: a table of 1,000 items restored from PITR,
a bucket of 200 objects from an AWS Backup recovery point, a versioned bucket checked for version coverage. Measured:
the drill's wall time, each restore as the drill timed it, and the drill's own work around the restores (finding the
copies, verifying, removing the scratch copies) — the part that does not scale with AWS's clock.

Writes docs/benchmarks-drill.json and its own section of docs/benchmarks.md (between markers).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from bench import ROOT, write_section  # the benchmark's sandbox: fake credentials, no config files
from devtools.localaws import LocalAws
from selfheal.aws import Clients
from selfheal.drill import run_drill
from selfheal.engine import Engine
from selfheal.loader import load_estate

START, END = "<!-- bench/drill.py: start -->", "<!-- bench/drill.py: end -->"
AWS_RESTORE_S = 20 * 60  # PITR: at least 20 minutes (re:Post, above); an S3 restore is played as long
ITEMS, OBJECTS = 1000, 200
ESTATE = """\
version: 1
settings: {poll_seconds: 0.2}
tables:
  - {name: galerly-photos, hash_key: gallery_id, range_key: id, gsis: [{name: PhotoIdIndex, hash_key: id}]}
buckets:
  - {name: galerly-frontend-app}
  - {name: galerly-images-storage, versioning: true}
"""


def seed(aws: LocalAws, estate: Path) -> None:
    """The estate built, the table and buckets filled, a recovery point of the site bucket: at 0 ms, not measured."""
    report = Engine(load_estate(estate, env={}), Clients(endpoint_url=aws.endpoint)).apply()
    assert report.exit_code == 0, [r.to_dict() for r in report.results]
    ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws.endpoint)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint)
    for i in range(0, ITEMS, 25):
        ddb.batch_write_item(RequestItems={"galerly-photos": [
            {"PutRequest": {"Item": {"gallery_id": {"S": f"g-{n % 9}"}, "id": {"S": f"p-{n:05d}"}}}}
            for n in range(i, i + 25)]})
    for n in range(OBJECTS):
        s3.put_object(Bucket="galerly-frontend-app", Key=f"pages/{n:04d}.html", Body=b"<p>page</p>" * 100)
        s3.put_object(Bucket="galerly-images-storage", Key=f"photos/{n:04d}.jpg", Body=bytes([n % 256]) * 4096)
    time.sleep(1.1)  # LastModified has whole seconds: the copy is made after them
    aws.add_bucket_recovery_point("galerly-frontend-app")


def run(scale: float, delay_ms: float) -> dict[str, Any]:
    started = time.perf_counter()
    restore = AWS_RESTORE_S / scale
    with tempfile.TemporaryDirectory() as tmp, LocalAws() as aws:
        estate = Path(tmp) / "estate.yaml"
        estate.write_text(ESTATE)
        seed(aws, estate)
        aws.set_clock(restore=restore)
        aws.set_delay(delay_ms)
        clients = Clients(session=boto3.Session(region_name="us-east-1"), endpoint_url=aws.endpoint)
        t0 = time.perf_counter()
        report = run_drill(load_estate(estate, env={}), clients,
                           restore_role="arn:aws:iam::123456789012:role/selfheal-DrillRestoreRole-BENCH")
        wall = time.perf_counter() - t0
    results: list[Any] = list(report.results)
    assert report.exit_code == 0, [r.to_dict() for r in results]
    longest = max(r.restore_seconds or 0.0 for r in results)
    return {
        "scale": scale, "delay_ms": delay_ms, "restore_played_s": restore, "items": ITEMS, "objects": OBJECTS,
        "drill_wall_s": round(wall, 2),
        "drill_work_s": round(wall - longest, 2),  # finding copies, verifying, removing: not AWS's clock
        "api_calls": report.api_calls,
        "resources": [{"name": r.name, "copy": r.copy, "restore_s": None if r.restore_seconds is None
                       else round(r.restore_seconds, 2), "verified": r.verified,
                       "duration_s": round(r.duration_s, 2)} for r in results],
        "as_on_aws_min": round((longest * scale) / 60 + (wall - longest) / 60, 1),
        "bench_wall_s": round(time.perf_counter() - started, 1),
    }


def markdown(data: dict[str, Any]) -> str:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    rows = "\n".join(
        f"| {r['name']} | {r['copy']} | {seconds(r['restore_s'])} | {seconds(r['duration_s'])} | "
        f"{'yes' if r['verified'] else 'no'} |" for r in data["resources"])
    return f"""{START}
## Restore drills (`selfheal drill`, bench/drill.py)

AWS's clock scaled down {data['scale']:g}×: a restore takes {data['restore_played_s']:.1f} s here for AWS's 20
minutes (a PITR restore's least, by AWS; an S3 restore from AWS Backup has no published figure and is played as
long), {data['delay_ms']:g} ms added to every call. A table of {data['items']:,} items (PITR), a bucket of
{data['objects']} objects (AWS Backup recovery point), a versioned bucket (version coverage), drilled side by side.

| resource | copy | restore (as timed) | drill of it | verified |
|---|---|---|---|---|
{rows}

The whole drill: **{data['drill_wall_s']:.1f} s**, of which {data['drill_work_s']:.1f} s is the drill's own work
(finding the copies, Scan COUNT of both tables, the 20-object SHA-256 sample, emptying and deleting the scratch
copies) and the rest AWS's restore; {data['api_calls'].get('reads', 0)} reads, {data['api_calls'].get('writes', 0)}
writes. On AWS that is about **{data['as_on_aws_min']:.0f} minutes** for this estate: the restores run side by side,
so the longest one sets the time, and the drill's own work grows with the table (a Scan reads every item) and not
with the number of resources.
{END}
"""


def write(data: dict[str, Any], out: Path) -> None:
    (out / "benchmarks-drill.json").write_text(json.dumps(data, indent=2) + "\n")
    write_section(out / "benchmarks.md", START, END, markdown(data))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=400.0, help="AWS's restore time divided by this (default 400)")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="latency added to every AWS call (default 50)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    data = run(args.scale, args.delay_ms)
    write(data, args.out)
    print(f"drill: {data['drill_wall_s']:.1f}s here, about {data['as_on_aws_min']:.0f} min on AWS; wrote "
          f"{args.out}/benchmarks-drill.json and its section of benchmarks.md in {data['bench_wall_s']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
