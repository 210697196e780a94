"""`selfheal import`: the estate file that declares what a live account has, read with the observe code. Reads only.

The file is the shortest that declares it: values equal to the defaults are left out, the settings most tables share
go to `table_defaults`, table names become `${prefix}-...` and bucket names vars. What exists but the estate cannot
declare yet (auto scaling, replicas, notifications, ...) is written as a `# found:` comment on its resource, so the
user sees what selfheal will not keep. The result is checked with the validator before it is written.

It runs with the operator's credentials, never the function's role, and needs some reads that role does not have:
dynamodb:ListTables, application-autoscaling:DescribeScalableTargets, kms:ListAliases, s3:GetBucketNotification,
s3:GetReplicationConfiguration, s3:GetBucketLogging and s3:GetBucketObjectLockConfiguration (besides the reads the
role has: DescribeTable, DescribeContinuousBackups, DescribeTimeToLive, ListTagsOfResource, kms:DescribeKey, the
bucket Get* calls and sts:GetCallerIdentity).
"""

from __future__ import annotations

import datetime
import difflib
import json
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import yaml
from botocore.exceptions import ClientError

from .aws import AWS_ERRORS, error_code, error_message
from .loader import FIELDS, VAR_NAME, EstateParser, parse_estate
from .observe.account import AWS_MANAGED_DYNAMODB_KEY, KeyResolver, OwnedBuckets
from .observe.buckets import ALL_ASPECTS, observe_bucket
from .observe.tables import normalize_table, read_settings
from .plan.buckets import canonical_statement
from .spec import (
    BPA_FLAGS,
    LIFECYCLE_ACTIONS,
    POLICY_PRESETS,
    PROVISIONED,
    BucketSpec,
    EstateError,
    KeyAttr,
    partition_of,
    preset_statement,
)
from .state.buckets import BucketState
from .state.tables import TableState

WIDTH = 118
POOL = 8
TABLE_SETTINGS = ("billing", "encryption", "pitr", "deletion_protection", "ttl", "stream", "tags")
# How a table says "the built-in default" when table_defaults holds something else.
DEFAULT_SPELLING: dict[str, Any] = {
    "billing": "on-demand",
    "encryption": "aws-managed",
    "pitr": True,
    "deletion_protection": True,
    "ttl": False,
    "stream": False,
    "tags": {},
}
TABLE_GONE = "a table restored from a backup or created again comes back without it"
BUCKET_GONE = "left as it is, and a bucket created again comes back without it"


