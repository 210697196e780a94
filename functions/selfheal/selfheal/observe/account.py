"""Account-wide facts a plan needs: KMS key ARNs, the account's public-access block, and which buckets we own."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from ..aws import AWS_ERRORS, error_code, explain
from ..state.account import AccountFacts, KeyInfo

AWS_MANAGED_DYNAMODB_KEY = "alias/aws/dynamodb"


class KeyResolver:
    """Resolves KMS key ids/aliases to ARNs once per run (DescribeKey), shared by all threads.

    Only answers are cached: the AWS-managed DynamoDB key comes into being on first use, so "not found" is asked again.
    """

    def __init__(self, clients: Any) -> None:
        self._clients = clients
        self._cache: dict[tuple[str, str], KeyInfo] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def resolve(self, key_id: str, region: str) -> KeyInfo:
        with self._lock:
            key_lock = self._locks.setdefault((key_id, region), threading.Lock())
        with key_lock:  # held through the call: one DescribeKey per key however many threads ask for it
            return self._resolve(key_id, region)

    def _resolve(self, key_id: str, region: str) -> KeyInfo:
        if (key_id, region) in self._cache:
            return self._cache[(key_id, region)]
        try:
            meta = self._clients.client("kms", region).describe_key(KeyId=key_id)["KeyMetadata"]
        except ClientError as exc:
            if error_code(exc) == "NotFoundException":
                return KeyInfo(None, False, f"KMS key {key_id} not found in {region}")
            return KeyInfo(None, False, explain(exc, "kms:DescribeKey", key_id))
        usable = meta.get("Enabled", True) and meta.get("KeyState", "Enabled") == "Enabled"
        info = KeyInfo(meta["Arn"], bool(usable), "" if usable else f"KMS key {key_id} is {meta.get('KeyState')}")
        self._cache[(key_id, region)] = info
        return info


def observe_account(clients: Any, needs_public_bucket: bool) -> AccountFacts:
    """The account id, and the account-level public-access block only when some bucket is declared public."""
    try:  # the account id also tells a bucket policy's own principals from others' (and is every S3 call's owner)
        account = clients.account_id()  # asked once a run
    except AWS_ERRORS as exc:
        return AccountFacts(problem=explain(exc, "sts:GetCallerIdentity", "the account"))
    if not needs_public_bucket:
        return AccountFacts(account)
    try:
        cfg = clients.client("s3control").get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return AccountFacts(account, None)
        return AccountFacts(account, None, explain(exc, "s3:GetAccountPublicAccessBlock", f"account {account}"))
    return AccountFacts(
        account,
        {
            "block_public_policy": bool(cfg.get("BlockPublicPolicy")),
            "restrict_public_buckets": bool(cfg.get("RestrictPublicBuckets")),
            "block_public_acls": bool(cfg.get("BlockPublicAcls")),
            "ignore_public_acls": bool(cfg.get("IgnorePublicAcls")),
        },
    )


class OwnedBuckets:
    """The names of the buckets this account owns (ListBuckets), asked at most once a run and only on a 403."""

    def __init__(self, clients: Any) -> None:
        self._clients = clients
        self._names: set[str] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> set[str]:
        with self._lock:
            if self._names is None:
                names: set[str] = set()
                for page in self._clients.client("s3").get_paginator("list_buckets").paginate():
                    names.update(b["Name"] for b in page.get("Buckets", []))
                self._names = names
            return self._names
