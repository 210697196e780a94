"""Facts about the account that plans compare with: a KMS key as resolved, the account-level public access block."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyInfo:
    """A KMS key as DescribeKey found it: its ARN, and whether it can encrypt (else the problem)."""

    arn: str | None
    usable: bool
    problem: str = ""


@dataclass(frozen=True)
class AccountFacts:
    """What one run reads about the account once: its id and its S3 public access block."""

    account_id: str | None = None
    public_access_block: dict[str, bool] | None = None  # None: not configured (or not read)
    problem: str = ""


__all__ = ["AccountFacts", "KeyInfo"]