class ImportProblem(Exception):
    """Bad input or an unreadable account: one line naming the flag (or resource) and the fix."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        super().__init__(f"{where}: {problem} — {fix}")


@dataclass(frozen=True)
class Selection:
    region: str
    prefix: str | None = None
    tables: tuple[str, ...] = ()
    buckets: tuple[str, ...] = ()


@dataclass
class Resource:
    """One imported resource: its declaration (estate terms, defaults left out) and what the estate cannot say."""

    name: str
    fields: dict[str, Any]
    found: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # a table's TABLE_SETTINGS, None = the default
    indexes: dict[str, Any] = field(default_factory=dict)  # a table's gsis/lsis, written last


@dataclass(frozen=True)
class Imported:
    text: str
    tables: int
    buckets: int
    found: int


def import_estate(clients: Any, selection: Selection, schema_ref: str, today: datetime.date | None = None) -> Imported:
    """Read the selected tables and buckets and write the estate that declares them (validated)."""
    region = selection.region
    names = _table_names(clients, selection)
    ddb = clients.client("dynamodb", region)
    with ThreadPoolExecutor(POOL) as pool:
        table_reads = list(pool.map(lambda name: _read_table(ddb, name), names))
        bucket_reads = list(pool.map(lambda name: _read_bucket(clients, name, region), selection.buckets))
    keys = _Keys(clients, region)
    scaling = _auto_scaling(clients, region, [s for s, _ in table_reads if s.billing == PROVISIONED])
    account = _account(clients)

    bucket_vars = _bucket_vars(selection.buckets, selection.prefix)
    tables = [_table(state, desc, keys, scaling.get, selection.prefix) for state, desc in table_reads]
    buckets = [_bucket(state, extras, region, bucket_vars[state.name]) for state, extras in bucket_reads]
    if scaling.get("") is not None:  # the read itself failed: say so on every provisioned table
        for t, (state, _) in zip(tables, table_reads, strict=True):
            if state.billing == PROVISIONED:
                t.found.append(scaling[""][0])
    defaults = _table_defaults(tables)

    variables: dict[str, str] = {}
    if selection.prefix:
        variables["prefix"] = selection.prefix
    variables["region"] = region
    variables.update({var: name for name, var in bucket_vars.items()})
    text = _render(schema_ref, account, region, variables, defaults, tables, buckets, today)
    try:
        parse_estate(text, source="the imported estate", env={})
    except EstateError as exc:  # a value AWS allows that the estate cannot carry (e.g. capacity above 40000)
        raise ImportProblem("import", f"the file it would write does not validate ({exc})",
                            "declare that resource by hand, or leave it out of the selection") from None
    return Imported(text, len(tables), len(buckets), sum(len(r.found) for r in tables + buckets))


# ---------------------------------------------------------------------------------------------------------------
# Selection and reads


def _table_names(clients: Any, selection: Selection) -> list[str]:
    if not (selection.prefix or selection.tables):
        return []
    existing: list[str] = []
    for page in clients.client("dynamodb", selection.region).get_paginator("list_tables").paginate():
        existing += page.get("TableNames", [])
    for name in selection.tables:
        if name not in existing:
            close = difflib.get_close_matches(name, existing, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ImportProblem(f"--table {name}", f"no such table in {selection.region}",
                                f"{hint}check the name and --region")
    chosen = list(dict.fromkeys(selection.tables))
    if selection.prefix:
        matched = sorted(n for n in existing if n.startswith(f"{selection.prefix}-"))
        if not matched:
            raise ImportProblem(f"--prefix {selection.prefix}", f"no table named {selection.prefix}-* in "
                                f"{selection.region}", "check the prefix (tables are named <prefix>-...) and --region")
        chosen += [n for n in matched if n not in chosen]
    return sorted(chosen)


def _read_table(client: Any, name: str) -> tuple[TableState, dict[str, Any]]:
    """DescribeTable and the settings it does not carry, normalized exactly as a plan reads them."""
    try:
        desc = client.describe_table(TableName=name)["Table"]
        fields = normalize_table(desc)
        fields.update(read_settings(client, name, fields["arn"]))
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise ImportProblem(f"--table {name}", "deleted while it was being read", "run the import again") from None
        raise ImportProblem(f"table {name}", aws_problem(exc), "use credentials that may read it") from None
    return TableState(name=name, exists=True, **fields), desc


# s3 read -> (error codes meaning "none", the permission it needs)
_BUCKET_EXTRAS = {
    "get_bucket_notification_configuration": ((), "s3:GetBucketNotification"),
    "get_bucket_replication": (("ReplicationConfigurationNotFoundError",), "s3:GetReplicationConfiguration"),
    "get_bucket_logging": ((), "s3:GetBucketLogging"),
    "get_object_lock_configuration": (("ObjectLockConfigurationNotFoundError",), "s3:GetBucketObjectLockConfiguration"),
}


def _read_bucket(clients: Any, name: str, region: str) -> tuple[BucketState, dict[str, Any]]:
    """Every aspect the estate can declare (observe_bucket), then the settings it cannot, to name them."""
    client = clients.client("s3", region)  # S3 redirects a bucket of another region; HeadBucket tells its region
    try:
        state = observe_bucket(client, BucketSpec(name=name, region=region), OwnedBuckets(clients),
                               aspects=ALL_ASPECTS)
    except ClientError as exc:
        raise ImportProblem(f"--bucket {name}", aws_problem(exc), "use credentials that may read it") from None
    if state.foreign:
        raise ImportProblem(f"--bucket {name}", "owned by another AWS account", "import only your own buckets")
    if not state.exists:
        raise ImportProblem(f"--bucket {name}", "no such bucket", "check the name")
    if state.read_errors:
        aspect, problem = next(iter(state.read_errors.items()))
        raise ImportProblem(f"--bucket {name}", f"cannot read its {aspect} ({problem})",
                            "use credentials that may read every bucket setting")
    extras: dict[str, Any] = {}
    for method, (absent, permission) in _BUCKET_EXTRAS.items():
        try:
            answer = getattr(client, method)(Bucket=name)
            answer.pop("ResponseMetadata", None)
            extras[method] = answer
        except ClientError as exc:
            extras[method] = None if error_code(exc) in absent else f"could not read ({error_code(exc)}: {permission})"
    return state, extras


def aws_problem(exc: BaseException) -> str:
    return f"AWS answered {error_code(exc)}: {error_message(exc)}"


class _Keys:
    """KMS keys as an estate names them: the AWS-managed one is the default; a customer key by its alias if it has
    one (kms:ListAliases), else by its ARN."""

    def __init__(self, clients: Any, region: str) -> None:
        self.clients, self.region = clients, region
        self.resolver = KeyResolver(clients)

    def managed_arn(self) -> str | None:
        return self.resolver.resolve(AWS_MANAGED_DYNAMODB_KEY, self.region).arn

    def name(self, arn: str) -> str:
        try:
            aliases: list[str] = []
            for page in self.clients.client("kms", self.region).get_paginator("list_aliases").paginate(KeyId=arn):
                aliases += [a["AliasName"] for a in page.get("Aliases", [])]
        except AWS_ERRORS:
            return arn
        for alias in sorted(a for a in aliases if not a.startswith("alias/aws/")):
            if self.resolver.resolve(alias, self.region).arn == arn:
                return alias
        return arn


def _auto_scaling(clients: Any, region: str, provisioned: list[TableState]) -> dict[str, list[str]]:
    """Application Auto Scaling targets of the provisioned tables and their indexes: resource id -> descriptions.

    Key "" holds the one comment to write when the targets could not be read (no permission)."""
    if not provisioned:
        return {}
    wanted = {f"table/{t.name}" for t in provisioned} | {f"table/{t.name}/index/{g.name}"
                                                          for t in provisioned for g in t.gsis}
    found: dict[str, list[str]] = {}
    try:
        paginator = clients.client("application-autoscaling", region).get_paginator("describe_scalable_targets")
        for page in paginator.paginate(ServiceNamespace="dynamodb"):
            for target in page.get("ScalableTargets", []):
                if target.get("ResourceId") in wanted:
                    what = target.get("ScalableDimension", "").rsplit(":", 1)[-1].replace("CapacityUnits", "")
                    found.setdefault(target["ResourceId"], []).append(
                        f"{what.lower()} {target.get('MinCapacity')}-{target.get('MaxCapacity')}")
    except AWS_ERRORS as exc:
        return {"": [f"# auto scaling not checked ({error_code(exc)}: application-autoscaling:"
                     "DescribeScalableTargets) — declared capacity is kept exactly, so it would undo auto scaling"]}
    return found


def _account(clients: Any) -> str | None:
    try:
        return str(clients.account_id())
    except AWS_ERRORS:
        return None


# ---------------------------------------------------------------------------------------------------------------
# Tables


def _key(key: KeyAttr | None) -> Any:
    if key is None:
        return None
    return _escape(key.name) if key.type == "S" else {"name": _escape(key.name), "type": key.type}


def _projection(ix: Any) -> Any:
    if ix.projection == "INCLUDE":
        return {"include": [_escape(a) for a in ix.non_key_attributes]}
    return None if ix.projection == "ALL" else ix.projection


def _table(state: TableState, desc: dict[str, Any], keys: _Keys, scaling: Callable[[str], list[str] | None],
           prefix: str | None) -> Resource:
    name = state.name
    declared_name = f"${{prefix}}{name[len(prefix):]}" if prefix and name.startswith(f"{prefix}-") else name
    fields: dict[str, Any] = {"name": declared_name, "hash_key": _key(state.hash_key)}
    if state.range_key:
        fields["range_key"] = _key(state.range_key)
    found: list[str] = []
    provisioned = state.billing == PROVISIONED

    gsis = []
    for g in state.gsis:
        gsi: dict[str, Any] = {"name": g.name, "hash_key": _key(g.hash_key)}
        if g.range_key:
            gsi["range_key"] = _key(g.range_key)
        if _projection(g) is not None:
            gsi["projection"] = _projection(g)
        if provisioned:
            gsi |= {k: v for k, v in (("read_capacity", g.read_capacity), ("write_capacity", g.write_capacity))
                    if v not in (None, 1)}  # 1 is the estate's default for an index of a provisioned table
        gsis.append(gsi)
        if g.status != "ACTIVE":
            found.append(f"index {g.name} was {g.status} when imported — declared as it will be")
        if scaling(f"table/{name}/index/{g.name}"):
            found.append(f"auto scaling on index {g.name} ({', '.join(scaling(f'table/{name}/index/{g.name}') or [])})"
                         " — not declared: its capacity is declared as it is now and kept exactly, so selfheal would "
                         "undo auto scaling: remove the scaling targets or declare on-demand billing")
    lsis = []
    for ix in state.lsis:
        lsi: dict[str, Any] = {"name": ix.name, "range_key": _key(ix.range_key)}
        if _projection(ix) is not None:
            lsi["projection"] = _projection(ix)
        lsis.append(lsi)

    settings: dict[str, Any] = dict.fromkeys(TABLE_SETTINGS)
    if provisioned:
        settings["billing"] = {"mode": "provisioned", "read_capacity": state.read_capacity,
                               "write_capacity": state.write_capacity}
        if scaling(f"table/{name}"):
            found.append(f"auto scaling on {', '.join(scaling(f'table/{name}') or [])} — not declared: the "
                         "capacity is declared as it is now and kept exactly, so selfheal would undo auto scaling: "
                         "remove the scaling targets or declare on-demand billing")
    if state.sse_type == "KMS" and state.kms_key_arn:
        if state.kms_key_arn != keys.managed_arn():
            settings["encryption"] = {"kms_key": keys.name(state.kms_key_arn)}
    else:
        found.append("encryption with the AWS-owned key (DynamoDB's default) — not declarable: selfheal will switch "
                     "it to the AWS-managed key alias/aws/dynamodb (or declare encryption: {kms_key: ...})")
    if state.pitr is False:
        settings["pitr"] = False
    elif state.recovery_days not in (None, 35):
        settings["pitr"] = {"recovery_days": state.recovery_days}
    if not state.deletion_protection:
        settings["deletion_protection"] = False
    if state.ttl_status in ("ENABLED", "ENABLING") and state.ttl_attribute:
        settings["ttl"] = _escape(state.ttl_attribute)
    elif state.ttl_status == "DISABLING":
        found.append(f"TTL on {state.ttl_attribute!r} being disabled — not declared")
    if state.stream:
        settings["stream"] = state.stream
    tags, reserved = _tags(state.tags or ())
    if tags:
        settings["tags"] = tags
    if reserved:
        found.append(f"tags {', '.join(reserved)} — AWS-reserved (aws:), not declarable; AWS keeps them")

    replicas = sorted(r.get("RegionName", "?") for r in desc.get("Replicas") or [])
    if replicas:
        found.append(f"global table replicas in {', '.join(replicas)} — not declared: selfheal keeps this region's "
                     f"table only; {TABLE_GONE}")
    table_class = (desc.get("TableClassSummary") or {}).get("TableClass")
    if table_class and table_class != "STANDARD":
        found.append(f"table class {table_class} — not declared: {TABLE_GONE} (STANDARD)")
    limits = {k: v for k, v in (desc.get("OnDemandThroughput") or {}).items() if isinstance(v, int) and v > 0}
    if limits:
        found.append(f"on-demand throughput limits {limits} — not declared: {TABLE_GONE}")
    if state.status not in (None, "ACTIVE"):
        found.append(f"status {state.status} when imported")
    return Resource(name, fields, found, settings, {"gsis": gsis, "lsis": lsis})


def _tags(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    tags: dict[str, str] = {}
    reserved: list[str] = []
    for key, value in sorted(pairs):
        if key.lower().startswith("aws:"):
            reserved.append(key)
        else:
            tags[_escape(key)] = _escape(value)
    return tags, reserved


def _table_defaults(tables: list[Resource]) -> dict[str, Any]:
    """Move to table_defaults each setting shared widely enough that the file gets shorter.

    A table keeps its own value when it differs, and spells the built-in default out when it has that one."""
    defaults: dict[str, Any] = {}
    if len(tables) < 2:
        return defaults
    for setting in TABLE_SETTINGS:
        values = [_canon(t.settings.get(setting)) for t in tables]
        counts = Counter(v for v in values if v != "null")
        if not counts:
            continue
        best, count = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        at_default = values.count("null")
        if count >= 2 and count > at_default + 1:  # saves `count` lines, costs one line plus one per default
            defaults[setting] = json.loads(best)
            for t, v in zip(tables, values, strict=True):
                t.settings[setting] = None if v == best else (t.settings[setting] if v != "null"
                                                             else DEFAULT_SPELLING[setting])
    return defaults


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# ---------------------------------------------------------------------------------------------------------------
# Buckets


def _bucket_vars(names: tuple[str, ...], prefix: str | None) -> dict[str, str]:
    """Each bucket's var: `galerly-frontend-app` -> frontend_app_bucket (with --prefix galerly)."""
    out: dict[str, str] = {}
    taken = {"prefix", "region"}
    for name in names:
        stem = name[len(prefix) + 1:] if prefix and name.startswith(f"{prefix}-") else name
        var = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_") or "bucket"
        if not var.endswith("bucket"):
            var += "_bucket"
        if not re.match(r"[a-z_]", var):
            var = f"bucket_{var}"
        base, n = var, 2
        while var in taken:
            var, n = f"{base}_{n}", n + 1
        assert VAR_NAME.fullmatch(var), var
        taken.add(var)
        out[name] = var
    return out


