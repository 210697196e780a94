"""What goes wrong in the stories the demo, the benchmark and the tests tell, done the way a person would do it.

Plain boto3 calls with the caller's own credentials (never selfheal's clients), so the local AWS records them as
someone else's changes.
"""

from __future__ import annotations

import json
from typing import Any


def delete_table(ddb: Any, table: str) -> None:
    """Lift deletion protection, then delete (with PITR on, AWS keeps `<table>$DeletedTableBackup`)."""
    ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
    ddb.delete_table(TableName=table)


def switch_off_pitr(ddb: Any, table: str) -> None:
    ddb.update_continuous_backups(TableName=table,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})


def make_public(s3: Any, bucket: str) -> None:
    """Lift all four public-access-block flags and add a public-read statement ("Oops") to the bucket's policy."""
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    policy["Statement"].append({"Sid": "Oops", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": f"arn:aws:s3:::{bucket}/*"})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
