"""What a bucket holds beyond its declaration, classified: a finding widens access or destroys data; the rest is a
harmless extra, kept and noted. Pure: the planner decides what to do about each (remove it, or a conflict).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..spec import MIN_NONCURRENT_DAYS

WRITE_METHODS = frozenset({"PUT", "POST", "DELETE"})
_ACCOUNT_ARN = re.compile(r"^arn:[a-z-]+:(?:iam|sts)::(\d{12}):")


@dataclass(frozen=True)
class Extra:
    """One undeclared part of a bucket's document: its label (a Sid, a rule id) and, for a finding, what it does."""

    section: str  # policy | cors | lifecycle | website
    label: str
    finding: str | None = None  # None: harmless
    certain: bool = True  # False: it may be this account's own (its id could not be read): never removed for that

    def __str__(self) -> str:
        return f"{self.section} {self.label}: {self.finding}" if self.finding else f"{self.section} {self.label}"


def listed(value: Any) -> list[Any]:
    """A policy field that may be one value or a list, as a list (none: empty)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def principal_accounts(principal: Any) -> tuple[bool, list[str]]:
    """(everyone?, the account of each AWS principal; "?" for one whose account cannot be read off it)."""
    if principal == "*":
        return True, []
    if not isinstance(principal, dict):
        return False, ["?"]
    everyone = False
    accounts: list[str] = []
    for kind, values in principal.items():
        for value in listed(values):
            if value == "*":
                everyone = True
            elif kind == "AWS":
                text = str(value)
                match = _ACCOUNT_ARN.match(text)
                accounts.append(text if text.isdigit() and len(text) == 12 else match.group(1) if match else "?")
            elif kind in ("CanonicalUser", "Federated"):
                accounts.append("?")  # not tied to this account by anything S3 shows
    return everyone, accounts


def policy_statement(stmt: dict[str, Any], account: str | None, public_actions: set[str], narrowed: bool) -> Extra:
    """An undeclared statement. `public_actions`: what the declared statements let everyone do (lower case);
    `narrowed`: whether the statement is public only in name (a condition narrows it to fixed callers)."""
    label = str(stmt.get("Sid") or "(no Sid)")
    if stmt.get("Effect") != "Allow":
        return Extra("policy", label)
    actions = [str(a) for a in listed(stmt.get("Action") or [])]
    what = ", ".join(actions) if actions else f"everything but {', '.join(map(str, listed(stmt.get('NotAction'))))}"
    if stmt.get("NotPrincipal") is not None:
        return Extra("policy", label, f"allows {what} to everyone but named principals")
    everyone, accounts = principal_accounts(stmt.get("Principal"))
    if everyone and not narrowed:
        if actions and all(a.lower() in public_actions for a in actions):
            return Extra("policy", label)  # no more than the declared public read
        return Extra("policy", label, f"allows {what} to anyone (public)")
    if everyone and not (actions and all(_reads(a) for a in actions)) and not _own_only(stmt, account):
        keys = sorted({k for body in (stmt.get("Condition") or {}).values() if isinstance(body, dict) for k in body})
        return Extra("policy", label, f"allows {what} to anyone its condition admits ({', '.join(keys)})")
    others = sorted({a for a in accounts if a != account})
    if others:
        whom = ", ".join("an unidentified principal" if a == "?" else f"account {a}" for a in others)
        if account is None:
            return Extra("policy", label, f"allows {what} to {whom} (this account's id could not be read)", False)
        return Extra("policy", label, f"allows {what} to {whom} (outside this account)")
    return Extra("policy", label)


def _reads(action: str) -> bool:
    """An action that only reads (s3:GetObject, s3:List*): no write, delete or permission change."""
    name = action.split(":", 1)[-1].lower()
    return name.startswith(("get", "list", "head"))


# Condition keys that tie a "*" principal to one account: the statement is this account's own when they name only it.
_ACCOUNT_KEYS = {"aws:principalaccount", "aws:sourceaccount"}


def _own_only(stmt: dict[str, Any], account: str | None) -> bool:
    """Whether a condition limits the statement to this account's own principals."""
    if account is None:
        return False
    for operator, body in (stmt.get("Condition") or {}).items():
        if not str(operator).startswith("StringEquals") or not isinstance(body, dict):
            continue
        for key, values in body.items():
            if str(key).lower() in _ACCOUNT_KEYS and {str(v) for v in listed(values)} == {account}:
                return True
    return False


def cors_rule(rule: dict[str, Any]) -> Extra:
    label = str(rule.get("ID") or "(no ID)")
    origins = [str(o) for o in rule.get("AllowedOrigins") or []]
    writes = sorted(WRITE_METHODS & {str(m).upper() for m in rule.get("AllowedMethods") or []})
    if writes and any("*" in o for o in origins):
        return Extra("cors", label, f"allows {','.join(writes)} from any origin ({', '.join(origins)})")
    return Extra("cors", label)


def lifecycle_rule(rule: dict[str, Any]) -> Extra:
    label = str(rule.get("ID") or "(no ID)")
    if rule.get("Status") != "Enabled":
        return Extra("lifecycle", label)
    expiration = rule.get("Expiration") or {}
    if expiration.get("Days") is not None or expiration.get("Date") is not None:
        days = expiration.get("Days")
        when = f"after {days} day(s)" if days is not None else f"on {expiration['Date']}"
        return Extra("lifecycle", label, f"expires current objects {when} (not declared)")
    noncurrent = (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays")
    if noncurrent is not None and int(noncurrent) < MIN_NONCURRENT_DAYS:
        return Extra("lifecycle", label, f"deletes old versions after {noncurrent} day(s) (under "
                                         f"{MIN_NONCURRENT_DAYS}: not declared)")
    return Extra("lifecycle", label)


def routing_rule(rule: dict[str, Any], index: int) -> Extra:
    host = (rule.get("Redirect") or {}).get("HostName")
    label = f"RoutingRules[{index}]"
    if host:
        return Extra("website", label, f"redirects requests to another host, {host}")
    return Extra("website", label)


def noted(extras: Sequence[Extra]) -> list[str]:
    """The harmless extras, one note per section."""
    by_section: dict[str, list[str]] = {}
    for extra in extras:
        if extra.finding is None:
            by_section.setdefault(extra.section, []).append(extra.label)
    return [f"{section} not declared: {', '.join(labels)} (kept)" for section, labels in by_section.items()]
