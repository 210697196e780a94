"""Import of S3 buckets: every aspect the estate can declare, read as a plan reads it, declared with the defaults
left out; each bucket's name becomes a var its policy statements follow; what the estate cannot declare
(notifications, replication, logging, Object Lock, rules it cannot say) is a `# found:` note.

The reads it needs beyond the function's role: the kind's `import_permissions`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from ..aws import error_code
from ..loader import parse_estate
from ..observe.account import OwnedBuckets
from ..observe.buckets import ALL_ASPECTS, observe_bucket
from ..plan.buckets import canonical_statement
from ..spec import (
    BPA_FLAGS,
    LIFECYCLE_ACTIONS,
    MIN_NONCURRENT_DAYS,
    POLICY_PRESETS,
    BucketSpec,
    EstateError,
    partition_of,
    preset_statement,
)
from ..state.buckets import BucketState
from . import Entry, ImportProblem, Section, Selection, aws_problem, escape, reserved_tags_note, split_tags

FLAG = "--bucket"
POOL = 8
BUCKET_GONE = "left as it is, and a bucket created again comes back without it"
# A policy statement's elements in the order IAM's documentation writes them.
STATEMENT_ORDER = ("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
                   "Condition")



def import_buckets(clients: Any, selection: Selection, names: Sequence[str]) -> Section:
    """Read the buckets and declare them: entries, and the var each one's name becomes."""
    bucket_vars = variables(names, selection.prefix)
    with ThreadPoolExecutor(POOL) as pool:
        reads = list(pool.map(lambda name: read_bucket(clients, name, selection.region), names))
    entries = [bucket_entry(state, extras, selection.region, bucket_vars[state.name]) for state, extras in reads]
    return Section(entries, variables={var: name for name, var in bucket_vars.items()})



# s3 read -> (error codes meaning "none", the permission it needs)
EXTRAS = {
    "get_bucket_notification_configuration": ((), "s3:GetBucketNotification"),
    "get_bucket_replication": (("ReplicationConfigurationNotFoundError",), "s3:GetReplicationConfiguration"),
    "get_bucket_logging": ((), "s3:GetBucketLogging"),
    "get_object_lock_configuration": (("ObjectLockConfigurationNotFoundError",), "s3:GetBucketObjectLockConfiguration"),
}



def read_bucket(clients: Any, name: str, region: str) -> tuple[BucketState, dict[str, Any]]:
    """Every aspect the estate can declare (observe_bucket), then the settings it cannot, to name them."""
    client = clients.client("s3", region)  # S3 redirects a bucket of another region; HeadBucket tells its region
    try:
        state = observe_bucket(client, BucketSpec(name=name, region=region), OwnedBuckets(clients),
                               aspects=ALL_ASPECTS)
    except ClientError as exc:
        raise ImportProblem(f"{FLAG} {name}", aws_problem(exc), "use credentials that may read it") from None
    if state.foreign:
        raise ImportProblem(f"{FLAG} {name}", "owned by another AWS account", "import only your own buckets")
    if not state.exists:
        raise ImportProblem(f"{FLAG} {name}", "no such bucket", "check the name")
    if state.read_errors:
        aspect, problem = next(iter(state.read_errors.items()))
        raise ImportProblem(f"{FLAG} {name}", f"cannot read its {aspect} ({problem})",
                            "use credentials that may read every bucket setting")
    extras: dict[str, Any] = {}
    for method, (absent, permission) in EXTRAS.items():
        try:
            answer = getattr(client, method)(Bucket=name)
            answer.pop("ResponseMetadata", None)
            extras[method] = answer
        except ClientError as exc:
            extras[method] = None if error_code(exc) in absent else f"could not read ({error_code(exc)}: {permission})"
    return state, extras



def variables(names: Sequence[str], prefix: str | None) -> dict[str, str]:
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
        taken.add(var)
        out[name] = var
    return out