def _bucket(state: BucketState, extras: dict[str, Any], region: str, var: str) -> Resource:
    name, a = state.name, state.aspects
    fields: dict[str, Any] = {"name": f"${{{var}}}"}
    found: list[str] = []
    if state.region and state.region != region:
        fields["region"] = state.region
    partition = partition_of(state.region or region)

    bpa = a.get("public_access_block")
    if bpa is None:
        found.append("no public access block — declared all four flags off, as they act now (selfheal writes that "
                     "explicitly); turn on what the bucket does not need")
        bpa = dict.fromkeys(BPA_FLAGS, False)
    if not all(bpa.values()):
        fields["public_access_block"] = {flag: False for flag in BPA_FLAGS if not bpa[flag]}
    ownership = a.get("object_ownership")
    if ownership is None:
        found.append("no object ownership controls (ACLs on, as ObjectWriter) — declared ObjectWriter (selfheal "
                     "writes it explicitly)")
        ownership = "ObjectWriter"
    if ownership != "BucketOwnerEnforced":
        fields["object_ownership"] = ownership
    fields |= _bucket_encryption(a.get("encryption"), found)
    if a.get("versioning") == "Enabled":
        fields["versioning"] = True
    elif a.get("versioning") == "Suspended":
        found.append("versioning suspended — not declarable (selfheal never suspends versioning): left as it is")
    fields |= _website(a.get("website"), found)
    fields |= _policy(a.get("policy"), name, var, partition, found)
    cors = _cors(a.get("cors") or [], found)
    if cors:
        fields["cors"] = cors
    lifecycle = _lifecycle((a.get("lifecycle") or {}).get("rules") or [], found)
    if lifecycle:
        fields["lifecycle"] = lifecycle
    tags, reserved = _tags((a.get("tags") or {}).items())
    if tags:
        fields["tags"] = tags
    if reserved:
        found.append(f"tags {', '.join(reserved)} — AWS-reserved (aws:), not declarable; AWS keeps them")
    found += _bucket_extras(extras)
    return Resource(name, fields, found)


