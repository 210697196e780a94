"""AWS Backup: a vault (its lock in governance mode optional), a plan of rules and its selection of the estate's
resources, all of it in this module, as the kind seam asks (selfheal/kinds/base.py).

Created and repaired like any resource; never deleted, nor anything in it: no recovery point, vault, plan, rule or
selection is removed (the function's role has no delete permission for AWS Backup), a retention is never shortened
(a shorter declared one than AWS keeps is a conflict), and a vault locked in compliance mode with other settings than
declared is a conflict, since AWS lets no one change it. A selection cannot be changed in AWS (no update call): a
declared selection that differs from the one there is created beside it, under a name that says what it holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from ..fields import TAGS, Bool, Checker, Int, Listing, Obj, Strings, Text, present, region_field, tag_pairs
from ..model import Change, ResourcePlan, Step
from ..spec import Copy, duration_text, partition_of
from .base import FUNCTION_ROLE, Column, Kind, Permissions, Placed, Routed, allow

# AWS Backup's own limits (API reference: CreateBackupVault, BackupRuleInput, BackupSelection, Lifecycle).
VAULT_NAME = r"[a-zA-Z0-9_-]{2,50}"
RULE_NAME = r"[a-zA-Z0-9._-]{1,50}"
CONTINUOUS_MAX_DAYS = 35  # continuous backups are kept 1-35 days (AWS Backup guide: Changing your retention period)
SELECTION_PREFIX = "selfheal-"
TABLE_NAME = r"[a-zA-Z0-9_.-]{3,255}"
BUCKET_NAME = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"

COPY = Obj("backup_copy", {
    "vault_arn": Text(r"arn:aws[a-z-]*:backup:[a-z0-9-]+:\d{12}:backup-vault:[a-zA-Z0-9_-]{2,50}",
                      "a backup vault ARN", fix="write arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME",
                      description="the vault in another region or account the copy goes to"),
    "retention_days": Int(1, 36500, description="how long the copy is kept; default: the rule's retention"),
}, required=("vault_arn",), description="a copy of each backup to another region or account")
RULE = Obj("backup_rule", {
    "name": Text(RULE_NAME, "a rule name of 1-50 letters, digits, . _ -"),
    "schedule": Text(r"cron\([^()]+\)", "a cron expression", fix="write cron(MIN HOUR DAY MONTH WEEKDAY YEAR), "
                     "e.g. cron(0 2 * * ? *)", description="when backups start, UTC: cron(0 2 * * ? *) is 02:00"),
    "retention_days": Int(1, 36500, description="days each recovery point is kept (Lifecycle DeleteAfterDays); "
                          "selfheal never shortens it"),
    "continuous": Bool(default=False, description="continuous backup (point-in-time restore, 1-35 days) where AWS "
                       "Backup supports it (S3; a DynamoDB table's PITR is the table's own `pitr`)"),
    "copy_to": Listing(COPY),
}, required=("name", "schedule", "retention_days"), description="a backup rule",
    hints={"if": {"properties": {"continuous": {"const": True}}, "required": ["continuous"]},  # checked by `load`
           "then": {"properties": {"retention_days": {"maximum": CONTINUOUS_MAX_DAYS}}}})
LOCK = Obj("backup_vault_lock", {
    "min_retention_days": Int(1, 36500),
    "max_retention_days": Int(1, 36500),
}, description="Vault Lock in governance mode (no ChangeableForDays): recovery points cannot be deleted early")
SELECTION = Obj("backup_selection", {
    "role": Text(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+|\$\{[a-z_][a-z0-9_]*\}", "an IAM role ARN",
                 fix="use the stack's backup role, e.g. ${backup_role}",
                 description="the role AWS Backup assumes to back them up (the stack's BackupRole)"),
    "tables": Strings(Text(TABLE_NAME, "a table name"), description="declared tables, by name"),
    "buckets": Strings(Text(BUCKET_NAME, "a bucket name"), description="declared buckets, by name"),
    "tags": TAGS,
}, required=("role",), description="what the plan backs up: the estate's resources by name or tag",
    hints={"anyOf": [present("tables"), present("buckets"), present("tags")]})  # one at least: checked by `load`
BACKUPS = Obj("backups", {
    "name": Text(VAULT_NAME, "a name of 2-50 letters, digits, _ -",
                 description="the vault's and the plan's name"),
    "region": region_field("AWS region; default: the `region` var"),
    "lock": LOCK,
    "rules": Listing(RULE, description="at least one"),
    "selection": SELECTION,
    "tags": TAGS,
}, required=("name", "rules", "selection"), description="an AWS Backup vault, plan and selection")


@dataclass(frozen=True)
class CopyTo:
    """A copy of each recovery point to another vault, kept retention_days."""

    vault_arn: str
    retention_days: int


@dataclass(frozen=True)
class BackupRule:
    """A declared rule of a backup plan."""

    name: str
    schedule: str
    retention_days: int
    continuous: bool = False
    copy_to: tuple[CopyTo, ...] = ()


@dataclass(frozen=True)
class BackupSpec:
    """A declared AWS Backup plan: its rules, role, vault lock, and the estate's resources it selects."""

    name: str
    region: str
    rules: tuple[BackupRule, ...]
    role: str
    tables: tuple[str, ...] = ()
    buckets: tuple[str, ...] = ()
    selection_tags: tuple[tuple[str, str], ...] = ()
    lock: tuple[int | None, int | None] | None = None  # (min, max) retention days, governance mode
    tags: tuple[tuple[str, str], ...] = ()

    kind = "backup"