def bucket_entry(state: BucketState, extras: dict[str, Any], region: str, var: str) -> Entry:
    """A bucket as the estate declares it (defaults left out), and what it has that the estate cannot declare."""
    name, a = state.name, state.aspects
    fields: dict[str, Any] = {"name": f"${{{var}}}"}
    found: list[str] = []
    if state.region and state.region != region:
        fields["region"] = state.region

    bpa = a.get("public_access_block")
    if bpa is None:
        found.append("no public access block — declared all four flags off, as they act now (nothing is written); "
                     "turn on what the bucket does not need")
        bpa = dict.fromkeys(BPA_FLAGS, False)
    if not all(bpa.values()):
        fields["public_access_block"] = {flag: False for flag in BPA_FLAGS if not bpa[flag]}
    ownership = a.get("object_ownership")
    if ownership is None:
        found.append("no object ownership controls (ACLs on, as ObjectWriter) — declared ObjectWriter, as it acts "
                     "now (nothing is written); BucketOwnerEnforced disables ACLs")
        ownership = "ObjectWriter"
    if ownership != "BucketOwnerEnforced":
        fields["object_ownership"] = ownership
    fields |= _bucket_encryption(a.get("encryption"), found)
    if a.get("versioning") == "Enabled":
        fields["versioning"] = True
    elif a.get("versioning") == "Suspended":
        found.append("versioning suspended — not declarable (selfheal never suspends versioning): left as it is")
    fields |= _website(a.get("website"), found)
    fields |= _policy(a.get("policy"), name, var, state.region or region, found)
    cors = _cors(a.get("cors") or [], name, state.region or region, found)
    if cors:
        fields["cors"] = cors
    lifecycle = _lifecycle((a.get("lifecycle") or {}).get("rules") or [], found, a.get("versioning") == "Enabled")
    if lifecycle:
        fields["lifecycle"] = lifecycle
    tags, reserved = split_tags((a.get("tags") or {}).items())
    if tags:
        fields["tags"] = tags
    if reserved:
        found.append(reserved_tags_note(reserved))
    notifications = extras.get("get_bucket_notification_configuration")
    to_eventbridge = isinstance(notifications, dict) and "EventBridgeConfiguration" in notifications
    versioned = a.get("versioning") == "Enabled"
    if versioned and isinstance(notifications, dict) and not to_eventbridge:
        fields["mass_delete"] = False  # warning by default needs its deletions in EventBridge: it has none, as found
    found += _bucket_extras(extras, declared_eventbridge=versioned and to_eventbridge)
    return Entry(name, fields, found)



def _bucket_encryption(enc: dict[str, Any] | None, found: list[str]) -> dict[str, Any]:
    if not enc:  # S3 encrypts every new object with SSE-S3 whatever the bucket says (since January 2023)
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
    out: dict[str, Any] = {"index_document": escape((site.get("IndexDocument") or {}).get("Suffix", "index.html"))}
    if (site.get("ErrorDocument") or {}).get("Key"):
        out["error_document"] = escape(site["ErrorDocument"]["Key"])
    if site.get("RoutingRules"):
        found.append(f"{len(site['RoutingRules'])} website routing rule(s) — not declarable: kept when selfheal "
                     "repairs the website, gone from a bucket created again")
        hosts = sorted({str(r["Redirect"]["HostName"]) for r in site["RoutingRules"]
                        if (r.get("Redirect") or {}).get("HostName")})
        if hosts:
            found.append(f"website routing rule(s) redirecting to {', '.join(hosts)} — a finding: apply removes them "
                         "where the bucket's website is exclusive (the default on a public or versioned bucket)")
    return {"website": out}



def _policy(policy: dict[str, Any] | None, bucket: str, var: str, region: str, found: list[str]) -> dict[str, Any]:
    if not policy:
        return {}
    if "_unparsable" in policy:
        found.append(f"a bucket policy that is not JSON — not declared: {BUCKET_GONE}")
        return {}
    partition = partition_of(region)
    statements = policy.get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else statements
    presets = {canonical_statement(preset_statement(p, bucket, partition), partition): p for p in POLICY_PRESETS}
    out: dict[str, Any] = {"presets": [], "statements": []}
    for i, stmt in enumerate(statements):
        canonical = canonical_statement(stmt, partition)
        if canonical in presets:
            out["presets"].append(presets[canonical])
            continue
        why = refused(bucket, region, {"policy": {"statements": [escape(stmt)]}}, "policy.statements[0]")
        if why:
            found.append(f"policy statement {stmt.get('Sid') or f'#{i + 1} (no Sid)'} — not declarable ({why}): "
                         f"{BUCKET_GONE}")
            continue
        ordered = {k: stmt[k] for k in STATEMENT_ORDER if k in stmt}
        out["statements"].append(_bucket_refs(escape(ordered), bucket, var))
    return {"policy": {k: v for k, v in out.items() if v}} if out["presets"] or out["statements"] else {}



