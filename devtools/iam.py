"""IAM for the local AWS: the template's function role, enforced on every request, as AWS would.

Two uses:

* ``Enforcer`` — built from template.yaml, it answers each request the function role makes (as the recording proxy
  classifies it: service, botocore operation, name, method, path, query, headers, body) with ``None`` (allowed) or
  AWS's AccessDenied message. It checks the operation's own IAM action on the resource(s) AWS authorizes it against,
  **and** the additional actions AWS documents for that operation (``IMPLIED``: a restore needs item read/write on
  the target table, an SSE customer key needs KMS permissions through DynamoDB, passing a role needs iam:PassRole,
  ...), each on its own resource with its own request context. ``access_denied`` builds the HTTP answer AWS gives in
  that service's protocol, so botocore raises the same ``ClientError`` it would against AWS.
* ``allowed`` — does the template allow one call's own action (tests/unit/test_template.py's least-privilege
  checks)? Statements with a Condition never count there (a recorded call carries no context).

What the evaluator does, and where it is deliberately conservative:

* Policies: only the function role's (the role a ``AWS::Serverless::Function``/``AWS::Lambda::Function`` names with
  ``!GetAtt Role.Arn``, its inline ``Policies``, ``AWS::IAM::Policy``/``ManagedPolicy`` resources attached to it, or a
  SAM function's own inline ``Policies``). AWS managed policy ARNs and SAM policy templates are not evaluated (they
  grant nothing here). KMS key policies and grants are not modelled: a KMS permission must come from the template.
* Values: ``!Sub``/``!Ref``/``!GetAtt``/``!Join`` of ``AWS::Region``, ``AWS::AccountId``, ``AWS::Partition``,
  template parameters (given, else their defaults), and of the template's own resources where CloudFormation's answer
  is known from the template (a name property), else a stand-in that matches any name CloudFormation could generate
  (``*LogicalId*``). ``AWS::StackName`` is ``*`` and ``AWS::StackId`` is ``...:stack/*``: any stack of the account.
* Template conditions: its ``Conditions`` are decided with the same parameters, each ``Fn::If`` takes its branch,
  ``AWS::NoValue`` drops what it stands for, and a resource whose ``Condition`` is false is left out (``conditioned``):
  the role is the one CloudFormation would deploy with those parameters. Read without parameters
  (``policy_statements``), both branches of a conditional statement count as granted.
* Evaluation: an explicit Deny wins; otherwise an Allow must match action (case-insensitive wildcards), resource
  (case-sensitive wildcards, ``NotAction``/``NotResource`` honoured) and its Condition.
* Conditions: StringEquals/NotEquals/EqualsIgnoreCase/Like/NotLike, ArnEquals/Like/NotEquals/NotLike, Bool, Null,
  Numeric*, each with ``IfExists`` and ``ForAnyValue:``/``ForAllValues:``. The request context holds the keys the
  enforcer can know (``aws:SecureTransport`` true, ``aws:RequestedRegion``, ``aws:PrincipalAccount``,
  ``aws:PrincipalArn``, ``aws:ResourceAccount`` (S3: ``s3:ResourceAccount`` too, the bucket's owner), and per check
  ``kms:ViaService``, ``kms:CallerAccount``,
  ``iam:PassedToService``, ...). A key set to ``None`` in the context is known to be absent and is evaluated as AWS
  does (no match; ``IfExists`` and negated operators then hold). **A key the context does not hold at all is
  unknown: a statement testing it does not allow, and a Deny testing it applies** — the enforcer never lets a call
  through on a guess. An operator it does not know is unknown in the same way.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from xml.sax.saxutils import escape as _xml_escape

import yaml

DEFAULT_REGION, DEFAULT_ACCOUNT, DEFAULT_PARTITION = "us-east-1", "123456789012", "aws"
DEFAULT_ROLE_NAME, DEFAULT_SESSION_NAME = "selfheal-function", "selfheal"

# --------------------------------------------------------------------------------------------------------------
# Operation -> IAM action, and the resource it is authorized against
# --------------------------------------------------------------------------------------------------------------

# botocore operation -> IAM action, where the action is not simply "<prefix>:<Operation>" (Service Authorization
# Reference, "Actions, resources, and condition keys for Amazon S3").
IAM_ACTION: dict[tuple[str, str], str] = {
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "ListMultipartUploads"): "s3:ListBucketMultipartUploads",
    ("s3", "ListParts"): "s3:ListMultipartUploadParts",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "CopyObject"): "s3:PutObject",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "DeletePublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "DeleteBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetBucketCors"): "s3:GetBucketCORS",
    ("s3", "PutBucketCors"): "s3:PutBucketCORS",
    ("s3", "DeleteBucketCors"): "s3:PutBucketCORS",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "DeleteBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "DeleteBucketTagging"): "s3:PutBucketTagging",
    ("s3", "DeleteBucketOwnershipControls"): "s3:PutBucketOwnershipControls",
    ("s3", "GetBucketNotificationConfiguration"): "s3:GetBucketNotification",
    ("s3", "PutBucketNotificationConfiguration"): "s3:PutBucketNotification",
    ("s3", "GetBucketReplication"): "s3:GetReplicationConfiguration",
    ("s3", "PutBucketReplication"): "s3:PutReplicationConfiguration",
    ("s3", "DeleteBucketReplication"): "s3:PutReplicationConfiguration",
    ("s3", "GetBucketAccelerateConfiguration"): "s3:GetAccelerateConfiguration",
    ("s3", "PutBucketAccelerateConfiguration"): "s3:PutAccelerateConfiguration",
    ("s3", "GetObjectLockConfiguration"): "s3:GetBucketObjectLockConfiguration",
    ("s3", "PutObjectLockConfiguration"): "s3:PutBucketObjectLockConfiguration",
    ("s3", "HeadObject"): "s3:GetObject",
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("lambda", "InvokeAsync"): "lambda:InvokeAsync",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
    ("s3control", "PutPublicAccessBlock"): "s3:PutAccountPublicAccessBlock",
    ("s3control", "DeletePublicAccessBlock"): "s3:PutAccountPublicAccessBlock",
}

# Actions AWS authorizes on no particular resource (no resource type in the Service Authorization Reference): the
# policy must allow them on "*".
ACCOUNT_LEVEL: frozenset[str] = frozenset(
    {
        "dynamodb:ListBackups",
        "dynamodb:ListTables",
        "dynamodb:DescribeLimits",
        "s3:ListAllMyBuckets",
        "s3:GetAccountPublicAccessBlock",
        "s3:PutAccountPublicAccessBlock",
        "sts:GetCallerIdentity",
        "kms:ListKeys",
        "kms:ListAliases",
        "kms:CreateKey",
        "cloudformation:ListStacks",
        "scheduler:ListSchedules",
        "scheduler:ListScheduleGroups",
        "backup:ListRecoveryPointsByResource",  # SAR: no resource type
        "backup:DescribeRestoreJob",  # SAR: no resource type
        "backup:ListRestoreJobs",
        "backup:ListBackupPlans",  # SAR: no resource type
        "backup:ListBackupVaults",
        "sns:ListTopics",
    }
)

# Operations AWS answers without any authorization: GetCallerIdentity "No permissions are required to perform this
# operation. If an administrator attaches a policy to your identity that explicitly denies access to the
# sts:GetCallerIdentity action, you can still perform this operation." (AWS STS API Reference, GetCallerIdentity,
# https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)
NO_AUTHORIZATION: frozenset[tuple[str, str]] = frozenset({("sts", "GetCallerIdentity")})

# SigV4 signing name -> IAM action prefix, where they differ.
_ACTION_PREFIX = {"s3control": "s3", "monitoring": "cloudwatch", "email": "ses"}
# SigV4 signing name -> botocore service name, where they differ.
_BOTOCORE_NAME = {"monitoring": "cloudwatch", "email": "ses", "states": "stepfunctions", "execute-api": "apigateway"}


def iam_action(service: str, operation: str) -> str:
    """The IAM action a botocore operation (`HeadBucket` or boto3's `head_bucket`) needs."""
    operation = _camel(operation)
    prefix = _ACTION_PREFIX.get(service, service)
    return IAM_ACTION.get((service, operation), f"{prefix}:{operation}")


def _camel(operation: str) -> str:
    if "_" in operation or operation[:1].islower():
        return "".join(part[:1].upper() + part[1:] for part in operation.split("_"))
    return operation


def kms_key_arn(key: str, region: str, account: str, partition: str = DEFAULT_PARTITION) -> str:
    """The key ARN a KMS key reference (key id, key ARN, alias name or alias ARN) is authorized against.

    An alias is authorized against the key it names, which the template cannot know: a stand-in key of the account
    (``key/key-behind-alias-NAME``), so ``key/*`` patterns match it and a specific key id does not.
    """
    if key.startswith("arn:"):
        parts = key.split(":", 5)
        if len(parts) == 6 and parts[5].startswith("alias/"):
            region, account, alias = parts[3], parts[4], parts[5]
            return f"arn:{parts[1]}:kms:{region}:{account}:key/key-behind-" + alias.replace("/", "-")
        return key
    if key.startswith("alias/"):
        return f"arn:{partition}:kms:{region}:{account}:key/key-behind-" + key.replace("/", "-")
    return f"arn:{partition}:kms:{region}:{account}:key/{key}"


def is_aws_managed_key(key: str | None) -> bool:
    """``alias/aws/<service>`` (or its alias ARN): an AWS managed key, whose key policy lets the account's
    principals use it through the service — no identity-policy permission needed."""
    if not key:
        return True  # no key named: the service's AWS owned or AWS managed key
    alias = key.split(":", 5)[5] if key.startswith("arn:") and key.count(":") >= 5 else key
    return alias.startswith("alias/aws/")


def resource_arn(
    service: str, resource_name: str, region: str, account: str, partition: str = DEFAULT_PARTITION
) -> str:
    """The ARN a call on `resource_name` (table, bucket, key, topic...) is authorized against ("*" for none)."""
    if not resource_name or resource_name == "*":
        return "*"
    if service == "kms":
        return kms_key_arn(resource_name, region, account, partition)
    if resource_name.startswith("arn:"):
        return resource_name
    if service == "dynamodb":
        return f"arn:{partition}:dynamodb:{region}:{account}:table/{resource_name}"
    if service in ("s3", "s3control"):
        return f"arn:{partition}:s3:::{resource_name}"
    if service == "sns":
        return f"arn:{partition}:sns:{region}:{account}:{resource_name}"
    if service == "cloudformation":
        return f"arn:{partition}:cloudformation:{region}:{account}:stack/{resource_name}/*"
    raise ValueError(f"no ARN rule for service {service!r}: pass a full ARN")


# --------------------------------------------------------------------------------------------------------------
# The template: loading, the function role's statements, resolving intrinsics
# --------------------------------------------------------------------------------------------------------------

_POLICY_HOLDERS = {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::Serverless::Function"}
_FUNCTIONS = {"AWS::Serverless::Function", "AWS::Lambda::Function"}


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # libyaml's: 10x faster
    """A SafeLoader that reads CloudFormation short tags (`!Ref x`, `!Sub s`, `!GetAtt a.b`, ...) as long forms."""


def _cfn_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(cast(yaml.MappingNode, node), deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: str | Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML template, short intrinsic tags included."""
    with open(path, encoding="utf-8") as fh:
        template: dict[str, Any] = yaml.load(fh, Loader=_CfnLoader)  # a SafeLoader subclass
    return template


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _branches(value: Any) -> list[Any]:
    """Every value a template value can take: both branches of an unresolved `Fn::If`, none for `AWS::NoValue`.

    Read without parameters (a static check of the template), a conditional statement counts as granted.
    """
    if value == {"Ref": "AWS::NoValue"}:
        return []
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("Fn::If"), list):
        branches = value["Fn::If"]
        if len(branches) == 3:
            return _branches(branches[1]) + _branches(branches[2])
    return [value]


def _documents(props: Mapping[str, Any]) -> list[Any]:
    docs: list[Any] = []
    if "PolicyDocument" in props:
        docs.extend(_branches(props["PolicyDocument"]))
    policies = props.get("Policies") or []
    for policy in [b for p in as_list(policies) for b in _branches(p)]:
        if isinstance(policy, dict) and "PolicyDocument" in policy:
            docs.append(policy["PolicyDocument"])
        elif isinstance(policy, dict) and "Statement" in policy:
            docs.append(policy)
    return docs


def _statements_of(docs: Iterable[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for doc in docs:
        if isinstance(doc, dict):
            statements = [b for s in as_list(doc.get("Statement") or []) for b in _branches(s)]
            out.extend(s for s in statements if isinstance(s, dict))
    return out


def policy_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every policy statement attached anywhere in the template (roles, policies, SAM function inline policies)."""
    out: list[dict[str, Any]] = []
    for resource in (template.get("Resources") or {}).values():
        if resource.get("Type") in _POLICY_HOLDERS:
            out.extend(_statements_of(_documents(resource.get("Properties") or {})))
    return out


def _logical_id(value: Any) -> str | None:
    """The logical id a `!Ref X` or `!GetAtt X.Arn` names."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        getatt = value.get("Fn::GetAtt")
        if isinstance(getatt, list) and getatt and isinstance(getatt[0], str):
            return getatt[0]
    return None


def function_role_statements(template: dict[str, Any], role: str | None = None) -> list[dict[str, Any]]:
    """The statements of the function role: `role` (a logical id) or the role(s) the template's function(s) name —
    the healer's own (logical id `Function`) where the template has it beside others (the drill's DrillFunction).

    Falls back to every statement of the template when no function role can be found.
    """
    resources = template.get("Resources") or {}
    roles: set[str] = {role} if role else set()
    out: list[dict[str, Any]] = []
    if not role:
        for rid_of_function, resource in resources.items():
            if resource.get("Type") not in _FUNCTIONS or ("Function" in resources and rid_of_function != "Function"):
                continue
            props = resource.get("Properties") or {}
            rid = _logical_id(props.get("Role"))
            if rid and rid in resources:
                roles.add(rid)
            elif resource["Type"] == "AWS::Serverless::Function" and "Role" not in props:
                out.extend(_statements_of(_documents(props)))  # SAM makes a role from the function's Policies
    if not roles and not out:
        return policy_statements(template)
    for rid in sorted(roles):
        props = (resources.get(rid) or {}).get("Properties") or {}
        out.extend(_statements_of(_documents(props)))
        for ref in as_list(props.get("ManagedPolicyArns") or []):
            managed = resources.get(_logical_id(ref) or "")
            if managed and managed.get("Type") == "AWS::IAM::ManagedPolicy":
                out.extend(_statements_of(_documents(managed.get("Properties") or {})))
    for resource in resources.values():
        if resource.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            props = resource.get("Properties") or {}
            if any(_logical_id(r) in roles for r in as_list(props.get("Roles") or [])):
                out.extend(_statements_of(_documents(props)))
    return out


def template_variables(
    template: dict[str, Any],
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    partition: str = DEFAULT_PARTITION,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Pseudo parameters and template parameters (given values, else defaults) as `!Sub`/`!Ref` see them."""
    variables = {
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": partition,
        "AWS::URLSuffix": "amazonaws.com",
        # the stack's name and id are only known once deployed: any stack of this account and region stands for it
        "AWS::StackName": "*",
        "AWS::StackId": f"arn:{partition}:cloudformation:{region}:{account}:stack/*",
    }
    for name, spec in (template.get("Parameters") or {}).items():
        if isinstance(spec, dict) and "Default" in spec:
            default = spec["Default"]
            variables[name] = ",".join(map(str, default)) if isinstance(default, list) else str(default)
    variables.update({k: str(v) for k, v in (parameters or {}).items()})
    return variables


class ConditionError(ValueError):
    """A template condition the given parameters cannot decide."""


def evaluate_conditions(template: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, bool]:
    """The template's Conditions, each decided with `variables` (template_variables: parameters and pseudo ones)."""
    definitions: Mapping[str, Any] = template.get("Conditions") or {}
    resolver = Resolver({}, variables)
    decided: dict[str, bool] = {}

    def decide_one(expr: Any, seen: tuple[str, ...]) -> bool:
        if not isinstance(expr, dict) or len(expr) != 1:
            raise ConditionError(f"condition {expr!r} is not a condition function")
        ((fn, arg),) = expr.items()
        if fn == "Condition":
            return named(str(arg), seen)
        if fn == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
            left, right = resolver(arg[0]), resolver(arg[1])
            if left is None or right is None:
                raise ConditionError(f"Fn::Equals {arg!r} cannot be decided from the parameters")
            return left == right
        if fn == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
            return not decide_one(arg[0], seen)
        if fn == "Fn::And" and isinstance(arg, list):
            return all(decide_one(a, seen) for a in arg)
        if fn == "Fn::Or" and isinstance(arg, list):
            return any(decide_one(a, seen) for a in arg)
        raise ConditionError(f"condition function {fn} is not known here")

    def named(name: str, seen: tuple[str, ...]) -> bool:
        if name in decided:
            return decided[name]
        if name not in definitions or name in seen:
            raise ConditionError(f"condition {name!r} is not defined (or refers to itself)")
        decided[name] = decide_one(definitions[name], (*seen, name))
        return decided[name]

    for name in definitions:
        named(name, ())
    return decided


_NO_VALUE = object()


def _choose(value: Any, conditions: Mapping[str, bool]) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("Fn::If"), list) and len(value["Fn::If"]) == 3:
            name, when_true, when_false = value["Fn::If"]
            if name not in conditions:
                raise ConditionError(f"Fn::If names condition {name!r}, which the template does not define")
            return _choose(when_true if conditions[name] else when_false, conditions)
        if value == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        out = {k: _choose(v, conditions) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}
    if isinstance(value, list):
        return [c for c in (_choose(v, conditions) for v in value) if c is not _NO_VALUE]
    return value


def conditioned(template: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    """The template as CloudFormation deploys it with these parameters: each `Fn::If` replaced by its branch,
    `AWS::NoValue` removed, and the resources whose Condition is false left out."""
    conditions = evaluate_conditions(template, variables)
    resources = {
        name: _choose(resource, conditions)
        for name, resource in (template.get("Resources") or {}).items()
        if not (isinstance(resource, dict) and "Condition" in resource) or conditions.get(resource["Condition"])
    }
    return {**template, "Resources": resources}


_NAME_PROPERTY = {
    "AWS::IAM::Role": "RoleName",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::KMS::Alias": "AliasName",
}


class Resolver:
    """Turns template values into plain strings (patterns), or None when the template alone cannot tell."""

    def __init__(self, template: dict[str, Any], variables: Mapping[str, str]) -> None:
        self.resources: dict[str, Any] = template.get("Resources") or {}
        self.variables = dict(variables)
        self.region = self.variables.get("AWS::Region", DEFAULT_REGION)
        self.account = self.variables.get("AWS::AccountId", DEFAULT_ACCOUNT)
        self.partition = self.variables.get("AWS::Partition", DEFAULT_PARTITION)
        self._depth = 0

    def __call__(self, value: Any) -> str | None:
        if self._depth > 20:  # a reference cycle in a broken template
            return None
        self._depth += 1
        try:
            return self._resolve(value)
        finally:
            self._depth -= 1

    def _resolve(self, value: Any) -> str | None:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        if not isinstance(value, dict) or len(value) != 1:
            return None
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return self._ref(arg)
        if fn == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else arg
            return self._getatt(parts[0], parts[1]) if isinstance(parts, list) and len(parts) == 2 else None
        if fn == "Fn::Sub":
            return self._sub(arg)
        if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            parts = [self(p) for p in as_list(arg[1])] if not isinstance(arg[1], dict) else [self(arg[1])]
            return None if any(p is None for p in parts) else str(arg[0]).join(p for p in parts if p is not None)
        return None  # Fn::Select, Fn::ImportValue... (Fn::If is decided before, by `conditioned`)

    def _sub(self, arg: Any) -> str | None:
        body, extra = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
        if not isinstance(body, str):
            return None
        names: dict[str, str] = {}
        for key, sub in (extra or {}).items():
            resolved = self(sub)
            if resolved is None:
                return None
            names[key] = resolved
        missing = False

        def replace(match: re.Match[str]) -> str:
            nonlocal missing
            name = match.group(1)
            if name in names:
                return names[name]
            if "." in name:
                logical, attr = name.split(".", 1)
                got = self._getatt(logical, attr)
            else:
                got = self._ref(name)
            if got is None:
                missing = True
                return ""
            return got

        out = re.sub(r"\$\{([^}!]+)\}", replace, body)
        return None if missing else out.replace("${!", "${")

    def _name(self, logical: str) -> str | None:
        resource = self.resources.get(logical) or {}
        prop = _NAME_PROPERTY.get(resource.get("Type", ""))
        props = resource.get("Properties") or {}
        if prop and prop in props:
            return self(props[prop])
        return f"*{logical}*"  # a name CloudFormation generates: <stack>-<LogicalId>-<suffix>

    def _ref(self, name: Any) -> str | None:
        if not isinstance(name, str):
            return None
        if name in self.variables:
            return self.variables[name]
        resource = self.resources.get(name)
        if resource is None:
            return None
        kind = resource.get("Type", "")
        if kind == "AWS::SNS::Topic":
            return self._getatt(name, "TopicArn")
        if kind in _NAME_PROPERTY:
            return self._name(name)
        return None

    def _getatt(self, logical: str, attr: str) -> str | None:
        resource = self.resources.get(logical)
        if resource is None:
            return None
        kind = resource.get("Type", "")
        p, r, a = self.partition, self.region, self.account
        name = self._name(logical)
        if name is None:
            return None
        if kind == "AWS::IAM::Role" and attr == "Arn":
            path = self((resource.get("Properties") or {}).get("Path", "/")) or "/"
            return f"arn:{p}:iam::{a}:role{path}{name}"
        if kind == "AWS::Logs::LogGroup" and attr == "Arn":
            return f"arn:{p}:logs:{r}:{a}:log-group:{name}:*"
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function") and attr == "Arn":
            return f"arn:{p}:lambda:{r}:{a}:function:{name}"
        if kind == "AWS::Scheduler::ScheduleGroup" and attr == "Arn":
            return f"arn:{p}:scheduler:{r}:{a}:schedule-group/{name}"
        if kind == "AWS::SNS::Topic" and attr in ("TopicArn", "Arn"):
            return f"arn:{p}:sns:{r}:{a}:{name}"
        if kind == "AWS::DynamoDB::Table" and attr == "Arn":
            return f"arn:{p}:dynamodb:{r}:{a}:table/{name}"
        if kind == "AWS::S3::Bucket" and attr == "Arn":
            return f"arn:{p}:s3:::{name}"
        return None


def resolve(value: Any, variables: dict[str, str]) -> str | None:
    """A value as a plain string pattern, or None when it cannot be resolved from `variables` alone."""
    return Resolver({}, variables)(value)


# --------------------------------------------------------------------------------------------------------------
# Policy evaluation
# --------------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM wildcards: `*` any run of characters, `?` one character; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return bool(_glob(pattern, ignore_case).match(value))


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike/ArnEquals: the six ARN fields matched one by one, each with wildcards."""
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return _like(pattern, value)
    return all(_like(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _numeric(op: str, have: Any, want: Any) -> bool | None:
    h, w = _number(have), _number(want)
    if h is None or w is None:
        return False
    return {
        "NumericEquals": h == w,
        "NumericNotEquals": h != w,
        "NumericLessThan": h < w,
        "NumericLessThanEquals": h <= w,
        "NumericGreaterThan": h > w,
        "NumericGreaterThanEquals": h >= w,
    }.get(op)


_POSITIVE: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda have, want: have == want,
    "StringEqualsIgnoreCase": lambda have, want: have.casefold() == want.casefold(),
    "StringLike": lambda have, want: _like(want, have),
    "ArnEquals": lambda have, want: _arn_like(want, have),
    "ArnLike": lambda have, want: _arn_like(want, have),
    "Bool": lambda have, want: have.lower() == want.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
_NUMERIC = {
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
}
UNKNOWN = None  # a condition that cannot be decided from the request context


def _as_str(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def evaluate_condition(condition: Mapping[str, Any] | None, context: Mapping[str, Any]) -> bool | None:
    """True, False, or None (UNKNOWN) for a statement's Condition block against a request context.

    `context` maps condition keys (case-insensitive) to a string, a list of strings (multivalued keys), or None
    (known to be absent). A key missing from `context` altogether makes its test UNKNOWN.
    """
    if not condition:
        return True
    ctx = {k.lower(): v for k, v in context.items()}
    result: bool | None = True
    for operator, tests in condition.items():
        if not isinstance(tests, Mapping):
            return UNKNOWN
        for key, wanted in tests.items():
            outcome = _evaluate_test(str(operator), str(key), as_list(wanted), ctx)
            if outcome is False:
                return False
            if outcome is UNKNOWN:
                result = UNKNOWN
    return result


def _evaluate_test(operator: str, key: str, wanted: list[Any], ctx: Mapping[str, Any]) -> bool | None:
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
        if qualifier not in ("ForAnyValue", "ForAllValues"):
            return UNKNOWN
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    if key.lower() not in ctx:
        return UNKNOWN  # the enforcer cannot know this key: never decide on a guess
    have = ctx[key.lower()]
    wanted_values = [w for w in wanted if w is not None]
    if base == "Null":
        want_absent = _as_str(wanted_values[0]).lower() == "true" if wanted_values else True
        return (have is None) == want_absent
    negated = base in _NEGATED
    if base not in _POSITIVE and base not in _NEGATED and base not in _NUMERIC:
        return UNKNOWN
    if have is None:  # known to be absent: no value matches
        if if_exists or qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return negated or base == "NumericNotEquals"
    values = [_as_str(v) for v in as_list(have)]
    wants = [_as_str(w) for w in wanted_values]

    def matches(value: str) -> bool:
        if base in _NUMERIC:
            return any(bool(_numeric(base, value, w)) for w in wants)
        positive = _POSITIVE[_NEGATED.get(base, base)]
        hit = any(positive(value, w) for w in wants)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(matches(v) for v in values)
    return any(matches(v) for v in values)


@dataclass(frozen=True)
class Statement:
    """One policy statement with its values resolved (None where the template alone cannot tell)."""

    effect: str
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str | None, ...] | None
    not_resources: tuple[str | None, ...] | None
    condition: Mapping[str, Mapping[str, list[Any]]] | None
    sid: str = ""

    @classmethod
    def parse(cls, raw: Mapping[str, Any], resolver: Callable[[Any], str | None]) -> Statement:
        def strings(key: str) -> tuple[str | None, ...] | None:
            return tuple(resolver(v) for v in as_list(raw[key])) if key in raw else None

        condition = None
        if raw.get("Condition"):
            condition = {
                str(op): {str(k): [resolver(v) for v in as_list(vals)] for k, vals in (tests or {}).items()}
                if isinstance(tests, Mapping)
                else tests
                for op, tests in raw["Condition"].items()
            }
        actions, not_actions = strings("Action"), strings("NotAction")
        return cls(
            effect=str(raw.get("Effect", "")),
            actions=tuple(a for a in actions if a) if actions is not None else None,
            not_actions=tuple(a for a in not_actions if a) if not_actions is not None else None,
            resources=strings("Resource"),
            not_resources=strings("NotResource"),
            condition=condition,
            sid=str(raw.get("Sid", "")),
        )

    def applies_to(self, action: str, resource: str) -> bool:
        """Action and resource match (the Condition aside)."""
        if self.actions is not None:
            if not any(_like(a, action, ignore_case=True) for a in self.actions):
                return False
        elif self.not_actions is not None:
            if any(_like(a, action, ignore_case=True) for a in self.not_actions):
                return False
        else:
            return False
        if self.resources is not None:  # an unresolvable pattern names no resource of ours: it matches nothing
            return any(p is not None and _like(p, resource) for p in self.resources)
        if self.not_resources is not None:
            if any(p is not None and _like(p, resource) for p in self.not_resources):
                return False
            # an unresolvable NotResource might be this very resource: an Allow does not count on it, a Deny does
            return self.effect == "Deny" or None not in self.not_resources
        return False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    explicit_deny: bool
    statement: Statement | None


def decide(statements: Iterable[Statement], action: str, resource: str, context: Mapping[str, Any]) -> Decision:
    """AWS's order for one identity: an explicit Deny wins, then an Allow, else the implicit deny."""
    allow: Statement | None = None
    for statement in statements:
        if not statement.applies_to(action, resource):
            continue
        outcome = evaluate_condition(statement.condition, context)
        if statement.effect == "Deny" and outcome is not False:  # UNKNOWN: a Deny that may apply, applies
            return Decision(False, True, statement)
        if statement.effect == "Allow" and outcome is True and allow is None:
            allow = statement
    return Decision(allow is not None, False, allow)


# --------------------------------------------------------------------------------------------------------------
# The request, parsed
# --------------------------------------------------------------------------------------------------------------

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass
class Call:
    """What the enforcer reads from one request."""

    service: str
    operation: str
    name: str | None
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    region: str
    account: str
    partition: str
    path_params: dict[str, str] = field(default_factory=dict)

    @functools.cached_property
    def json(self) -> dict[str, Any]:
        try:
            parsed = json.loads(self.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return {}
        return parsed if isinstance(parsed, dict) else {}

    @functools.cached_property
    def form(self) -> dict[str, str]:
        """Query-protocol parameters (URL query and form body), first value of each."""
        merged = {k: v[0] for k, v in self.query.items() if v}
        if self.body and "x-www-form-urlencoded" in self.headers.get("content-type", ""):
            for k, v in urllib.parse.parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True).items():
                merged[k] = v[0]
        return merged

    @functools.cached_property
    def xml(self) -> ET.Element | None:
        try:
            return ET.fromstring(self.body) if self.body else None
        except ET.ParseError:
            return None

    def xml_text(self, tag: str) -> str | None:
        root = self.xml
        if root is None:
            return None
        for element in root.iter():
            if element.tag.rsplit("}", 1)[-1] == tag and element.text:
                return element.text.strip()
        return None

    # ARNs -------------------------------------------------------------------------------------------------------

    def table_arn(self, name: str | None) -> str | None:
        if not name:
            return None
        if name.startswith("arn:"):
            return name
        return f"arn:{self.partition}:dynamodb:{self.region}:{self.account}:table/{name}"

    def bucket(self) -> str | None:
        if self.name and self.service == "s3":
            return self.name
        parts = [urllib.parse.unquote(p) for p in self.path.split("/", 2)[1:] if p]
        return parts[0] if parts else None

    def object_key(self) -> str | None:
        parts = [urllib.parse.unquote(p) for p in self.path.split("/", 2)[1:] if p]
        return parts[1] if len(parts) > 1 else None

    def bucket_arn(self) -> str | None:
        bucket = self.bucket()
        return f"arn:{self.partition}:s3:::{bucket}" if bucket else None

    def key_arn(self, key: str | None) -> str | None:
        return kms_key_arn(key, self.region, self.account, self.partition) if key else None

    def schedule_arn(self) -> str | None:
        name = self.path_params.get("Name") or self.name
        if not name:
            return None
        group = self.json.get("GroupName") or (self.query.get("groupName") or [""])[0] or "default"
        return f"arn:{self.partition}:scheduler:{self.region}:{self.account}:schedule/{group}/{name}"


def _lower_headers(headers: Any) -> dict[str, str]:
    if not headers:
        return {}
    items = headers.items() if hasattr(headers, "items") else headers
    return {str(k).lower(): str(v) for k, v in items}


# --------------------------------------------------------------------------------------------------------------
# botocore models: rest-json routes and protocols
# --------------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _service_model(service: str) -> Any:
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        return botocore.session.get_session().get_service_model(_BOTOCORE_NAME.get(service, service))
    except UnknownServiceError:
        return None


@functools.lru_cache(maxsize=64)
def _routes(service: str) -> tuple[tuple[str, re.Pattern[str], int, str], ...]:
    """(method, path regex, literal length, operation) for a REST service, most specific first."""
    model = _service_model(service)
    if model is None or model.protocol not in ("rest-json", "rest-xml"):
        return ()
    routes = []
    for op in model.operation_names:
        http = model.operation_model(op).http
        uri = http.get("requestUri", "/").split("?", 1)[0]
        regex = ""
        for piece in re.split(r"(\{[^}]+\})", uri.rstrip("/") or "/"):
            if piece.startswith("{"):
                name = piece[1:-1]
                greedy = name.endswith("+")
                regex += f"(?P<{re.sub(r'[^A-Za-z0-9_]', '_', name.rstrip('+'))}>{'.+' if greedy else '[^/]+'})"
            else:
                regex += re.escape(piece)
        pattern = re.compile("^" + (regex if regex != "/" else "") + "/?$")
        routes.append((http.get("method", "GET"), pattern, len(re.sub(r"\{[^}]+\}", "", uri)), op))
    routes.sort(key=lambda r: -r[2])
    return tuple(routes)


def rest_operation(service: str, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The botocore operation (and its path parameters) a REST request is, from the service's model."""
    for route_method, pattern, _, op in _routes(service):
        if route_method != method:
            continue
        match = pattern.match(path)
        if match:
            return op, {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
    return None


def _protocol(service: str) -> str:
    model = _service_model(service)
    return model.protocol if model is not None else "json"


# --------------------------------------------------------------------------------------------------------------
# IMPLIED: the additional permissions AWS documents for an operation
# --------------------------------------------------------------------------------------------------------------

RESTORE_ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)
_DYNAMODB_KMS_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",  # the doc's kms:ReEncrypt* is "for kms:ReEncryptFrom and kms:ReEncryptTo"
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",  # the doc's kms:GenerateDataKey* is "for kms:GenerateDataKey and ...WithoutPlaintext"
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
    "kms:CreateGrant",
)


@dataclass(frozen=True)
class ImpliedRule:
    """One documented extra permission: when `service`:`operations` runs (and `when` holds, as `resources` tells by
    returning the resources it applies to, or none), the caller also needs `actions` on each of those resources,
    evaluated with `context` (plus `action_context` for one action)."""

    id: str
    service: str
    operations: tuple[str, ...]
    when: str
    actions: tuple[str, ...]
    on: str
    source: str
    url: str
    resources: Callable[[Call], list[str]]
    context: Callable[[Call], dict[str, Any]] = lambda call: {}
    action_context: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    note: str = ""


def _restore_target(call: Call) -> list[str]:
    arn = call.table_arn(call.json.get("TargetTableName"))
    return [arn] if arn else []


def _sse_customer_key(call: Call) -> list[str]:
    spec = call.json.get("SSESpecification") or call.json.get("SSESpecificationOverride") or {}
    if not isinstance(spec, dict) or spec.get("Enabled") is False or spec.get("SSEType", "KMS") != "KMS":
        return []
    key = spec.get("KMSMasterKeyId")
    if not key or is_aws_managed_key(key):
        return []  # AWS owned key, or the AWS managed key aws/dynamodb (its key policy allows the account's users)
    arn = call.key_arn(key)
    return [arn] if arn else []


def _via(service: str) -> Callable[[Call], dict[str, Any]]:
    def context(call: Call) -> dict[str, Any]:
        return {"kms:ViaService": f"{service}.{call.region}.amazonaws.com", "kms:CallerAccount": call.account}

    return context


def _header(name: str, test: Callable[[str], bool] = lambda value: True) -> Callable[[Call], list[str]]:
    def resources(call: Call) -> list[str]:
        value = call.headers.get(name)
        arn = call.bucket_arn()
        return [arn] if value is not None and test(value) and arn else []

    return resources


def _acl_headers(call: Call) -> list[str]:
    acl = call.headers.get("x-amz-acl")
    grants = [h for h in call.headers if h.startswith("x-amz-grant-")]
    arn = call.bucket_arn()
    return [arn] if arn and ((acl is not None and acl.strip().lower() != "private") or grants) else []


def _bucket_kms_key(call: Call) -> list[str]:
    algorithm = call.xml_text("SSEAlgorithm") or ""
    arn = call.bucket_arn()
    return [arn] if arn and algorithm.startswith("aws:kms") and call.xml_text("KMSMasterKeyID") else []


def _copy_source(call: Call) -> list[str]:
    """The object a CopyObject / UploadPartCopy reads: x-amz-copy-source, /bucket/key or bucket/key, URL-encoded,
    with an optional ?versionId=."""
    source = urllib.parse.unquote(call.headers.get("x-amz-copy-source", "").split("?versionId=", 1)[0]).lstrip("/")
    bucket, _, key = source.partition("/")
    return [f"arn:{call.partition}:s3:::{bucket}/{key}"] if bucket and key else []


def _json_role(*path: str) -> Callable[[Call], list[str]]:
    def resources(call: Call) -> list[str]:
        value: Any = call.json
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return [value] if isinstance(value, str) and value else []

    return resources


def _passed_to(service: str) -> Callable[[Call], dict[str, Any]]:
    return lambda call: {"iam:PassedToService": service}


def _no_stack_name(call: Call) -> list[str]:
    return [] if call.form.get("StackName") else ["*"]


_DDB_BACKUP_DOC = "Amazon DynamoDB Developer Guide: Using IAM with DynamoDB backup and restore"
_DDB_BACKUP_URL = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/backuprestore_IAM.html"
_S3_CREATE_DOC = "Amazon S3 API Reference: CreateBucket (Permissions)"
_S3_CREATE_URL = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html"

IMPLIED: tuple[ImpliedRule, ...] = (
    ImpliedRule(
        id="dynamodb.restore-from-backup.target-items",
        service="dynamodb",
        operations=("RestoreTableFromBackup",),
        when="always",
        actions=RESTORE_ITEM_ACTIONS,
        on="the target table (TargetTableName)",
        source=_DDB_BACKUP_DOC + " — 'RestoreTableFromBackup permissions are necessary on the source backup, and "
        "DynamoDB read and write permissions on the target table are necessary'; the same seven actions are "
        "RestoreTableFromBackup's dependent actions in the Service Authorization Reference (list_amazondynamodb)",
        url=_DDB_BACKUP_URL,
        resources=_restore_target,
    ),
    ImpliedRule(
        id="dynamodb.restore-to-point-in-time.target-items",
        service="dynamodb",
        operations=("RestoreTableToPointInTime",),
        when="always",
        actions=RESTORE_ITEM_ACTIONS,
        on="the target table (TargetTableName)",
        source=_DDB_BACKUP_DOC + " — 'RestoreTableToPointInTime permissions are necessary on the source table, and "
        "DynamoDB read and write permissions on the target table are necessary'",
        url=_DDB_BACKUP_URL,
        resources=_restore_target,
    ),
    ImpliedRule(
        id="dynamodb.sse.customer-managed-key",
        service="dynamodb",
        operations=("CreateTable", "UpdateTable", "RestoreTableFromBackup", "RestoreTableToPointInTime"),
        when="SSESpecification / SSESpecificationOverride with SSEType KMS and a KMSMasterKeyId that is not an "
        "AWS managed key (alias/aws/...)",
        actions=_DYNAMODB_KMS_ACTIONS,
        on="the KMS key (an alias stands for a key of the account)",
        source="AWS KMS Developer Guide: How Amazon DynamoDB uses AWS KMS — Key policy for a customer managed key: "
        "'That principal, a user or role, must have the permissions on the KMS key that DynamoDB requires' "
        "(Encrypt, Decrypt, ReEncrypt*, GenerateDataKey*, DescribeKey, CreateGrant), through DynamoDB "
        "(kms:ViaService)",
        url="https://docs.aws.amazon.com/kms/latest/developerguide/services-dynamodb.html#dynamodb-customer-cmk-policy",
        resources=_sse_customer_key,
        context=_via("dynamodb"),
        # DynamoDB creates the grant on the caller's behalf: kms:GrantIsForAWSResource is true for that call only
        action_context={"kms:CreateGrant": {"kms:GrantIsForAWSResource": "true"}},
        note="Key policies and grants are not modelled: the template's identity policy must grant these.",
    ),
    ImpliedRule(
        id="s3.create-bucket.object-ownership",
        service="s3",
        operations=("CreateBucket",),
        when="header x-amz-object-ownership",
        actions=("s3:PutBucketOwnershipControls",),
        on="the bucket",
        source=_S3_CREATE_DOC + " — 'If your CreateBucket request includes the x-amz-object-ownership header, then "
        "the s3:PutBucketOwnershipControls permission is required'",
        url=_S3_CREATE_URL,
        resources=_header("x-amz-object-ownership"),
    ),
    ImpliedRule(
        id="s3.create-bucket.acl",
        service="s3",
        operations=("CreateBucket",),
        when="header x-amz-acl other than private, or any x-amz-grant-* header",
        actions=("s3:PutBucketAcl",),
        on="the bucket",
        source=_S3_CREATE_DOC + " — 'if you specify an access control list (ACL) and set it to public-read, "
        "public-read-write, authenticated-read, or if you explicitly specify any other custom ACLs, both "
        "s3:CreateBucket and s3:PutBucketAcl permissions are required' (private or no ACL: CreateBucket only)",
        url=_S3_CREATE_URL,
        resources=_acl_headers,
    ),
    ImpliedRule(
        id="s3.create-bucket.object-lock",
        service="s3",
        operations=("CreateBucket",),
        when="header x-amz-bucket-object-lock-enabled: true",
        actions=("s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"),
        on="the bucket",
        source=_S3_CREATE_DOC + " — 'if you set x-amz-bucket-object-lock-enabled to true, the "
        "s3:PutBucketObjectLockConfiguration and s3:PutBucketVersioning permissions are required'",
        url=_S3_CREATE_URL,
        resources=_header("x-amz-bucket-object-lock-enabled", lambda v: v.strip().lower() == "true"),
    ),
    ImpliedRule(
        id="s3.put-bucket-encryption.kms-key",
        service="s3",
        operations=("PutBucketEncryption",),
        when="SSEAlgorithm aws:kms / aws:kms:dsse with a KMSMasterKeyID (general purpose bucket)",
        actions=(),
        on="—",
        source="Amazon S3 API Reference: PutBucketEncryption — general purpose buckets: 'The "
        "s3:PutEncryptionConfiguration permission is required'; 'Amazon S3 doesn't validate the KMS key ID "
        "provided in PutBucketEncryption requests'. Only directory buckets (s3express) also need kms:GenerateDataKey "
        "and kms:Decrypt",
        url="https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketEncryption.html",
        resources=_bucket_kms_key,
        note="Nothing beyond s3:PutEncryptionConfiguration: the key is used (and authorized) at object upload.",
    ),
    ImpliedRule(
        id="s3.copy-object.source-read",
        service="s3",
        operations=("CopyObject", "UploadPart"),
        when="x-amz-copy-source given (a copy, or UploadPartCopy)",
        actions=("s3:GetObject",),
        on="the source object",
        source="Amazon S3 API Reference: CopyObject — 'you must have read access to the source object and write "
        "access to the destination bucket': s3:GetObject on the source, s3:PutObject on the destination; "
        "UploadPartCopy likewise",
        url="https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html",
        resources=_copy_source,
    ),
    ImpliedRule(
        id="scheduler.schedule.pass-role",
        service="scheduler",
        operations=("CreateSchedule", "UpdateSchedule"),
        when="always (Target.RoleArn is required)",
        actions=("iam:PassRole",),
        on="the execution role (Target.RoleArn)",
        source="Service Authorization Reference: Actions, resources, and condition keys for Amazon EventBridge "
        "Scheduler — CreateSchedule and UpdateSchedule authorize iam:PassRole with iam:PassedToService "
        "scheduler.amazonaws.com (so does the AmazonEventBridgeSchedulerFullAccess managed policy)",
        url="https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridgescheduler.html",
        resources=_json_role("Target", "RoleArn"),
        context=_passed_to("scheduler.amazonaws.com"),
    ),
    ImpliedRule(
        id="backup.start-restore-job.pass-role",
        service="backup",
        operations=("StartRestoreJob",),
        when="IamRoleArn given",
        actions=("iam:PassRole",),
        on="the restore role (IamRoleArn)",
        source="Service Authorization Reference: Actions, resources, and condition keys for AWS Backup — "
        "StartRestoreJob (on the recovery point) has the dependent action iam:PassRole, passed to "
        "backup.amazonaws.com. The DynamoDB item permissions of the restore belong to that role "
        "(AWSBackupServiceRolePolicyForRestores), not to the caller",
        url="https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsbackup.html",
        resources=_json_role("IamRoleArn"),
        context=_passed_to("backup.amazonaws.com"),
    ),
    ImpliedRule(
        id="backup.create-backup-selection.pass-role",
        service="backup",
        operations=("CreateBackupSelection",),
        when="always (BackupSelection.IamRoleArn is required)",
        actions=("iam:PassRole",),
        on="the backup role (BackupSelection.IamRoleArn)",
        source="Service Authorization Reference: Actions, resources, and condition keys for AWS Backup — "
        "CreateBackupSelection (on the backup plan) has the dependent action iam:PassRole; AWS Backup assumes the "
        "role to back up the selected resources",
        url="https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsbackup.html",
        resources=_json_role("BackupSelection", "IamRoleArn"),
        context=_passed_to("backup.amazonaws.com"),
    ),
    ImpliedRule(
        id="cloudformation.describe-stacks.all",
        service="cloudformation",
        operations=("DescribeStacks",),
        when="no StackName (every stack of the account)",
        actions=("cloudformation:ListStacks",),
        on="*",
        source="AWS CloudFormation API Reference: DescribeStacks, StackName — 'If you don't pass a parameter to "
        "StackName, the API returns a response that describes all resources in the account ... This requires "
        "ListStacks and DescribeStacks permissions'",
        url="https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html",
        resources=_no_stack_name,
    ),
)


# --------------------------------------------------------------------------------------------------------------
# The operation's own action(s) and resource(s)
# --------------------------------------------------------------------------------------------------------------


def _own_resources(call: Call, action: str) -> list[str]:
    """The resource(s) AWS authorizes the operation's own action against (Service Authorization Reference)."""
    if action in ACCOUNT_LEVEL:
        return ["*"]
    body, op = call.json, call.operation
    key: str | None  # a body field's name below, an object's key for S3
    if call.service == "dynamodb":
        if op == "RestoreTableFromBackup":  # SAR: backup* and table* are both required resource types
            return [a for a in (body.get("BackupArn"), call.table_arn(body.get("TargetTableName"))) if a] or ["*"]
        if op == "RestoreTableToPointInTime":  # permissions "on the source table"
            source = body.get("SourceTableArn") or call.table_arn(body.get("SourceTableName"))
            return [source] if source else ["*"]
        for key in ("BackupArn", "ResourceArn", "TableArn"):
            if isinstance(body.get(key), str):
                return [body[key]]
        arn = call.table_arn(body.get("TableName") or body.get("GlobalTableName") or call.name)
        return [arn] if arn else ["*"]
    if call.service == "s3":
        bucket, key = call.bucket(), call.object_key()
        if not bucket:
            return ["*"]
        return [f"arn:{call.partition}:s3:::{bucket}/{key}" if key else f"arn:{call.partition}:s3:::{bucket}"]
    if call.service == "kms":
        arn = call.key_arn(body.get("KeyId") or body.get("TargetKeyId") or call.name)
        return [arn] if arn else ["*"]
    if call.service == "cloudformation":
        name = call.form.get("StackName") or call.name
        if not name:
            return ["*"]
        return [resource_arn("cloudformation", name, call.region, call.account, call.partition)]
    if call.service == "sns":
        arn = call.form.get("TopicArn") or call.form.get("TargetArn")
        return [arn] if arn else ["*"]
    if call.service == "scheduler":
        if "Schedule" in op and "Group" not in op and "List" not in op:
            arn = call.schedule_arn()
            return [arn] if arn else ["*"]
        if "ScheduleGroup" in op and "List" not in op:
            name = call.path_params.get("Name") or call.name
            if not name:
                return ["*"]
            return [f"arn:{call.partition}:scheduler:{call.region}:{call.account}:schedule-group/{name}"]
        return ["*"]
    if call.service == "sqs":  # a queue: by QueueUrl (its last part is the name) or, to create it, QueueName
        url = body.get("QueueUrl") or call.form.get("QueueUrl")
        name = body.get("QueueName") or call.form.get("QueueName") or (str(url).rstrip("/").rsplit("/", 1)[-1]
                                                                      if url else None)
        return [f"arn:{call.partition}:sqs:{call.region}:{call.account}:{name}"] if name else ["*"]
    if call.service == "events" and op == "PutEvents":  # SAR: event-bus*, each entry's bus (default: "default")
        buses = {
            str(entry.get("EventBusName") or "default")
            for entry in as_list(body.get("Entries") or [])
            if isinstance(entry, dict)
        } or {"default"}
        here = f"arn:{call.partition}:events:{call.region}:{call.account}:event-bus/"
        return sorted(bus if bus.startswith("arn:") else here + bus for bus in buses)
    if call.service == "lambda":  # SAR: function*, named by FunctionName (a name, an ARN, or an ARN with a qualifier)
        name = call.path_params.get("FunctionName") or call.name
        if not name:
            return ["*"]
        return [name if name.startswith("arn:") else f"arn:{call.partition}:lambda:{call.region}:{call.account}:"
                f"function:{name}"]
    if call.service == "backup":
        if op in ("StartRestoreJob", "DescribeRecoveryPoint", "DeleteRecoveryPoint", "GetRecoveryPointRestoreMetadata"):
            arn = body.get("RecoveryPointArn") or call.path_params.get("recoveryPointArn")
            return [arn] if arn else ["*"]
        here = f"arn:{call.partition}:backup:{call.region}:{call.account}"
        vault = call.path_params.get("backupVaultName")
        if vault:  # SAR: backupVault* (DescribeBackupVault, CreateBackupVault, PutBackupVaultLockConfiguration, ...)
            return [f"{here}:backup-vault:{vault}"]
        plan = call.path_params.get("backupPlanId")
        if plan:  # SAR: backupPlan* (GetBackupPlan, UpdateBackupPlan, the selections' calls)
            return [f"{here}:backup-plan:{plan}"]
        if op == "CreateBackupPlan":  # SAR: backupPlan*, whose id AWS makes: any plan of the account and region
            return [f"{here}:backup-plan:*"]
        return ["*"]
    return ["*"]


# --------------------------------------------------------------------------------------------------------------
# The enforcer
# --------------------------------------------------------------------------------------------------------------


class Enforcer:
    """Answers each request of the function role as AWS IAM would, from the template's policies.

    ``check(request)`` returns None when every needed action — the operation's own, on each resource AWS authorizes
    it against, and every ``IMPLIED`` one — is allowed, else AWS's AccessDenied message naming the first action that
    is not. Every check made is appended to ``decisions`` as ``{"operation", "action", "resource", "allowed",
    "implied_by", "explicit_deny"}`` (``implied_by`` is the IMPLIED rule's id, None for the operation's own action).
    """

    def __init__(
        self,
        statements: Iterable[Statement],
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        partition: str = DEFAULT_PARTITION,
        principal: str | None = None,
        bucket_owner: Callable[[str], str | None] | None = None,
    ) -> None:
        """bucket_owner: the account owning a bucket (the local AWS's S3), for s3:ResourceAccount; None: the
        caller's account owns every bucket."""
        self.statements: tuple[Statement, ...] = tuple(statements)
        self.bucket_owner = bucket_owner
        self.region, self.account, self.partition = region, account, partition
        self.principal = principal or (
            f"arn:{partition}:sts::{account}:assumed-role/{DEFAULT_ROLE_NAME}/{DEFAULT_SESSION_NAME}"
        )
        self.decisions: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @classmethod
    def from_template(
        cls,
        template_path: str | Path,
        parameters: dict[str, Any] | None = None,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        partition: str = DEFAULT_PARTITION,
        *,
        role: str | None = None,
        principal: str | None = None,
        bucket_owner: Callable[[str], str | None] | None = None,
    ) -> Enforcer:
        """The function role of a SAM/CloudFormation template (or the role with logical id `role`)."""
        template = load_template(template_path)
        variables = template_variables(template, region, account, partition, parameters)
        template = conditioned(template, variables)
        resolver = Resolver(template, variables)
        statements = [Statement.parse(s, resolver) for s in function_role_statements(template, role)]
        return cls(statements, region=region, account=account, partition=partition, principal=principal,
                   bucket_owner=bucket_owner)

    # ---------------------------------------------------------------------------------------------------------

    def base_context(self, call: Call) -> dict[str, Any]:
        role_name = self.principal.split("/")[-2] if self.principal.count("/") >= 2 else DEFAULT_ROLE_NAME
        context: dict[str, Any] = {
            "aws:SecureTransport": "true",  # AWS endpoints are HTTPS; the local proxy stands for them
            "aws:RequestedRegion": call.region,
            "aws:PrincipalAccount": call.account,
            "aws:PrincipalArn": f"arn:{call.partition}:iam::{call.account}:role/{role_name}",
            "aws:PrincipalType": "AssumedRole",
            "aws:ResourceAccount": call.account,  # one account's resources, but for S3's buckets (below)
        }
        if call.service == "s3":  # S3 ARNs carry no account: the bucket's owner, else (a bucket not there) the caller
            bucket = call.bucket()
            # CreateBucket (and the settings it implies) is about the bucket it makes, the caller's, or fails (409)
            mine = call.operation == "CreateBucket"
            owner = self.bucket_owner(bucket) if bucket and self.bucket_owner is not None and not mine else None
            context["s3:ResourceAccount"] = context["aws:ResourceAccount"] = owner or call.account
        if call.service == "kms":  # a direct call: no service calls KMS on the caller's behalf
            context.update({"kms:ViaService": None, "kms:CallerAccount": call.account})
        return context

    def _s3_owner(self, call: Call, resource: str) -> dict[str, Any]:
        """s3:ResourceAccount of an implied check on another bucket than the call's (a copy's source): its owner."""
        prefix = f"arn:{call.partition}:s3:::"
        bucket = resource[len(prefix):].partition("/")[0] if resource.startswith(prefix) else None
        if call.service != "s3" or not bucket or bucket == call.bucket() or self.bucket_owner is None:
            return {}
        owner = self.bucket_owner(bucket) or call.account
        return {"s3:ResourceAccount": owner, "aws:ResourceAccount": owner}

    def parse(self, request: Mapping[str, Any]) -> Call:
        headers = _lower_headers(request.get("headers"))
        scope = _CREDENTIAL_SCOPE.search(headers.get("authorization", ""))
        service = str(request.get("service") or (scope.group(2) if scope else "") or "unknown")
        raw_path = str(request.get("path") or "/")
        path, _, raw_query = raw_path.partition("?")
        query = {str(k): [str(x) for x in as_list(v)] for k, v in (request.get("query") or {}).items()}
        if not query and raw_query:
            query = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
        body = request.get("body") or b""
        if isinstance(body, str):
            body = body.encode()
        method = str(request.get("method") or "POST").upper()
        operation = str(request.get("operation") or "")
        path_params: dict[str, str] = {}
        if _protocol(service) == "rest-json":
            route = rest_operation(service, method, path)
            if route is not None and (not operation or "/" in operation or operation == route[0]):
                operation, path_params = route
        operation = _camel(operation) if operation and "/" not in operation else operation
        return Call(
            service=service,
            operation=operation or "Unknown",
            name=request.get("name"),
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=bytes(body),
            region=scope.group(1) if scope else self.region,
            account=self.account,
            partition=self.partition,
            path_params=path_params,
        )

    def checks(self, call: Call) -> list[tuple[str, str, dict[str, Any], str | None]]:
        """Every (action, resource, context, implied_by) the request needs, the operation's own first."""
        base = self.base_context(call)
        action = iam_action(call.service, call.operation)
        out: list[tuple[str, str, dict[str, Any], str | None]] = [
            (action, resource, base, None) for resource in _own_resources(call, action)]
        for rule in IMPLIED:
            if rule.service != call.service or call.operation not in rule.operations:
                continue
            for resource in rule.resources(call):
                context = {**base, **self._s3_owner(call, resource), **rule.context(call)}
                for implied in rule.actions:
                    out.append((implied, resource, {**context, **rule.action_context.get(implied, {})}, rule.id))
        return out

    def check(self, request: Mapping[str, Any]) -> str | None:
        """None if the request is allowed, else AWS's AccessDenied message naming the first missing action."""
        call = self.parse(request)
        if (call.service, call.operation) in NO_AUTHORIZATION:
            self._record(call, iam_action(call.service, call.operation), "*", True, None, False)
            return None
        first: str | None = None
        for action, resource, context, implied_by in self.checks(call):
            decision = decide(self.statements, action, resource, context)
            self._record(call, action, resource, decision.allowed, implied_by, decision.explicit_deny)
            if not decision.allowed and first is None:
                first = self.message(action, resource, decision.explicit_deny)
        return first

    def message(self, action: str, resource: str, explicit_deny: bool = False) -> str:
        """AWS's wording for an identity-policy AccessDenied."""
        on = f" on resource: {resource}" if resource != "*" else ""
        if explicit_deny:
            return (
                f"User: {self.principal} is not authorized to perform: {action}{on} with an explicit deny in an "
                "identity-based policy"
            )
        return (
            f"User: {self.principal} is not authorized to perform: {action}{on} because no identity-based policy "
            f"allows the {action} action"
        )

    def _record(
        self, call: Call, action: str, resource: str, allowed: bool, implied_by: str | None, explicit: bool
    ) -> None:
        with self._lock:
            self.decisions.append(
                {
                    "operation": f"{call.service}:{call.operation}",
                    "action": action,
                    "resource": resource,
                    "allowed": allowed,
                    "implied_by": implied_by,
                    "explicit_deny": explicit,
                }
            )


# --------------------------------------------------------------------------------------------------------------
# AccessDenied on the wire
# --------------------------------------------------------------------------------------------------------------

_JSON_TYPE = {"dynamodb": "com.amazonaws.dynamodb.v20120810#AccessDeniedException"}
_QUERY_CODE = {"sns": "AuthorizationError"}  # SNS: AuthorizationErrorException, code AuthorizationError, HTTP 403


def access_denied(service: str, message: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of AWS's AccessDenied answer in `service`'s protocol (SigV4 signing name).

    awsJson (DynamoDB, KMS, ...): 400 {"__type": "...AccessDeniedException", "message"}; rest-xml (S3, S3 Control):
    403 <Error><Code>AccessDenied</Code>; rest-json (Scheduler, Backup, ...): 403 with x-amzn-ErrorType
    AccessDeniedException and {"Message"}; query (STS, CloudFormation): 403 <ErrorResponse> with code AccessDenied,
    SNS: AuthorizationError; EC2: 403 UnauthorizedOperation.
    """
    request_id = str(uuid.uuid4())
    protocol = _protocol(service)
    if protocol == "rest-xml":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>AccessDenied</Code><Message>{_xml_escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        )
        return 403, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, body.encode()
    if protocol == "rest-json":
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/",
            "x-amzn-RequestId": request_id,
        }
        return 403, headers, json.dumps({"Message": message}).encode()
    if protocol == "query":
        model = _service_model(service)
        namespace = (model.metadata.get("xmlNamespace") if model is not None else None) or ""
        xmlns = f' xmlns="{namespace}"' if namespace else ""
        code = _QUERY_CODE.get(service, "AccessDenied")
        body = (
            f"<ErrorResponse{xmlns}><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{_xml_escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return 403, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body.encode()
    if protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>{_xml_escape(message)}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return 403, {"Content-Type": "text/xml"}, body.encode()
    model = _service_model(service)
    version = (model.metadata.get("jsonVersion") if model is not None else None) or "1.0"
    error_type = _JSON_TYPE.get(service, "AccessDeniedException")
    headers = {"Content-Type": f"application/x-amz-json-{version}", "x-amzn-RequestId": request_id}
    return 400, headers, json.dumps({"__type": error_type, "message": message}).encode()


# --------------------------------------------------------------------------------------------------------------
# The after-the-fact check (recorded calls)
# --------------------------------------------------------------------------------------------------------------


def allowed(
    template_path: str | Path,
    operation: str,
    service: str,
    resource_name: str,
    region: str,
    account: str,
    parameters: dict[str, str] | None = None,
    role: str | None = None,
) -> bool:
    """Does the template's policy allow botocore `operation` of `service` on `resource_name`?

    Only the operation's own action, against every statement of the template (of `role` alone, a logical id, when
    given); `resource_name` is a table or bucket
    name, a full ARN, or "" for account-level calls. The call is on the account's own resource (``aws:`` and
    ``s3:ResourceAccount`` are `account`); a statement whose Condition tests any other key never allows here (a
    recorded call carries no more request context), and a Deny applies whatever its Condition.
    """
    return allower(template_path, region, account, parameters, role)(operation, service, resource_name)


def allower(
    template_path: str | Path, region: str, account: str, parameters: dict[str, str] | None = None,
    role: str | None = None,
) -> Callable[[str, str, str], bool]:
    """`allowed` for many calls: the template read once; the answer's (operation, service, resource_name) -> bool."""
    template = load_template(template_path)
    variables = template_variables(template, region, account, DEFAULT_PARTITION, parameters)
    template = conditioned(template, variables)
    resolver = Resolver(template, variables)
    chosen = function_role_statements(template, role) if role else policy_statements(template)
    statements = [Statement.parse(s, resolver) for s in chosen]
    own = {"aws:ResourceAccount": account, "s3:ResourceAccount": account}

    def allows(operation: str, service: str, resource_name: str) -> bool:
        action = iam_action(service, operation)
        arn = "*" if action in ACCOUNT_LEVEL else resource_arn(service, resource_name, region, account)
        return decide(statements, action, arn, own).allowed

    return allows