@dataclass(frozen=True)
class BackupState:
    """A backup plan, its vault and its selection as AWS Backup describes them."""

    name: str
    exists: bool  # the plan is there (the vault may be, without it)
    vault: Mapping[str, Any] | None = None  # DescribeBackupVault's answer
    plan_id: str | None = None
    plan_arn: str | None = None
    rules: tuple[Mapping[str, Any], ...] = ()  # GetBackupPlan's rules
    selections: tuple[Mapping[str, Any], ...] = ()  # ListBackupSelections' entries

    @property
    def account(self) -> str | None:
        arn = self.plan_arn or (self.vault or {}).get("BackupVaultArn")
        return str(arn).split(":")[4] if arn else None

    @property
    def compliance_locked(self) -> bool:
        # DescribeBackupVault: a LockDate exists only for a lock set with ChangeableForDays (compliance mode).
        return bool(self.vault and self.vault.get("Locked") and self.vault.get("LockDate") is not None)


def rule_input(rule: BackupRule, vault: str) -> dict[str, Any]:
    """A declared rule as AWS Backup's BackupRuleInput."""
    out: dict[str, Any] = {"RuleName": rule.name, "TargetBackupVaultName": vault, "ScheduleExpression": rule.schedule,
                           "Lifecycle": {"DeleteAfterDays": rule.retention_days}}
    if rule.continuous:
        out["EnableContinuousBackup"] = True
    if rule.copy_to:
        out["CopyActions"] = [{"DestinationBackupVaultArn": c.vault_arn, "Lifecycle": {"DeleteAfterDays":
                                                                                         c.retention_days}}
                              for c in rule.copy_to]
    return out


_RULE_INPUT_KEYS = ("RuleName", "TargetBackupVaultName", "ScheduleExpression", "StartWindowMinutes",
                    "CompletionWindowMinutes", "Lifecycle", "RecoveryPointTags", "CopyActions",
                    "EnableContinuousBackup", "ScheduleExpressionTimezone", "IndexActions")