def refused(bucket: str, region: str, declared: dict[str, Any], part: str) -> str | None:
    """Why the estate refuses one part of a bucket's declaration (`Sid: missing`), or None if it takes it.

    The loader itself answers, reading a one-bucket estate: the import declares only what a run would accept."""
    doc = {"version": 1, "buckets": [{"name": bucket, "region": region, **declared}]}
    try:
        parse_estate(json.dumps(doc, ensure_ascii=False), source="the imported bucket", env={})
    except EstateError as exc:
        where = f"buckets[0].{part}"
        if exc.path == where:
            return exc.problem
        if exc.path.startswith(f"{where}."):
            return f"{exc.path.removeprefix(f'{where}.')}: {exc.problem}"
    return None  # accepted, or refused for something else (its name): the whole file's check says so



def _bucket_refs(value: Any, bucket: str, var: str) -> Any:
    """The bucket's name in a statement's ARNs as its var, so the statement follows a renamed bucket."""
    if isinstance(value, str):
        return re.sub(rf"(:s3:::){re.escape(bucket)}(?=/|$)", rf"\g<1>${{{var}}}", value)
    if isinstance(value, list):
        return [_bucket_refs(v, bucket, var) for v in value]
    if isinstance(value, dict):
        return {k: _bucket_refs(v, bucket, var) for k, v in value.items()}
    return value



def _cors(rules: list[dict[str, Any]], bucket: str, region: str, found: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
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
        why = refused(bucket, region, {"cors": [escape(declared)]}, "cors[0]")
        if why:
            found.append(f"CORS rule {rule.get('ID') or f'#{i + 1}'} — not declarable ({why}): {BUCKET_GONE}")
            continue
        if declared.get("id") == f"selfheal-{len(out) + 1}":  # the id selfheal gives a rule declared without one
            del declared["id"]
        out.append(escape(declared))
    return out


_LIFECYCLE_KNOWN = {"ID", "Status", "Filter", "Prefix", "AbortIncompleteMultipartUpload", "Expiration",
                    "NoncurrentVersionExpiration"}



def _lifecycle(rules: list[dict[str, Any]], found: list[str], versioned: bool) -> list[dict[str, Any]]:
    out = []
    for i, rule in enumerate(rules):
        why = _lifecycle_undeclarable(rule)
        if why:
            found.append(f"lifecycle rule {rule.get('ID') or f'#{i + 1}'} — not declarable ({why}): kept as it is, "
                         "gone from a bucket created again")
            continue
        declared: dict[str, Any] = {"id": escape(rule["ID"])}
        prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", "")) or ""
        if prefix:
            declared["prefix"] = escape(prefix)
        days = {
            "abort_incomplete_multipart_upload_days": (rule.get("AbortIncompleteMultipartUpload") or {}).get(
                "DaysAfterInitiation"),
            "expiration_days": (rule.get("Expiration") or {}).get("Days"),
            "noncurrent_version_expiration_days": (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"),
        }
        declared |= {k: days[k] for k in LIFECYCLE_ACTIONS if days[k]}
        noncurrent = days["noncurrent_version_expiration_days"]
        if (versioned and days["expiration_days"]) or (noncurrent and noncurrent < MIN_NONCURRENT_DAYS):
            declared["accept_data_loss"] = True  # as it acts now (the estate refuses such a rule without it)
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



def _bucket_extras(extras: dict[str, Any], declared_eventbridge: bool = False) -> list[str]:
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
    if "EventBridgeConfiguration" in notes and not declared_eventbridge:  # a versioned bucket's mass_delete needs it
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