def _bucket_encryption(enc: dict[str, Any] | None, found: list[str]) -> dict[str, Any]:
    if not enc:
        found.append("no default encryption — selfheal will set SSE-S3 (the estate's default)")
        return {}
    algorithm = enc.get("algorithm")
    if algorithm == "AES256":
        return {}
    key = enc.get("kms_key")
    if algorithm != "aws:kms":
        found.append(f"encryption {algorithm} — not declarable: declared SSE-KMS with the same key, which selfheal "
                     "will switch it to")
    declared: dict[str, Any] = {"kms_key": "aws-managed" if key in (None, "alias/aws/s3") or str(key).endswith(
        ":alias/aws/s3") else key}
    if not enc.get("bucket_key"):
        declared["bucket_key"] = False
    return {"encryption": declared}


def _website(site: dict[str, Any] | None, found: list[str]) -> dict[str, Any]:
    if not site:
        return {}
    if site.get("RedirectAllRequestsTo"):
        target = site["RedirectAllRequestsTo"].get("HostName")
        found.append(f"website redirecting every request to {target} — not declarable: {BUCKET_GONE}")
        return {}
    out: dict[str, Any] = {"index_document": _escape((site.get("IndexDocument") or {}).get("Suffix", "index.html"))}
    if (site.get("ErrorDocument") or {}).get("Key"):
        out["error_document"] = _escape(site["ErrorDocument"]["Key"])
    if site.get("RoutingRules"):
        found.append(f"{len(site['RoutingRules'])} website routing rule(s) — not declarable: kept when selfheal "
                     "repairs the website, gone from a bucket created again")
    return {"website": out}


