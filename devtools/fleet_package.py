"""Upload the fleet template's code to every region's artifact bucket: ``make fleet-package``.

    python devtools/fleet_package.py --regions "us-east-1 eu-west-1" --prefix my-artifacts [--endpoint-url URL]
                                     [--dist dist/fleet]

Reads ``dist/fleet/manifest.json`` (``make fleet-template``) and puts every zip, and the template itself, into
``<prefix>-<region>`` of each region: a Lambda function reads its code only from a bucket in its own region, and a
StackSet deploys the same template everywhere, so every region it deploys to needs its own copy under the same key.
The template goes under ``selfheal/<sha256>/template.yaml``; its URL is what ``create-stack-set --template-url``
takes (the one of the StackSet's own region; a URL lifts the 51,200-byte limit of a template body).

Nothing is written unless everything checks out first (zero writes on bad input): the regions and the prefix are
valid, the manifest's files are there with their recorded SHA-256, and every bucket exists, is this account's and is in
its region: every S3 call carries ExpectedBucketOwner (the caller's account), so a squatted ``<prefix>-<region>``
(another account's bucket under that name, even one whose policy lets us write) is refused, never written.
An object already there with the same size and SHA-256 (``x-amz-meta-sha256``) is not uploaded again; S3 checks
each upload against its SHA-256 (``ChecksumSHA256``). An operator tool: plain boto3 clients, the caller's
credentials.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parents[1]
REGION = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")  # no dots: virtual-hosted HTTPS works for every name
KEY_PREFIX = "selfheal"


class PackageError(Exception):
    """Bad input or a bucket not ready: one message per problem, each naming the field or bucket and the fix."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Upload:
    """One object every artifact bucket must hold."""

    key: str
    path: Path
    sha256: str
    size: int
    content_type: str


@dataclass
class PackageReport:
    uploaded: list[tuple[str, str]] = field(default_factory=list)  # (bucket, key)
    already_there: list[tuple[str, str]] = field(default_factory=list)
    template_urls: dict[str, str] = field(default_factory=dict)  # region -> URL of the template


ClientFactory = Callable[[str], Any]  # region -> an S3 client for it


