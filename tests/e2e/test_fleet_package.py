"""`make fleet-package`: the fleet template's code, and the template, in `<prefix>-<region>` of every region.

Against the local AWS with plain boto3 clients (an operator's tool, not the function's role): both regions hold
every object with the manifest's SHA-256; a second run writes nothing; a bucket that is missing or in another region,
and bad input, stop the run before its first write, with one message per problem naming the region and the fix.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.fleet_package import PackageError, main, package
from devtools.localaws import LocalAws
from tests.support.fleet_build import generate

# Its module-scoped fixture is costly: one worker runs the whole module (make test: --dist loadgroup).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("fleet_package")]

PREFIX = "acme-selfheal-artifacts"
REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/fleet as `make fleet-template` writes it."""
    out = tmp_path_factory.mktemp("fleet-package") / "dist"
    generate(out)
    return out


@pytest.fixture(scope="module")
def expected(dist: Path) -> dict[str, str]:
    """Key -> SHA-256 of every object each artifact bucket must hold (the zips, and the template)."""
    manifest = json.loads((dist / "manifest.json").read_text(encoding="utf-8"))
    keys = {a["key"]: a["sha256"] for a in manifest["artifacts"]}
    keys[f"selfheal/{manifest['template_sha256']}/template.yaml"] = manifest["template_sha256"]
    return keys


def s3_in(aws: LocalAws, region: str) -> Any:
    return boto3.client("s3", region_name=region, endpoint_url=aws.endpoint)


def make_bucket(aws: LocalAws, name: str, region: str) -> None:
    config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3_in(aws, region).create_bucket(Bucket=name, **config)


def held(aws: LocalAws, region: str) -> dict[str, str]:
    """Key -> SHA-256 of the content of every object in <PREFIX>-<region>."""
    s3, bucket = s3_in(aws, region), f"{PREFIX}-{region}"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: hashlib.sha256(s3.get_object(Bucket=bucket, Key=k)["Body"].read()).hexdigest() for k in keys}


def test_every_region_gets_every_artifact_once(aws: LocalAws, dist: Path, expected: dict[str, str]) -> None:
    # GIVEN an artifact bucket in each region
    for region in REGIONS:
        make_bucket(aws, f"{PREFIX}-{region}", region)
    aws.reset_calls()
    # WHEN the package step runs
    first = package(dist, " ".join(REGIONS), PREFIX, endpoint_url=aws.endpoint)
    # THEN each region holds both zips and the template, byte for byte what the manifest names
    for region in REGIONS:
        assert held(aws, region) == expected
    assert len(expected) == 3
    assert sorted(first.uploaded) == sorted((f"{PREFIX}-{r}", k) for r in REGIONS for k in expected)
    assert {(c["operation"], c["name"]) for c in aws.writes()} == {("PutObject", f"{PREFIX}-{r}") for r in REGIONS}
    assert len(aws.writes()) == len(REGIONS) * len(expected)
    template_key = next(k for k in expected if k.endswith("template.yaml"))
    assert first.template_urls == {r: f"https://{PREFIX}-{r}.s3.{r}.amazonaws.com/{template_key}" for r in REGIONS}
    # AND a second run finds everything there and writes nothing
    aws.reset_calls()
    second = package(dist, REGIONS, PREFIX, endpoint_url=aws.endpoint)
    assert second.uploaded == [] and len(second.already_there) == len(REGIONS) * len(expected)
    assert aws.writes() == []


def test_an_object_that_differs_from_the_manifest_is_uploaded_again(
    aws: LocalAws, dist: Path, expected: dict[str, str]
) -> None:
    make_bucket(aws, f"{PREFIX}-us-east-1", "us-east-1")
    zip_key = next(k for k in expected if k.endswith(".zip"))
    s3_in(aws, "us-east-1").put_object(Bucket=f"{PREFIX}-us-east-1", Key=zip_key, Body=b"half an upload")
    aws.reset_calls()
    report = package(dist, "us-east-1", PREFIX, endpoint_url=aws.endpoint)
    assert (f"{PREFIX}-us-east-1", zip_key) in report.uploaded
    assert held(aws, "us-east-1") == expected