def _policy(policy: dict[str, Any] | None, bucket: str, var: str, partition: str, found: list[str]) -> dict[str, Any]:
    if not policy:
        return {}
    if "_unparsable" in policy:
        found.append(f"a bucket policy that is not JSON — not declared: {BUCKET_GONE}")
        return {}
    statements = policy.get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else statements
    presets = {canonical_statement(preset_statement(p, bucket, partition), partition): p for p in POLICY_PRESETS}
    out: dict[str, Any] = {"presets": [], "statements": []}
    checker = EstateParser("the bucket policy")
    for i, stmt in enumerate(statements):
        canonical = canonical_statement(stmt, partition)
        if canonical in presets:
            out["presets"].append(presets[canonical])
            continue
        try:
            checker.statement(stmt, f"Statement[{i}]", bucket, partition)
        except EstateError as exc:
            found.append(f"policy statement {stmt.get('Sid') or f'#{i + 1} (no Sid)'} — not declarable "
                         f"({_why(exc)}): {BUCKET_GONE}")
            continue
        ordered = {k: stmt[k] for k in FIELDS["statement"] if k in stmt}  # Sid, Effect, Principal, Action, ...
        out["statements"].append(_bucket_refs(_escape(ordered), bucket, var))
    return {"policy": {k: v for k, v in out.items() if v}} if out["presets"] or out["statements"] else {}


