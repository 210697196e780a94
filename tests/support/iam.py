"""Does the template's function role allow an AWS call? A small IAM evaluator for tests.

Feed it the calls a suite recorded (botocore operation name, service, resource name) and it answers from the
template alone: Allow statements whose Action and Resource patterns match (fnmatch), minus any matching Deny.
It resolves `!Sub` of `${AWS::Region}`, `${AWS::AccountId}`, `${AWS::Partition}` and template parameters (given
values, else their defaults). Statements with a Condition are not counted as allowing: a recorded call does not
carry what the condition tests, so it cannot prove the call allowed.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

# botocore operation -> IAM action, where the action is not simply "<service>:<Operation>".
IAM_ACTION: dict[tuple[str, str], str] = {
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
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
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
    ("s3control", "PutPublicAccessBlock"): "s3:PutAccountPublicAccessBlock",
}

# Operations AWS authorizes on no particular resource: the policy must allow them on "*".
ACCOUNT_LEVEL: frozenset[str] = frozenset(
    {
        "dynamodb:ListBackups",
        "dynamodb:ListTables",
        "s3:ListAllMyBuckets",
        "s3:GetAccountPublicAccessBlock",
        "s3:PutAccountPublicAccessBlock",
        "sts:GetCallerIdentity",
    }
)

_POLICY_HOLDERS = {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::Serverless::Function"}


class _CfnLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short tags (`!Ref x`, `!Sub s`, `!GetAtt a.b`, ...) as long forms."""


def _cfn_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: str | Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML template, short intrinsic tags included."""
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_CfnLoader)  # a SafeLoader subclass


def iam_action(service: str, operation: str) -> str:
    """The IAM action a botocore operation (`HeadBucket` or boto3's `head_bucket`) needs."""
    if "_" in operation or operation[:1].islower():
        operation = "".join(part.capitalize() for part in operation.split("_"))
    prefix = "s3" if service == "s3control" else service
    return IAM_ACTION.get((service, operation), f"{prefix}:{operation}")


def resource_arn(service: str, resource_name: str, region: str, account: str) -> str:
    """The ARN a call on `resource_name` is authorized against ("*" for account-level calls)."""
    if not resource_name or resource_name == "*":
        return "*"
    if service == "kms" and ":alias/" in resource_name:
        resource_name = "alias/" + resource_name.split(":alias/", 1)[1]  # an alias ARN, authorized like its alias
    if resource_name.startswith("arn:"):
        return resource_name
    if service == "dynamodb":
        return f"arn:aws:dynamodb:{region}:{account}:table/{resource_name}"
    if service == "s3":
        return f"arn:aws:s3:::{resource_name}"
    if service == "kms":
        # An alias is authorized against the key it names, which the template cannot know: any key of the account.
        key = "key-behind-" + resource_name.replace("/", "-") if resource_name.startswith("alias/") else resource_name
        return f"arn:aws:kms:{region}:{account}:key/{key}"
    raise ValueError(f"no ARN rule for service {service!r}: pass a full ARN")


def policy_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every policy statement attached anywhere in the template (roles, policies, SAM function inline policies)."""
    out: list[dict[str, Any]] = []
    for resource in (template.get("Resources") or {}).values():
        if resource.get("Type") not in _POLICY_HOLDERS:
            continue
        props = resource.get("Properties") or {}
        docs: list[Any] = []
        if "PolicyDocument" in props:
            docs.append(props["PolicyDocument"])
        policies = props.get("Policies") or []
        for policy in policies if isinstance(policies, list) else [policies]:
            if isinstance(policy, dict) and "PolicyDocument" in policy:
                docs.append(policy["PolicyDocument"])
            elif isinstance(policy, dict) and "Statement" in policy:
                docs.append(policy)
        for doc in docs:
            statements = doc.get("Statement") or []
            out.extend(statements if isinstance(statements, list) else [statements])
    return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resolve(value: Any, variables: dict[str, str]) -> str | None:
    """A resource value as a plain string pattern, or None when it cannot be resolved from the template alone."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        body = value["Fn::Sub"]
        extra: dict[str, Any] = {}
        if isinstance(body, list):
            body, extra = body[0], body[1]
        names = dict(variables)
        for key, sub in extra.items():
            resolved = resolve(sub, variables)
            if resolved is None:
                return None
            names[key] = resolved
        missing = [n for n in re.findall(r"\$\{([^}!]+)\}", body) if n not in names]
        if missing:
            return None
        return re.sub(r"\$\{([^}!]+)\}", lambda m: names[m.group(1)], body)
    if isinstance(value, dict) and "Ref" in value:
        return variables.get(value["Ref"])
    return None  # GetAtt and friends: only known after deploy


def allowed(
    template_path: str | Path,
    operation: str,
    service: str,
    resource_name: str,
    region: str,
    account: str,
    parameters: dict[str, str] | None = None,
) -> bool:
    """Does the template's policy allow botocore `operation` of `service` on `resource_name`?

    `resource_name` is a table or bucket name, a full ARN, or "" for account-level calls.
    """
    template = load_template(template_path)
    action = iam_action(service, operation).lower()
    arn = "*" if action in {a.lower() for a in ACCOUNT_LEVEL} else resource_arn(service, resource_name, region, account)
    variables = {"AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": "aws",
                 # the stack's own id is only known once deployed: any stack of this account and region stands for it
                 "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/*"}
    for name, spec in (template.get("Parameters") or {}).items():
        if "Default" in spec:
            variables[name] = str(spec["Default"])
    variables.update(parameters or {})

    def matches(statement: dict[str, Any]) -> bool:
        if "NotAction" in statement or "NotResource" in statement:
            raise ValueError(f"NotAction/NotResource are not evaluated here: {statement}")
        if not any(fnmatchcase(action, str(a).lower()) for a in as_list(statement.get("Action", []))):
            return False
        patterns = [resolve(r, variables) for r in as_list(statement.get("Resource", []))]
        return any(p is not None and fnmatchcase(arn, p) for p in patterns)

    statements = policy_statements(template)
    if any(s.get("Effect") == "Deny" and matches(s) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and "Condition" not in s and matches(s) for s in statements)