def parse_regions(text: str | Iterable[str] | None) -> list[str]:
    """Regions separated by spaces or commas, in order, without repeats."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text or [])
    return list(dict.fromkeys(items))


def check_input(regions: list[str], prefix: str | None) -> list[str]:
    """The problems with REGIONS and ARTIFACT_BUCKET_PREFIX, before any call (empty when all is well)."""
    problems = []
    if not regions:
        problems.append('REGIONS is empty: name the regions the StackSet deploys to, e.g. REGIONS="us-east-1 eu-west-1"'
                        )
    for region in regions:
        if not REGION.match(region):
            problems.append(f"REGIONS: {region!r} is not a region name: use names like us-east-1")
    if not prefix:
        problems.append("ARTIFACT_BUCKET_PREFIX is empty: name the prefix of the artifact buckets, e.g. acme-selfheal")
    else:
        longest = max(regions, key=len, default="us-east-1")
        bucket = f"{prefix}-{longest}"
        if not BUCKET.match(bucket):
            problems.append(
                f"ARTIFACT_BUCKET_PREFIX {prefix!r} does not make a valid bucket name ({bucket!r}): use lowercase "
                f"letters, digits and hyphens, at most {62 - len(longest)} characters"
            )
    return problems


def load_uploads(dist: Path) -> list[Upload]:
    """The objects to upload, from the manifest, each file checked against its recorded SHA-256."""
    manifest_path = dist / "manifest.json"
    if not manifest_path.is_file():
        raise PackageError([f"{manifest_path} is missing: run `make fleet-template` first"])
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    entries = [(a["key"], dist / a["file"], a["sha256"], a["size"], "application/zip") for a in manifest["artifacts"]]
    sha = manifest["template_sha256"]
    entries.append((f"{KEY_PREFIX}/{sha}/template.yaml", dist / manifest["template"], sha, manifest["template_size"],
                    "application/x-yaml"))  # fmt: skip
    problems, uploads = [], []
    for key, path, digest, size, content_type in entries:
        if not path.is_file():
            problems.append(f"{path} is missing: run `make fleet-template` again")
            continue
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != digest or path.stat().st_size != size:
            problems.append(f"{path} does not match {manifest_path} (changed since): run `make fleet-template` again")
            continue
        uploads.append(Upload(key, path, digest, size, content_type))
    if problems:
        raise PackageError(problems)
    return uploads


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def check_bucket(s3: Any, bucket: str, region: str) -> str | None:
    """None when `bucket` exists, is ours to write and is in `region`; else the problem and its fix (reads only)."""
    create = (f"aws s3api create-bucket --bucket {bucket} --region {region}"
              + ("" if region == "us-east-1" else f" --create-bucket-configuration LocationConstraint={region}"))
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = _error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return (f"{region}: artifact bucket {bucket} does not exist: create it ({create}) with the read policy "
                    "for the Organization (docs/fleet-template.md)")  # fmt: skip
        if code in ("403", "AccessDenied", "Forbidden"):  # ExpectedBucketOwner: another account's bucket is a 403
            return (f"{region}: artifact bucket {bucket} is not this account's or not readable with these "
                    "credentials: choose another ARTIFACT_BUCKET_PREFIX (bucket names are global), or use credentials "
                    "of the account that owns it")  # fmt: skip
        return f"{region}: artifact bucket {bucket} cannot be checked ({code}: {exc}): try again"
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    location = "eu-west-1" if location == "EU" else location
    if location != region:
        return (f"{region}: artifact bucket {bucket} is in {location}, not {region}; Lambda reads code only from a "
                f"bucket in the function's region: delete or rename it and create it in {region} ({create})")
    return None


def _already_there(s3: Any, bucket: str, upload: Upload) -> bool:
    try:
        head = s3.head_object(Bucket=bucket, Key=upload.key)
    except ClientError as exc:
        if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return bool(head.get("ContentLength") == upload.size and head.get("Metadata", {}).get("sha256") == upload.sha256)


def template_url(bucket: str, region: str, key: str) -> str:
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"  # the China regions' own domain
    return f"https://{bucket}.s3.{region}.{domain}/{key}"


def expect_owner(s3: Any, account: str) -> Any:
    """`s3` with ExpectedBucketOwner=`account` on every call that takes it: S3 answers 403 for a bucket of another
    account, even one whose policy would let us write (every account's StackSet would run code from a squatted
    `<prefix>-<region>`)."""

    def add(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "Bucket" in params and "ExpectedBucketOwner" in model.input_shape.members:
            params.setdefault("ExpectedBucketOwner", account)

    s3.meta.events.register("before-parameter-build.s3", add)
    return s3


def package(
    dist: Path,
    regions: Iterable[str] | str | None,
    prefix: str | None,
    clients: ClientFactory | None = None,
    endpoint_url: str | None = None,
    account: str | None = None,
) -> PackageReport:
    """Upload every artifact and the template to `<prefix>-<region>` of each region; writes only when all checks
    pass. `clients` makes the S3 client of a region (default: boto3's, with `endpoint_url`); `account` owns the
    buckets (default: the caller's, sts:GetCallerIdentity)."""
    wanted = parse_regions(regions)
    problems = check_input(wanted, prefix)
    if problems:
        raise PackageError(problems)
    uploads = load_uploads(dist)
    owner = account or str(boto3.client("sts", region_name=wanted[0], endpoint_url=endpoint_url)
                           .get_caller_identity()["Account"])
    make = clients or (lambda region: boto3.client("s3", region_name=region, endpoint_url=endpoint_url))
    s3_of = {region: expect_owner(make(region), owner) for region in wanted}
    buckets = {region: f"{prefix}-{region}" for region in wanted}
    problems = [p for region in wanted if (p := check_bucket(s3_of[region], buckets[region], region))]
    if problems:
        raise PackageError(problems)
    report = PackageReport()
    for region in wanted:
        s3, bucket = s3_of[region], buckets[region]
        for upload in uploads:
            if _already_there(s3, bucket, upload):
                report.already_there.append((bucket, upload.key))
                continue
            with upload.path.open("rb") as body:
                s3.put_object(
                    Bucket=bucket,
                    Key=upload.key,
                    Body=body,
                    ContentType=upload.content_type,
                    Metadata={"sha256": upload.sha256},
                    ChecksumSHA256=base64.b64encode(bytes.fromhex(upload.sha256)).decode(),
                )
            report.uploaded.append((bucket, upload.key))
        template_key = next(u.key for u in uploads if u.key.endswith("/template.yaml"))
        report.template_urls[region] = template_url(bucket, region, template_key)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--regions", default="", help='regions the StackSet deploys to, e.g. "us-east-1 eu-west-1"')
    parser.add_argument("--prefix", default="", help="artifact buckets are <prefix>-<region>")
    parser.add_argument("--endpoint-url", default=None, help="an S3-compatible endpoint (tests, a local AWS)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist" / "fleet")
    args = parser.parse_args(argv)
    try:
        report = package(args.dist, args.regions, args.prefix, endpoint_url=args.endpoint_url or None)
    except PackageError as exc:
        for problem in exc.problems:
            print(f"fleet-package: {problem}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:
        print(f"fleet-package: {exc}", file=sys.stderr)
        return 1
    for bucket, key in report.uploaded:
        print(f"uploaded   s3://{bucket}/{key}")
    for bucket, key in report.already_there:
        print(f"unchanged  s3://{bucket}/{key}")
    for region, url in report.template_urls.items():
        print(f"template   {region}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