def _why(exc: EstateError) -> str:
    """What the validator refused, within the statement or rule: `Sid: missing`."""
    where = exc.path.split(".", 1)[1] if "." in exc.path else ""
    return f"{where}: {exc.problem}" if where else exc.problem


def _bucket_refs(value: Any, bucket: str, var: str) -> Any:
    """The bucket's name in a statement's ARNs as its var, so the statement follows a renamed bucket."""
    if isinstance(value, str):
        return re.sub(rf"(:s3:::){re.escape(bucket)}(?=/|$)", rf"\g<1>${{{var}}}", value)
    if isinstance(value, list):
        return [_bucket_refs(v, bucket, var) for v in value]
    if isinstance(value, dict):
        return {k: _bucket_refs(v, bucket, var) for k, v in value.items()}
    return value


def _cors(rules: list[dict[str, Any]], found: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    checker = EstateParser("the CORS rules")
    for i, rule in enumerate(rules):
        declared: dict[str, Any] = {}
        if rule.get("ID"):
            declared["id"] = rule["ID"]
        declared["allowed_origins"] = list(rule.get("AllowedOrigins") or [])
        declared["allowed_methods"] = list(rule.get("AllowedMethods") or [])
        for key, source in (("allowed_headers", "AllowedHeaders"), ("expose_headers", "ExposeHeaders")):
            if rule.get(source):
                declared[key] = list(rule[source])
        if rule.get("MaxAgeSeconds") is not None:
            declared["max_age_seconds"] = rule["MaxAgeSeconds"]
        try:
            checker.cors(declared, f"CORSRules[{i}]")
        except EstateError as exc:
            found.append(f"CORS rule {rule.get('ID') or f'#{i + 1}'} — not declarable ({_why(exc)}): {BUCKET_GONE}")
            continue
        if declared.get("id") == f"selfheal-{len(out) + 1}":  # the id selfheal gives a rule declared without one
            del declared["id"]
        out.append(_escape(declared))
    return out


_LIFECYCLE_KNOWN = {"ID", "Status", "Filter", "Prefix", "AbortIncompleteMultipartUpload", "Expiration",
                    "NoncurrentVersionExpiration"}


def _lifecycle(rules: list[dict[str, Any]], found: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, rule in enumerate(rules):
        why = _lifecycle_undeclarable(rule)
        if why:
            found.append(f"lifecycle rule {rule.get('ID') or f'#{i + 1}'} — not declarable ({why}): kept as it is, "
                         "gone from a bucket created again")
            continue
        declared: dict[str, Any] = {"id": _escape(rule["ID"])}
        prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", "")) or ""
        if prefix:
            declared["prefix"] = _escape(prefix)
        days = {
            "abort_incomplete_multipart_upload_days": (rule.get("AbortIncompleteMultipartUpload") or {}).get(
                "DaysAfterInitiation"),
            "expiration_days": (rule.get("Expiration") or {}).get("Days"),
            "noncurrent_version_expiration_days": (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"),
        }
        declared |= {k: days[k] for k in LIFECYCLE_ACTIONS if days[k]}
        out.append(declared)
    return out


def _lifecycle_undeclarable(rule: dict[str, Any]) -> str:
    if not rule.get("ID"):
        return "no ID"
    if rule.get("Status") != "Enabled":
        return f"status {rule.get('Status')}"
    extra = sorted(k for k in set(rule) - _LIFECYCLE_KNOWN if rule[k] not in (None, [], {}))
    if extra:
        return ", ".join(extra)
    if _set(rule.get("Filter")) - {"Prefix"}:
        return "a filter other than a prefix"
    if _set(rule.get("Expiration")) - {"Days"}:
        return "an expiration other than days"
    if _set(rule.get("NoncurrentVersionExpiration")) - {"NoncurrentDays"}:
        return "a noncurrent expiration other than days"
    if not any((rule.get("AbortIncompleteMultipartUpload") or {}, (rule.get("Expiration") or {}).get("Days"),
                (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"))):
        return "no action the estate knows"
    return ""


def _set(part: dict[str, Any] | None) -> set[str]:
    """The keys of a lifecycle rule's part that carry something."""
    return {k for k, v in (part or {}).items() if v not in (None, False, [], {})}


def _bucket_extras(extras: dict[str, Any]) -> list[str]:
    out = []
    for method, value in extras.items():
        if isinstance(value, str):  # could not be read
            out.append(f"{method.removeprefix('get_').replace('_', ' ')}: {value} — not checked")

    def part(method: str) -> dict[str, Any]:
        value = extras.get(method)
        return value if isinstance(value, dict) else {}

    notes = part("get_bucket_notification_configuration")
    kinds = [f"{len(notes[k])} to {label}" for k, label in (("TopicConfigurations", "SNS"), ("QueueConfigurations",
             "SQS"), ("LambdaFunctionConfigurations", "Lambda")) if notes.get(k)]
    if "EventBridgeConfiguration" in notes:
        kinds.append("EventBridge")
    if kinds:
        out.append(f"event notifications ({', '.join(kinds)}) — not declarable: {BUCKET_GONE}")
    replication = part("get_bucket_replication").get("ReplicationConfiguration")
    if replication:
        out.append(f"replication ({len(replication.get('Rules') or [])} rule(s)) — not declarable: {BUCKET_GONE}")
    logging = part("get_bucket_logging").get("LoggingEnabled")
    if logging:
        out.append(f"server access logging to {logging.get('TargetBucket')}/{logging.get('TargetPrefix', '')} — "
                   f"not declarable: {BUCKET_GONE}")
    lock = part("get_object_lock_configuration").get("ObjectLockConfiguration")
    if lock and lock.get("ObjectLockEnabled") == "Enabled":
        out.append(f"Object Lock — not declarable: {BUCKET_GONE}")
    return out


# ---------------------------------------------------------------------------------------------------------------
# Writing


def _escape(value: Any) -> Any:
    """A literal ${...} found in AWS (an IAM policy variable, say) written as $${...}, so no var replaces it."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, dict):
        return {_escape(k): _escape(v) for k, v in value.items()}
    return value


def _render(schema_ref: str, account: str | None, region: str, variables: dict[str, str],
            defaults: dict[str, Any], tables: list[Resource], buckets: list[Resource],
            today: datetime.date | None) -> str:
    today = today or datetime.date.today()
    found = sum(len(r.found) for r in tables + buckets)
    where = f"account {account}, {region}" if account else region
    lines = [f"# yaml-language-server: $schema={schema_ref}"]
    lines += _comment(f"Imported by `selfheal import` from {where} on {today.isoformat()}: "
                      f"{count(len(tables), 'table')} and {count(len(buckets), 'bucket')}.", 0, hang=False)
    lines += _comment("Values equal to the defaults are left out (docs/estate.md). " + (
        "Lines starting `# found:` mark what exists but the estate cannot declare yet: selfheal will not keep it."
        if found else "Everything found is declared."), 0, hang=False)
    lines += ["version: 1", "", "vars:"]
    lines += _mapping(variables, 2)
    if defaults:
        lines += ["", "table_defaults:"] + _mapping(defaults, 2)
    for title, resources in (("tables", tables), ("buckets", buckets)):
        if not resources:
            continue
        lines += ["", f"{title}:"]
        for i, r in enumerate(resources):
            if i:
                lines.append("")
            for note in r.found:
                lines += _comment(note if note.startswith("# ") else f"found: {note}", 2)
            body = dict(r.fields)
            body |= {k: v for k, v in r.settings.items() if v is not None}
            body |= {k: v for k, v in r.indexes.items() if v}
            item = _mapping(body, 4)
            item[0] = "  - " + item[0][4:]
            lines += item
    return "\n".join(lines) + "\n"


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _comment(text: str, indent: int, hang: bool = True) -> list[str]:
    """A comment wrapped to the width; a `# found:` note's continuation lines indented under it."""
    text = text.removeprefix("# ")
    wrapped = textwrap.wrap(text, width=WIDTH - indent - 4, break_long_words=False, break_on_hyphens=False)
    return [" " * indent + "# " + ("  " if i and hang else "") + w for i, w in enumerate(wrapped)]


def _mapping(value: dict[str, Any], indent: int) -> list[str]:
    lines: list[str] = []
    pad = " " * indent
    for key, val in value.items():
        head = f"{pad}{_scalar(key)}:"
        flow = _flow(val)
        if flow is not None and len(head) + 1 + len(flow) <= WIDTH:
            lines.append(f"{head} {flow}")
        elif isinstance(val, dict):
            lines += [head] + _mapping(val, indent + 2)
        else:
            lines.append(head)
            for item in val:
                lines += _item(item, indent + 2)
    return lines


def _item(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    flow = _flow(value)
    if flow is not None and indent + 2 + len(flow) <= WIDTH:
        return [f"{pad}- {flow}"]
    if isinstance(value, dict) and value:
        lines = _mapping(value, indent + 2)
        lines[0] = f"{pad}- " + lines[0][indent + 2:]
        return lines
    return [f"{pad}- {_flow(value, width=False)}"]


def _flow(value: Any, width: bool = True) -> str | None:
    if isinstance(value, dict):
        text = "{" + ", ".join(f"{_scalar(k, True)}: {_flow(v, False)}" for k, v in value.items()) + "}"
    elif isinstance(value, list):
        text = "[" + ", ".join(str(_flow(v, False)) for v in value) + "]"
    else:
        return _scalar(value, True) if width is False else _scalar(value)
    return text if not width or len(text) <= WIDTH else None


def _scalar(value: Any, flow: bool = False) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    return text if _plain(text, flow) else _quoted(text)


# Escaped, not written raw: what YAML may not carry, and the characters it reads as line breaks (NEL, LS, PS).
_UNPRINTABLE = re.compile("[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: JSON's escapes, and \\u escapes for what YAML may not carry raw."""
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def _plain(text: str, flow: bool) -> bool:
    """Written without quotes only when YAML reads it back as the same string, in block and in flow context."""
    if not text or text != text.strip() or any(c in text for c in "#\n\t\"'\\") or text.startswith(("-", "?", "@")):
        return False
    try:
        document = f"{{k: {text}}}" if flow else f"k: {text}"
        return bool(yaml.safe_load(document) == {"k": text})
    except yaml.YAMLError:
        return False