def test_a_missing_bucket_or_one_in_another_region_stops_the_run_before_any_write(
    aws: LocalAws, dist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN us-east-1's bucket, eu-west-1's made in eu-central-1 by mistake, and none in ap-southeast-2
    make_bucket(aws, f"{PREFIX}-us-east-1", "us-east-1")
    make_bucket(aws, f"{PREFIX}-eu-west-1", "eu-central-1")
    aws.reset_calls()
    # WHEN the package step runs for the three regions
    with pytest.raises(PackageError) as raised:
        package(dist, "us-east-1 eu-west-1 ap-southeast-2", PREFIX, endpoint_url=aws.endpoint)
    # THEN one problem per region at fault, each naming the bucket, where it is, and the fix; nothing was written
    wrong_region, missing = raised.value.problems
    assert wrong_region.startswith(f"eu-west-1: artifact bucket {PREFIX}-eu-west-1 is in eu-central-1, not eu-west-1")
    assert "create it in eu-west-1" in wrong_region
    assert missing.startswith(f"ap-southeast-2: artifact bucket {PREFIX}-ap-southeast-2 does not exist")
    assert "LocationConstraint=ap-southeast-2" in missing
    assert aws.writes() == []
    assert s3_in(aws, "us-east-1").list_objects_v2(Bucket=f"{PREFIX}-us-east-1").get("KeyCount") == 0
    # AND the command line says the same, exit 1
    argv = ["--dist", str(dist), "--regions", "eu-west-1", "--prefix", PREFIX, "--endpoint-url", aws.endpoint]
    assert main(argv) == 1
    assert "fleet-package: eu-west-1: artifact bucket" in capsys.readouterr().err
    assert aws.writes() == []


@pytest.mark.parametrize(
    ("regions", "prefix", "field"),
    [
        ("", PREFIX, "REGIONS is empty"),
        ("us-east-1 mars", PREFIX, "REGIONS: 'mars' is not a region name"),
        ("us-east-1", "", "ARTIFACT_BUCKET_PREFIX is empty"),
        ("us-east-1", "Acme_Artifacts", "ARTIFACT_BUCKET_PREFIX 'Acme_Artifacts' does not make a valid bucket name"),
        ("ap-southeast-2", "a" * 49, "at most 48 characters"),
    ],
)
def test_bad_input_is_refused_before_any_call(
    aws: LocalAws, dist: Path, regions: str, prefix: str, field: str
) -> None:
    aws.reset_calls()
    with pytest.raises(PackageError) as raised:
        package(dist, regions, prefix, endpoint_url=aws.endpoint)
    assert [p for p in raised.value.problems if field in p], raised.value.problems
    assert aws.calls() == []


def test_a_changed_or_missing_build_is_refused_before_any_call(aws: LocalAws, dist: Path, tmp_path: Path) -> None:
    make_bucket(aws, f"{PREFIX}-us-east-1", "us-east-1")
    aws.reset_calls()
    with pytest.raises(PackageError, match="manifest.json is missing: run `make fleet-template` first"):
        package(tmp_path, "us-east-1", PREFIX, endpoint_url=aws.endpoint)
    changed = tmp_path / "changed"
    changed.mkdir()
    for path in dist.iterdir():
        (changed / path.name).write_bytes(path.read_bytes())
    (changed / "Function.zip").write_bytes(b"not the zip the template names")
    with pytest.raises(PackageError, match="Function.zip does not match .* run `make fleet-template` again"):
        package(changed, "us-east-1", PREFIX, endpoint_url=aws.endpoint)
    assert aws.calls() == []


def squat(aws: LocalAws, bucket: str, region: str = "us-east-1") -> None:
    """Another account of the local AWS takes `bucket` first and opens it to everyone (s3:* to "*")."""
    from devtools.localaws import other_account_session

    other = other_account_session(aws.endpoint, "222222222222", region).client("s3", endpoint_url=aws.endpoint)
    other.create_bucket(Bucket=bucket)
    other.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}))


def test_a_squatted_artifact_bucket_is_refused_and_nothing_is_written(aws: LocalAws, dist: Path) -> None:
    # GIVEN <prefix>-us-east-1 belongs to another account whose policy lets anyone in: without the owner check it
    # answers as if it were ours
    squat(aws, f"{PREFIX}-us-east-1")
    head = s3_in(aws, "us-east-1").head_bucket(Bucket=f"{PREFIX}-us-east-1")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200
    aws.reset_calls()

    with pytest.raises(PackageError) as raised:
        package(dist, "us-east-1", PREFIX, endpoint_url=aws.endpoint)

    (problem,) = raised.value.problems
    assert problem.startswith(f"us-east-1: artifact bucket {PREFIX}-us-east-1 is not this account's")
    assert "choose another ARTIFACT_BUCKET_PREFIX" in problem
    assert aws.writes() == []