def _as_input(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A rule AWS holds (GetBackupPlan's BackupRule) as the input UpdateBackupPlan takes back unchanged."""
    return {k: rule[k] for k in _RULE_INPUT_KEYS if k in rule}


def _compare(rule: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What of a rule the estate declares, for comparison."""
    if rule is None:
        return None
    return {
        "vault": rule.get("TargetBackupVaultName"),
        "schedule": rule.get("ScheduleExpression"),
        "retention_days": (rule.get("Lifecycle") or {}).get("DeleteAfterDays"),
        "continuous": bool(rule.get("EnableContinuousBackup", False)),
        "copy_to": sorted((c.get("DestinationBackupVaultArn"), (c.get("Lifecycle") or {}).get("DeleteAfterDays"))
                          for c in rule.get("CopyActions") or []),
    }


_DAYS = {name: i + 1 for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
# AWS Backup's documented rpo for a continuous backup is none; a restore is "within 1 second of precision" of any
# point kept. Its newest point is counted as late as PITR's (typically 5 minutes).
CONTINUOUS_LAG = timedelta(minutes=5)


def _values(text: str, low: int, high: int, names: Mapping[str, int] | None = None) -> list[int] | None:
    """The values a cron field takes (None: every value, or one this reading cannot tell)."""
    if text in ("*", "?"):
        return None
    out: set[int] = set()
    try:
        for part in text.upper().split(","):
            body, _, step = part.partition("/")
            first, _, last = body.partition("-")

            def number(word: str) -> int:
                return (names or {}).get(word) or int(word)

            lo = low if first == "*" else number(first)
            hi = (high if step or first == "*" else lo) if not last else number(last)
            out.update(range(lo, hi + 1, int(step or 1)))
    except (ValueError, KeyError):
        return None
    return sorted(out) or None


def _widest(values: list[int], period: int) -> int:
    """The longest gap between consecutive values that repeat every `period` (hours of a day, days of a week)."""
    return max((b - a) % period or period for a, b in zip(values, values[1:] + values[:1], strict=True))


def cron_gap(schedule: str) -> timedelta:
    """The longest time between two backups of an AWS Backup cron(MIN HOUR DOM MONTH DOW YEAR) schedule: what a
    deletion loses at worst with only its copies. Coarse where AWS's cron is rich (L, W, #: counted as monthly)."""
    parts = schedule.strip()[5:-1].split()
    if len(parts) != 6:
        return timedelta(days=31)
    minute, hour, dom, month, dow = parts[:5]
    if month not in ("*", "?") or dom not in ("*", "?"):
        return timedelta(days=31)
    if dow not in ("*", "?"):
        days = _values(dow, 1, 7, _DAYS)
        return timedelta(days=_widest(days, 7) if days else 7)
    hours = _values(hour, 0, 23)
    if hours is not None:
        return timedelta(hours=_widest(hours, 24))
    if hour not in ("*", "?"):
        return timedelta(days=1)
    minutes = _values(minute, 0, 59)
    return timedelta(minutes=_widest(minutes, 60) if minutes else 60)


def _selects(spec: BackupSpec, target: Any) -> bool:
    """Does the selection name this declared resource (by name, or by one of its declared tags: AWS Backup ORs a
    selection's tag conditions)?"""
    named = {"table": spec.tables, "bucket": spec.buckets}.get(getattr(target, "kind", ""), ())
    return getattr(target, "region", spec.region) == spec.region and (
        target.name in named or bool(set(spec.selection_tags) & set(getattr(target, "tags", ()))))


def _shorter(old: int | None, new: int) -> bool:
    """Would `new` days keep recovery points for less time than `old` (None: kept until deleted)?"""
    return old is None or new < old


def resource_arns(spec: BackupSpec, account: str) -> list[str]:
    partition = partition_of(spec.region)
    tables = [f"arn:{partition}:dynamodb:{spec.region}:{account}:table/{t}" for t in spec.tables]
    return tables + [f"arn:{partition}:s3:::{b}" for b in spec.buckets]


def selection_input(spec: BackupSpec, account: str) -> dict[str, Any]:
    """The declared selection as AWS Backup's BackupSelection, named by a digest of what it holds: AWS cannot change
    a selection, so a selection of that name is this one."""
    body: dict[str, Any] = {"IamRoleArn": spec.role, "Resources": resource_arns(spec, account)}
    if spec.selection_tags:
        body["ListOfTags"] = [{"ConditionType": "STRINGEQUALS", "ConditionKey": k, "ConditionValue": v}
                              for k, v in spec.selection_tags]
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    return {"SelectionName": f"{SELECTION_PREFIX}{digest}", **body}


def plan_backups(spec: BackupSpec, state: BackupState) -> ResourcePlan:
    """What differs, what to do (create or repair) and what never to do (delete, shorten, unlock): pure."""
    steps: list[Step] = []
    conflicts: list[str] = []
    notes: list[str] = []
    predicted: list[Change] = []
    region = spec.region
    vault = state.vault
    if vault is None:
        params: dict[str, Any] = {"BackupVaultName": spec.name}
        if spec.tags:
            params["BackupVaultTags"] = dict(spec.tags)
        steps.append(Step("backup", "create_backup_vault", params, (Change("vault", "missing", "created"),), region))
    locked = vault is not None and bool(vault.get("Locked"))
    have_lock = (vault.get("MinRetentionDays"), vault.get("MaxRetentionDays")) if vault and locked else None
    if spec.lock is not None and have_lock != spec.lock:
        if state.compliance_locked:
            conflicts.append(f"vault {spec.name} is locked in compliance mode (retention {_days(have_lock)}), which "
                             f"AWS lets no one change: declare lock {_days(have_lock)} to match it")
        else:
            lock: dict[str, Any] = {"BackupVaultName": spec.name}  # no ChangeableForDays: governance mode
            if spec.lock[0] is not None:
                lock["MinRetentionDays"] = spec.lock[0]
            if spec.lock[1] is not None:
                lock["MaxRetentionDays"] = spec.lock[1]
            steps.append(Step("backup", "put_backup_vault_lock_configuration", lock,
                              (Change("lock", _days(have_lock) if have_lock else None, _days(spec.lock)),), region))
    elif spec.lock is None and have_lock is not None:
        notes.append(f"vault {spec.name} is locked ({_days(have_lock)}) though the estate declares no lock: "
                     "selfheal never removes a lock")
    rule_conflicts: list[str] = []  # a rule that cannot be written as declared: the plan is left as it is
    bounds = spec.lock if spec.lock is not None and not state.compliance_locked else have_lock
    for rule in spec.rules if bounds else ():
        low, high = bounds or (None, None)
        if (low is not None and rule.retention_days < low) or (high is not None and rule.retention_days > high):
            rule_conflicts.append(f"rule {rule.name}: retention {rule.retention_days} days is outside the vault "
                                  f"lock's {_days(bounds)}, so AWS Backup would fail its jobs: declare a retention "
                                  "inside it")

    declared = [rule_input(r, spec.name) for r in spec.rules]
    if rule_conflicts and state.plan_id is None:  # a plan whose jobs AWS Backup would fail is not written
        return ResourcePlan("backup", spec.name, False, tuple(steps), (*conflicts, *rule_conflicts), tuple(notes))
    if state.plan_id is None:
        plan_doc = {"BackupPlanName": spec.name, "Rules": declared}
        params = {"BackupPlan": plan_doc, **({"BackupPlanTags": dict(spec.tags)} if spec.tags else {})}
        steps.append(Step("backup", "create_backup_plan", params, (Change("plan", "missing", "created"),), region))
        predicted.append(Change("selection", "missing", "created"))
        return ResourcePlan("backup", spec.name, False, tuple(steps), tuple(conflicts), tuple(notes),
                            then_reconcile=True, predicted=tuple(predicted))

    existing = {str(r.get("RuleName")): r for r in state.rules}
    changes: list[Change] = []
    for rule, want in zip(spec.rules, declared, strict=True):
        have = existing.get(rule.name)
        old, new = _compare(have), _compare(want)
        if old == new:
            continue
        if have is not None and old is not None and _shorter(old["retention_days"], rule.retention_days):
            rule_conflicts.append(f"rule {rule.name}: retention {rule.retention_days} days is shorter than the "
                                  f"{_kept(old['retention_days'])} AWS Backup keeps now, and selfheal never shortens "
                                  f"a retention: declare {old['retention_days'] or 'no shorter'} days, or shorten it "
                                  "in AWS Backup yourself")
            continue
        kept = {c[0]: c[1] for c in old["copy_to"]} if old else {}
        short = [c for c in rule.copy_to if c.vault_arn in kept and _shorter(kept[c.vault_arn], c.retention_days)]
        if short:
            first = short[0]
            rule_conflicts.append(f"rule {rule.name}: the copy to {first.vault_arn} would be kept "
                                  f"{first.retention_days} days, less than the {_kept(kept[first.vault_arn])} now, and "
                                  "selfheal never shortens a retention: declare no fewer days")
            continue
        changes.append(Change(f"rules.{rule.name}", None if old is None else _brief(old), _brief(new or {})))
    undeclared = [name for name in existing if name not in {r.name for r in spec.rules}]
    if undeclared:
        notes.append(f"plan {spec.name} also has rule(s) {', '.join(undeclared)}, which the estate does not declare: "
                     "kept (selfheal removes no rule)")
    if changes and not rule_conflicts:
        rules = declared + [_as_input(existing[name]) for name in undeclared]
        steps.append(Step("backup", "update_backup_plan",
                          {"BackupPlanId": state.plan_id, "BackupPlan": {"BackupPlanName": spec.name, "Rules": rules}},
                          tuple(changes), region))

    account = state.account
    if account is not None:
        want_sel = selection_input(spec, account)
        names = {str(s.get("SelectionName")) for s in state.selections}
        if want_sel["SelectionName"] not in names:
            others = sorted(n for n in names if n.startswith(SELECTION_PREFIX))
            steps.append(Step("backup", "create_backup_selection",
                              {"BackupPlanId": state.plan_id, "BackupSelection": want_sel},
                              (Change("selection", others[0] if others else None, want_sel["SelectionName"]),),
                              region))
            if others:
                notes.append(f"selection(s) {', '.join(others)} of an earlier estate are kept beside the new one "
                             "(AWS cannot change a selection, and selfheal deletes none)")
    return ResourcePlan("backup", spec.name, True, tuple(steps), (*conflicts, *rule_conflicts), tuple(notes))


def _days(bounds: tuple[int | None, int | None] | None) -> str:
    low, high = bounds or (None, None)
    return f"{low if low is not None else '-'}-{high if high is not None else '-'} days"


def _kept(days: int | None) -> str:
    return "indefinite retention" if days is None else f"{days} days"


def _brief(rule: Mapping[str, Any]) -> str:
    copies = f", copy to {len(rule['copy_to'])}" if rule["copy_to"] else ""
    continuous = ", continuous" if rule["continuous"] else ""
    return f"{rule['schedule']}, {_kept(rule['retention_days'])}{continuous}{copies}"


class BackupKind(Kind[BackupSpec, BackupState]):
    name = "backup"
    section = "backups"
    title = "AWS Backup plans"
    spec_type = BackupSpec
    creates = ("create_backup_vault", "create_backup_plan")
    # Another run created it first (CreateBackupVault, CreateBackupPlan: AlreadyExistsException).
    already_done: ClassVar[Mapping[str, frozenset[str]]] = {
        "create_backup_vault": frozenset({"AlreadyExistsException"}),
        "create_backup_plan": frozenset({"AlreadyExistsException"}),
        "create_backup_selection": frozenset({"AlreadyExistsException"}),
    }
    # A plan just created may not be readable at once (AWS Backup is eventually consistent): "not yet".
    retry_later = frozenset({"ConflictException"})
    columns = (
        Column("lock", "lock"),
        Column("rules", "rules", "names"),
        Column("selection", "selection"),
    )
    fields = BACKUPS
    aspect_labels: ClassVar[Mapping[str, str]] = {"rules": "backup rules"}
    event_sources = ("aws.backup",)
    events = frozenset({
        "DeleteBackupVault", "DeleteBackupPlan", "UpdateBackupPlan", "DeleteBackupSelection",
        "PutBackupVaultLockConfiguration", "DeleteBackupVaultLockConfiguration",
    })

    def load(self, parser: Checker, raw: Any, path: str, region: str) -> BackupSpec:
        if not raw["rules"]:
            parser.fail(f"{path}.rules", "no rule", "declare at least one rule (name, schedule, retention_days)")
        rules = []
        for i, r in enumerate(raw["rules"]):
            where = f"{path}.rules[{i}]"
            continuous = bool(r.get("continuous", False))
            if continuous and int(r["retention_days"]) > CONTINUOUS_MAX_DAYS:
                parser.fail(f"{where}.retention_days", f"continuous backups are kept 1-{CONTINUOUS_MAX_DAYS} days, "
                            f"not {r['retention_days']}", f"declare at most {CONTINUOUS_MAX_DAYS} days, or a second "
                            "rule without `continuous` for longer retention")
            copies = tuple(CopyTo(str(c["vault_arn"]), int(c.get("retention_days", r["retention_days"])))
                           for c in r.get("copy_to") or [])
            rules.append(BackupRule(str(r["name"]), str(r["schedule"]), int(r["retention_days"]), continuous, copies))
        parser.unique([r.name for r in rules], f"{path}.rules", "backup rule")
        lock = None
        if raw.get("lock") is not None:
            low, high = raw["lock"].get("min_retention_days"), raw["lock"].get("max_retention_days")
            if low is None and high is None:
                parser.fail(f"{path}.lock", "a lock needs min_retention_days or max_retention_days",
                            "add one, or drop `lock:`")
            if low is not None and high is not None and low > high:
                parser.fail(f"{path}.lock.min_retention_days", f"{low} is more than max_retention_days {high}",
                            "make the minimum no more than the maximum")
            lock = (low, high)
        sel = raw["selection"]
        if not (sel.get("tables") or sel.get("buckets") or sel.get("tags")):
            parser.fail(f"{path}.selection", "selects nothing", "name tables or buckets, or give tags")
        return BackupSpec(
            name=str(raw["name"]), region=str(raw.get("region", region)), rules=tuple(rules), role=str(sel["role"]),
            tables=tuple(map(str, sel.get("tables") or ())), buckets=tuple(map(str, sel.get("buckets") or ())),
            selection_tags=tag_pairs(sel.get("tags")), lock=lock, tags=tag_pairs(raw.get("tags")),
        )

    def copies(self, spec: BackupSpec, target: Any) -> tuple[Copy, ...]:
        """Each rule's copies of a resource the selection names: as often as its schedule, kept its retention."""
        if target is spec or not _selects(spec, target):
            return ()
        continuous_ok = getattr(target, "kind", "") == "bucket"  # AWS Backup's continuous backup: S3, not DynamoDB
        return tuple(Copy(
            "aws-backup",
            CONTINUOUS_LAG if rule.continuous and continuous_ok else cron_gap(rule.schedule),
            timedelta(days=rule.retention_days),
            f"AWS Backup rule {rule.name} of {spec.name}, every "
            f"{duration_text(CONTINUOUS_LAG if rule.continuous and continuous_ok else cron_gap(rule.schedule))}, "
            f"kept {rule.retention_days} days",
            f"declare retention_days: N or more on rule {rule.name} of backups {spec.name}",
        ) for rule in spec.rules)

    def observe(self, ctx: Any, spec: BackupSpec) -> BackupState:
        client = ctx.clients.client("backup", spec.region)
        try:
            vault = client.describe_backup_vault(BackupVaultName=spec.name)
            vault.pop("ResponseMetadata", None)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            vault = None
        plan = None
        for page in client.get_paginator("list_backup_plans").paginate():
            plan = next((p for p in page.get("BackupPlansList", []) if p.get("BackupPlanName") == spec.name
                         and not p.get("DeletionDate")), plan)
        if plan is None:
            return BackupState(spec.name, False, vault)
        plan_id = str(plan["BackupPlanId"])
        rules = client.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"].get("Rules", [])
        selections = [s for page in client.get_paginator("list_backup_selections").paginate(BackupPlanId=plan_id)
                      for s in page.get("BackupSelectionsList", [])]
        return BackupState(spec.name, True, vault, plan_id, str(plan.get("BackupPlanArn")), tuple(rules),
                           tuple(selections))

    def plan(self, ctx: Any, spec: BackupSpec, state: BackupState) -> ResourcePlan:
        return plan_backups(spec, state)

    def details(self, spec: BackupSpec, state: BackupState | None) -> dict[str, Any]:
        if state is None:
            return {}
        if not state.exists:
            return {"status": "MISSING"}
        vault = state.vault or {}
        mode = "compliance" if state.compliance_locked else "governance"
        lock = f"{mode} {_days((vault.get('MinRetentionDays'), vault.get('MaxRetentionDays')))}" \
            if vault.get("Locked") else "off"
        return {
            "status": "EXISTS",
            "lock": lock,
            "rules": [f"{r.get('RuleName')} {(r.get('Lifecycle') or {}).get('DeleteAfterDays', '∞')}d"
                      for r in state.rules],
            "selection": _count(len(spec.tables) + len(spec.buckets), "resource")
                         + (f" + tags {dict(spec.selection_tags)}" if spec.selection_tags else ""),
        }

    def target(self, step: Step) -> str:
        p = step.params
        name = p.get("BackupVaultName") or (p.get("BackupPlan") or {}).get("BackupPlanName") or p.get("BackupPlanId")
        return f"backup {name or '?'}"

    def permissions(self, resources: Sequence[Placed]) -> Permissions:
        vaults = [f"arn:${{AWS::Partition}}:backup:{r.region}:${{AWS::AccountId}}:backup-vault:{r.name}"
                  for r in resources]
        if not vaults:
            return {}
        regions = sorted({r.region for r in resources})
        return {FUNCTION_ROLE: [
            allow("ListBackupPlansHasNoResourceType", "backup:ListBackupPlans", "*"),
            allow("ObserveCreateAndLockBackupVaults", ["backup:DescribeBackupVault", "backup:CreateBackupVault",
                                                       "backup:PutBackupVaultLockConfiguration"], vaults),
            # A plan's ARN carries its generated id, not its name: plans of this account and the estate's regions.
            allow("ObserveCreateAndRepairBackupPlans", ["backup:GetBackupPlan", "backup:CreateBackupPlan",
                                                        "backup:UpdateBackupPlan", "backup:ListBackupSelections",
                                                        "backup:CreateBackupSelection"],
                  [f"arn:${{AWS::Partition}}:backup:{r}:${{AWS::AccountId}}:backup-plan:*" for r in regions]),
            {**allow("PassOnlyTheBackupRoleToAwsBackup", "iam:PassRole", "${BackupRole.Arn}"),
             "Condition": {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}},
        ]}

    def event_filters(self, resources: Sequence[Placed]) -> list[dict[str, Any]]:
        vaults = [{"prefix": r.prefix} if r.prefix is not None else r.name for r in resources]
        # CloudTrail names a plan by its generated id, which no build can know: any plan's call is looked at.
        return [{"requestParameters": {"backupVaultName": vaults}},
                {"requestParameters": {"backupPlanId": [{"exists": True}]}}] if vaults else []

    def changed(self, event: str, params: Mapping[str, Any], specs: Sequence[BackupSpec]) -> Routed:
        if event not in self.events:
            return None
        vault = params.get("backupVaultName")
        if vault is not None:
            return (str(vault),) if vault in {s.name for s in specs} else \
                f"{event} on vault {vault!r}, which the estate does not declare"
        # CloudTrail names a plan by its id, which the estate does not hold: every declared plan is looked at.
        return tuple(s.name for s in specs) or f"{event}: the estate declares no backup plan"

    def fix(self, code: str, operation: str, exc: BaseException) -> str | None:
        if code == "InvalidParameterValueException" and operation == "create_backup_selection":
            return "check the selection's role ARN (the stack's BackupRole) and the resources' names"
        if code == "InvalidRequestException" and "lock" in operation:
            return "the vault's lock can no longer change (compliance mode): declare the lock it has"
        return None


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
