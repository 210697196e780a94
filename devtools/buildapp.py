"""The application for an estate: template.yaml made to guard exactly that estate, and the function's code carrying it.

    make build ESTATE=path/to/estate.yaml      (.venv/bin/python devtools/buildapp.py ESTATE... [--out DIR])

template.yaml is the application of the shipped Galerly estate, and the base of every other: what does not depend on
the estate (the runtime's statements, alarms, schedules, the follow-up and AWS Backup roles) is taken as it is. What
does is generated here from the estate, loaded with the product's own loader:

* the function role's `estate-<section>` policies and the restore role's `restore-estate-<section>` ones: each kind's
  `permissions` (selfheal/kinds/base.py) on exactly the estate's resources, in their regions — exact names, or the
  prefix the estate names them with where exact names would not fit IAM's quotas (`QUOTAS`);
* the change rule's filters (each kind's `event_filters`), on the same names;
* one stack parameter per var the estate marks `{default: ..., overridable: true}` (the function gets it as
  SELFHEAL_VAR_<NAME>, the role and the rule name resources with it): template.yaml's own estate parameters go;
* the function's code: functions/selfheal with this estate as its estate.yaml (`--out`/function), no file of selfheal
  edited;
* no restore drills: template.yaml's DrillSchedule and what it adds (its drill role names Galerly's buckets) are left
  out, as in the StackSet template — such an estate drills with `selfheal drill`.

Nothing here touches AWS. A problem is one line naming the file, the field and the fix, exit 1, nothing written.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "functions" / "selfheal"))

from devtools.fleet_template import without_drills  # noqa: E402 - the StackSet template leaves them out too
from devtools.iam import load_template  # noqa: E402 - a SafeLoader that reads !Ref/!Sub/... as long forms
from selfheal.kinds import Kind, kinds  # noqa: E402
from selfheal.kinds.base import FUNCTION_ROLE, RESTORE_ROLE, Placed  # noqa: E402
from selfheal.loader import SOFT_VARS, load_estate, parse_estate  # noqa: E402
from selfheal.spec import Estate, EstateError  # noqa: E402

TEMPLATE = ROOT / "template.yaml"
FUNCTION_CODE = ROOT / "functions" / "selfheal"
LAYER_CODE = ROOT / "layers" / "deps"
DEFAULT_OUT = ROOT / ".aws-sam" / "estate"

# IAM's quotas ("IAM and AWS STS quotas"): what a deploy hits and the local AWS does not check.
INLINE_POLICIES_PER_ROLE = 10_240  # characters of every inline policy of a role together, whitespace not counted
MANAGED_POLICY_SIZE = 6_144
MANAGED_POLICIES_PER_ROLE = 10
# The roles whose policies are generated: logical id -> the role its kinds' statements are for.
ROLES = {"FunctionRole": FUNCTION_ROLE, "BackupRestoreRole": RESTORE_ROLE}
# template.yaml's inline policies the estate's managed policies take the place of.
POLICY_PREFIX = {FUNCTION_ROLE: "estate-", RESTORE_ROLE: ""}  # the restore role's are all the estate's
MANAGED_ID = {FUNCTION_ROLE: "FunctionEstatePolicy", RESTORE_ROLE: "RestoreEstatePolicy"}
EVENT_PATTERN_SIZE = 2_048  # EventBridge's default quota on a rule's pattern ("Amazon EventBridge quotas")
ESTATE_GROUP = "Estate"  # the interface's group of the estate's parameters (template.yaml's Metadata)
KEPT_ESTATE_PARAMETERS = ("MaxMissingPercent",)  # the guard's threshold: selfheal's own, not an estate var
VAR_ENV = "SELFHEAL_VAR_"
NAME_VAR_LENGTH = 63  # the longest value a var in names may take at deploy time (S3's limit for a whole name)
_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")
# The longest value each stands for when a policy's size is measured before any deploy.
_WORST = {"AWS::Partition": "aws-us-gov", "AWS::Region": "x" * 16, "AWS::AccountId": "0" * 12,
          "AWS::StackName": "x" * 128, "AWS::StackId": "x" * 160, "AWS::URLSuffix": "amazonaws.com.cn"}
_WORST_ATTRIBUTE = 200  # an ARN of a resource of the stack (its name carries the stack's)


class BuildError(ValueError):
    """An estate this build cannot make an application for: one line naming the problem and the fix."""


@dataclass(frozen=True)
class Built:
    """The application for an estate: its template, the estate file the function carries, what the role reaches."""

    template: dict[str, Any]
    estate_text: str
    estate: Estate
    placed: Mapping[str, tuple[Placed, ...]]  # section -> where its resources are (names or prefixes): the role
    rule_placed: Mapping[str, tuple[Placed, ...]]  # ... and the change rule's
    sizes: Mapping[str, int] = field(default_factory=dict)  # role logical id -> its inline policies' characters
    parameters: Mapping[str, str] = field(default_factory=dict)  # var -> its stack parameter


# --------------------------------------------------------------------------------------------------------------
# The estate (one file, or several merged: each resource declared once)
# --------------------------------------------------------------------------------------------------------------


def _load(path: Path) -> tuple[str, Any, Estate]:
    if not path.is_file():
        raise BuildError(f"{path}: no such estate file — pass an existing one: make build ESTATE=path/to/estate.yaml "
                         "(selfheal import writes one)")
    text = path.read_text(encoding="utf-8")
    try:
        estate = load_estate(path, env={})  # the builder's own SELFHEAL_VAR_* never leak into the build
    except EstateError as exc:
        raise BuildError(f"{exc} (selfheal plan --estate {path} checks it)") from None
    return text, yaml.safe_load(text), estate


def _merged(loaded: Sequence[tuple[Path, str, Any, Estate]]) -> tuple[str, Any]:
    """One estate from several: each file's shared defaults folded into its entries, vars and settings agreeing."""
    owner: dict[tuple[str, str], Path] = {}
    for path, _, _, estate in loaded:
        for spec in estate.resources:
            first = owner.setdefault((spec.kind, spec.name), path)
            if first != path:
                raise BuildError(f"{path}: {spec.kind} {spec.name!r} is also declared by {first} — declare it in one "
                                 "estate only (two would heal it two ways)")
    if len(loaded) == 1:
        return loaded[0][1], loaded[0][2]
    doc: dict[str, Any] = {"version": 1}
    for path, _, raw, _ in loaded:
        for var, value in (raw.get("vars") or {}).items():
            if doc.setdefault("vars", {}).setdefault(var, value) != value:
                raise BuildError(f"{path}: vars.{var}: {value!r} here, {doc['vars'][var]!r} in another estate — give "
                                 "it the same value in both, or rename it in one")
        if raw.get("settings"):
            if doc.setdefault("settings", raw["settings"]) != raw["settings"]:
                raise BuildError(f"{path}: settings differ from another estate's — make them the same in every file")
        for kind in kinds():
            defaults = (raw.get(kind.defaults.name) or {}) if kind.defaults is not None and kind.defaults.name else {}
            entries = [{**defaults, **e} for e in raw.get(kind.section) or []]
            if entries:
                doc.setdefault(kind.section, []).extend(entries)
    text = "# Merged by make build from: " + ", ".join(str(p) for p, *_ in loaded) + "\n"
    text += yaml.safe_dump(doc, sort_keys=False, width=120)
    parse_estate(text, source="merged estate", env={})  # what the function will load
    return text, doc


# --------------------------------------------------------------------------------------------------------------
# Names as a stack knows them
# --------------------------------------------------------------------------------------------------------------


def parameter_name(var: str) -> str:
    """A var's stack parameter: photos_bucket -> PhotosBucket."""
    return "".join(part.capitalize() for part in var.split("_"))


def _vars(raw: Any) -> dict[str, tuple[str, bool]]:
    """var -> (its value as written, overridable)."""
    out = {}
    for name, value in (raw.get("vars") or {}).items():
        overridable = isinstance(value, dict) and bool(value.get("overridable", False))
        written = value.get("default") if isinstance(value, dict) else value
        out[name] = (",".join(map(str, written)) if isinstance(written, list) else str(written), overridable)
    return out


class _Names:
    """A name or region as written in the estate -> Fn::Sub text: a deploy-time var as its stack parameter, the
    `region` var as the stack's region, every other var as its value."""

    def __init__(self, source: str, variables: Mapping[str, tuple[str, bool]], resolved: Mapping[str, str],
                 parameters: Mapping[str, str]) -> None:
        self.source, self.variables, self.resolved, self.parameters = source, variables, resolved, parameters

    def sub(self, text: str, where: str) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${!"
            ref = match.group(1)
            if ref == "region":
                return "${AWS::Region}"
            if ref in self.parameters:
                return "${" + self.parameters[ref] + "}"
            if ref in SOFT_VARS or ref not in self.variables:
                raise BuildError(f"{self.source}: {where}: ${{{ref}}} is only known when the function runs, so no "
                                 "role can name it — write the name, or a var the estate declares (overridable: "
                                 "true makes it a stack parameter)")
            if not self.resolved.get(ref):
                raise BuildError(f"{self.source}: vars.{ref}: empty, and {where} needs it — give it a value in the "
                                 f"estate (`{ref}: {{default: VALUE, overridable: true}}` lets a deploy change it)")
            return self.sub(self.variables[ref][0], where)

        return _REF.sub(one, text)

    def written(self, value: Any) -> Any:
        """An entry as written, its strings as Fn::Sub text where they can be (left as written where not)."""
        if isinstance(value, str):
            try:
                return self.sub(value, "-")
            except BuildError:
                return value
        if isinstance(value, list):
            return [self.written(v) for v in value]
        if isinstance(value, dict):
            return {k: self.written(v) for k, v in value.items()}
        return value

    def region(self, entry: Mapping[str, Any], where: str) -> str:
        raw = entry.get("region")
        if isinstance(raw, str):
            return self.sub(raw, f"{where}.region")
        # an entry without one is in the `region` var's region, which the stack sets to its own
        return "${AWS::Region}" if "region" in self.variables else "us-east-1"


def _entries(raw: Any, kind: Kind[Any, Any]) -> list[dict[str, Any]]:
    defaults = (raw.get(kind.defaults.name) or {}) if kind.defaults is not None and kind.defaults.name else {}
    return [{**defaults, **e} for e in raw.get(kind.section) or [] if isinstance(e, dict)]


def declared_prefix(name: str) -> str | None:
    """The prefix a name is written with: a leading var and its separator (`${Prefix}-`), else its first word and
    separator (`acme-`); None when it has none."""
    match = re.match(r"^(\$\{[^}]+\}[-_.]|[A-Za-z0-9]+[-_.])", name)
    return match.group(1) if match and match.group(1) != name else None


def by_prefix(placed: Sequence[Placed]) -> tuple[Placed, ...]:
    """The same resources as few patterns: names sharing a declared prefix (two or more) as `prefix*`."""
    groups: dict[tuple[str | None, str], list[Placed]] = {}
    for p in placed:
        groups.setdefault((declared_prefix(p.name), p.region), []).append(p)
    out: list[Placed] = []
    for (prefix, region), members in groups.items():
        if prefix and len(members) > 1:
            out.append(Placed(prefix + "*", region, members=tuple(m for p in members for m in p.each)))
        else:
            out.extend(members)
    return tuple(out)


# --------------------------------------------------------------------------------------------------------------
# The template
# --------------------------------------------------------------------------------------------------------------


def _cfn(value: Any) -> Any:
    """Fn::Sub text as CloudFormation: a string naming ${...} becomes Fn::Sub."""
    if isinstance(value, str):
        return {"Fn::Sub": value} if _SUB_VAR.search(value) or "${!" in value else value
    if isinstance(value, list):
        return [_cfn(v) for v in value]
    if isinstance(value, dict):
        return {k: _cfn(v) for k, v in value.items()}
    return value


def _references(value: Any) -> Iterator[str]:
    """Every parameter, resource or condition a template value names."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                yield from (m.group(1).split(".")[0] for m in _SUB_VAR.finditer(str(text)))
            elif key == "Fn::If" and isinstance(inner, list) and inner:
                yield str(inner[0])
            elif key == "Condition" and isinstance(inner, str):
                yield inner
            yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def _worst(value: Any, parameters: Mapping[str, Any]) -> Any:
    """A template value at its longest: every placeholder as long as a deploy can make it."""
    def filler(name: str) -> str:
        if name in _WORST:
            return _WORST[name]
        spec = parameters.get(name)
        if isinstance(spec, dict):
            return "x" * int(spec.get("MaxLength", max(256, len(str(spec.get("Default", ""))))))
        return "x" * _WORST_ATTRIBUTE

    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [w for w in (_worst(v, parameters) for v in value) if w is not _NOTHING]
    if isinstance(value, dict):
        if value == {"Ref": "AWS::NoValue"}:
            return _NOTHING
        if len(value) == 1:
            (key, inner), = value.items()
            if key == "Ref":
                return filler(str(inner))
            if key == "Fn::GetAtt":
                return "x" * _WORST_ATTRIBUTE
            if key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                return _SUB_VAR.sub(lambda m: filler(m.group(1)) if "." not in m.group(1) else "x" * _WORST_ATTRIBUTE,
                                    str(text))
            if key == "Fn::If":
                branches = [_worst(b, parameters) for b in inner[1:]]
                return max(branches, key=lambda b: len(json.dumps(b)) if b is not _NOTHING else -1)
        return {k: w for k, w in ((k, _worst(v, parameters)) for k, v in value.items()) if w is not _NOTHING}
    return value


_NOTHING = object()


def policy_characters(document: Any, parameters: Mapping[str, Any]) -> int:
    """A policy document's size as IAM counts it (whitespace not counted), every placeholder at its longest."""
    text = json.dumps(_worst(document, parameters), separators=(",", ":"))
    return len(re.sub(r"\s", "", text))


def inline_characters(role: Mapping[str, Any], parameters: Mapping[str, Any]) -> int:
    policies = role.get("Properties", {}).get("Policies") or []
    return sum(policy_characters(p["PolicyDocument"], parameters) for p in policies if isinstance(p, dict))


def pack(statements: Sequence[dict[str, Any]], parameters: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    """Statements in as few policy documents of at most MANAGED_POLICY_SIZE characters as they go in order; a
    statement too long for one is cut into parts on its resources (Sids numbered)."""
    def size(document: list[dict[str, Any]]) -> int:
        return policy_characters({"Version": "2012-10-17", "Statement": _cfn(document)}, parameters)

    def pieces(statement: dict[str, Any]) -> list[dict[str, Any]]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if size([statement]) <= MANAGED_POLICY_SIZE or len(resources) == 1:
            return [statement]
        half = len(resources) // 2
        return pieces({**statement, "Resource": resources[:half]}) + pieces({**statement, "Resource": resources[half:]})

    documents: list[list[dict[str, Any]]] = []
    for statement in statements:
        parts = pieces(statement)
        for i, part in enumerate(parts):
            part = {**part, "Sid": f"{part['Sid']}{i + 1}"} if len(parts) > 1 else part
            if documents and size(documents[-1] + [part]) <= MANAGED_POLICY_SIZE:
                documents[-1].append(part)
            else:
                documents.append([part])
    return documents


def _generate(base: dict[str, Any], raw: Any, estate: Estate, placed: Mapping[str, tuple[Placed, ...]],
              rule_placed: Mapping[str, tuple[Placed, ...]], variables: Mapping[str, tuple[str, bool]],
              parameters: Mapping[str, str], source: str, code_uri: str, layer_uri: str) -> dict[str, Any]:
    template = copy.deepcopy(base)
    params = template.setdefault("Parameters", {})
    groups = template.get("Metadata", {}).get("AWS::CloudFormation::Interface", {}).get("ParameterGroups", [])
    (group,) = [g for g in groups if g.get("Label", {}).get("default") == ESTATE_GROUP]
    removed = {p for p in group["Parameters"] if p not in KEPT_ESTATE_PARAMETERS}
    for name in removed:
        params.pop(name, None)
    removed |= {c for c, expr in (template.get("Conditions") or {}).items() if set(_references(expr)) & removed}
    for name in removed:
        template.get("Conditions", {}).pop(name, None)
    naming = _naming(raw)
    for var, parameter in parameters.items():
        if parameter in params:
            raise BuildError(f"{source}: vars.{var}: its stack parameter {parameter} is one of selfheal's own — "
                             "rename the var")
        value, _ = variables[var]
        names = naming.get(var, [])
        spec: dict[str, Any] = {"Type": "String", "Default": dict(estate.variables)[var],
                                "Description": f"The estate's var {var} (SELFHEAL_VAR_{var.upper()})"
                                + (f"; it names {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}"
                                   if names else "") + "."}
        if names:
            spec.update(MinLength=1, MaxLength=NAME_VAR_LENGTH, AllowedPattern="^[a-zA-Z0-9_.-]+$")
        params[parameter] = spec
    group["Parameters"] = [*parameters.values(), *KEPT_ESTATE_PARAMETERS]

    resources = template["Resources"]
    for logical_id, role in ROLES.items():
        props = resources[logical_id]["Properties"]
        prefix = POLICY_PREFIX[role]
        props["Policies"] = [p for p in props.get("Policies") or []
                             if not str(p.get("PolicyName", "")).startswith(prefix)]
        if not props["Policies"]:
            props.pop("Policies")
        statements: list[dict[str, Any]] = []
        for kind in kinds():  # a statement two kinds both need (a restore job's) is granted once
            statements += [dict(st) for st in kind.permissions(placed.get(kind.section, ())).get(role, ())
                           if dict(st) not in statements]
        # Managed policies (IAM: 6,144 characters each, 10 a role): room for exact names where inline has little.
        for n, document in enumerate(pack(statements, params), start=1):
            policy = f"{MANAGED_ID[role]}{n}"
            resources[policy] = {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
                "Description": f"selfheal: what the {role} role may do on the estate's resources (part {n}).",
                "Path": "/selfheal/", "PolicyDocument": {"Version": "2012-10-17", "Statement": _cfn(document)}}}
            props.setdefault("ManagedPolicyArns", []).append({"Ref": policy})

    function = resources["Function"]["Properties"]
    function["CodeUri"] = code_uri
    resources["DepsLayer"]["Properties"]["ContentUri"] = layer_uri
    env = function["Environment"]["Variables"]
    soft = {VAR_ENV + v.upper() for v in SOFT_VARS}
    for name in [n for n in env if n.startswith(VAR_ENV) and n not in soft]:
        env.pop(name)
    env.update({VAR_ENV + var.upper(): {"Ref": p} for var, p in parameters.items()})
    rule = function["Events"]["Changes"]["Properties"]["Pattern"]["detail"]
    rule["$or"] = _cfn([f for kind in kinds() for f in kind.event_filters(rule_placed.get(kind.section, ()))])
    own = {name: pattern for kind in kinds() for name, pattern in kind.rules(rule_placed.get(kind.section, ())).items()}
    events = function["Events"]
    for name in list(events):  # a kind's rule of template.yaml the estate does not need goes
        if name not in own and set(_references(events[name])) & (removed - set(parameters.values())):
            events.pop(name)
    for name, pattern in own.items():
        events[name] = {"Type": "EventBridgeRule", **{k: v for k, v in events.get(name, {}).items() if k != "Type"}}
        events[name].setdefault("Properties", {})["Pattern"] = _cfn(dict(pattern))

    (custom,) = [r for r in resources.values() if r.get("Type") == "Custom::Estate"]
    custom["Properties"] = {k: v for k, v in custom["Properties"].items() if not set(_references(v)) & removed}
    custom["Properties"].update({p: {"Ref": p} for p in parameters.values()})
    template["Outputs"] = {k: v for k, v in (template.get("Outputs") or {}).items()
                           if not set(_references(v)) & removed}
    template["Description"] = (f"selfheal for the estate {Path(source).name}: its {len(estate.resources)} declared "
                               "resources kept exactly as declared (made by make build ESTATE=...).")
    stale = sorted(set(_references({k: v for k, v in template.items() if k != "Parameters"}))
                   & (removed - set(parameters.values())))
    if stale:  # template.yaml names an estate parameter somewhere this build does not regenerate
        raise BuildError(f"{TEMPLATE}: still names {', '.join(stale)} — generate that part in devtools/buildapp.py")
    return template


def _naming(raw: Any) -> dict[str, list[str]]:
    """var -> the names (as written) it takes part in, directly or through another var."""
    variables = _vars(raw)

    def refs(text: str, seen: frozenset[str]) -> set[str]:
        out: set[str] = set()
        for match in _REF.finditer(text):
            ref = match.group(1)
            if ref and ref not in seen:
                out |= {ref} | refs(variables.get(ref, ("", False))[0], seen | {ref})
        return out

    naming: dict[str, list[str]] = {}
    for kind in kinds():
        for entry in _entries(raw, kind):
            for var in refs(str(entry.get("name", "")), frozenset()):
                naming.setdefault(var, []).append(str(entry["name"]))
    return naming


def build(paths: Sequence[Path], base: Path = TEMPLATE, out: Path = DEFAULT_OUT) -> Built:
    """The application for the estate(s) at `paths`; BuildError for an estate it cannot guard."""
    if not paths:
        raise BuildError("no estate given — make build ESTATE=path/to/estate.yaml")
    loaded = [(p, *_load(p)) for p in paths]
    text, raw = _merged(loaded)
    source = str(paths[0]) if len(paths) == 1 else "merged estate"
    estate = loaded[0][3] if len(paths) == 1 else parse_estate(text, source=source, env={})
    variables = _vars(raw)
    parameters = {v: parameter_name(v) for v, (_, overridable) in variables.items()
                  if overridable and v not in SOFT_VARS}
    names = _Names(source, variables, dict(estate.variables), parameters)
    placed: dict[str, tuple[Placed, ...]] = {}
    for kind in kinds():
        entries = _entries(raw, kind)
        specs = estate.section(kind.section)
        placed[kind.section] = tuple(
            Placed(names.sub(str(e["name"]), f"{kind.section}[{i}].name"), names.region(e, f"{kind.section}[{i}]"),
                   spec, names.written(e))
            for i, (e, spec) in enumerate(zip(entries, specs, strict=True)))
    template_base = without_drills(load_template(base))  # the drill's role is template.yaml's estate's (Galerly's)
    code_uri = "function/"
    layer_uri = os.path.relpath(LAYER_CODE, out) + "/"

    def generate(iam: Mapping[str, tuple[Placed, ...]], rule: Mapping[str, tuple[Placed, ...]]) -> dict[str, Any]:
        return _generate(template_base, raw, estate, iam, rule, variables, parameters, source, code_uri, layer_uri)

    def managed_over(template: dict[str, Any]) -> list[str]:
        return [logical_id for logical_id, role in template["Resources"].items() if logical_id in ROLES and len(
            role["Properties"].get("ManagedPolicyArns") or []) > MANAGED_POLICIES_PER_ROLE]

    iam = fit(placed, lambda p: not managed_over(generate(p, placed)))
    if iam is None:
        role = (managed_over(generate(by_prefix_all(placed), placed)) or ["FunctionRole"])[0]
        raise BuildError(
            f"{source}: the {role}'s statements for its {len(estate.resources)} resources need more than IAM's "
            f"{MANAGED_POLICIES_PER_ROLE} managed policies of {MANAGED_POLICY_SIZE:,} characters, even by the "
            "prefixes they are named with — name them under fewer prefixes (`${prefix}-...`), or split the estate "
            "into stacks")
    rule = fit(placed, lambda p: pattern_characters(generate(iam, p)) <= EVENT_PATTERN_SIZE)
    if rule is None:
        raise BuildError(
            f"{source}: the change rule for its {len(estate.resources)} resources is over EventBridge's "
            f"{EVENT_PATTERN_SIZE:,}-character pattern even by the prefixes they are named with — name them under "
            "fewer prefixes (`${prefix}-...`)")
    template = generate(iam, rule)
    sizes = {role: inline_characters(template["Resources"][role], template["Parameters"]) for role in ROLES}
    over = {role: size for role, size in sizes.items() if size > INLINE_POLICIES_PER_ROLE}
    if over:  # only template.yaml's own inline policies are left there
        raise BuildError(f"{TEMPLATE}: the inline policies of {', '.join(over)} are over IAM's "
                         f"{INLINE_POLICIES_PER_ROLE:,} characters — shorten them")
    return Built(template, text, estate, iam, rule, sizes, parameters)


def by_prefix_all(placed: Mapping[str, tuple[Placed, ...]]) -> dict[str, tuple[Placed, ...]]:
    return {section: by_prefix(p) for section, p in placed.items()}


def fit(placed: Mapping[str, tuple[Placed, ...]],
        fits: Callable[[Mapping[str, tuple[Placed, ...]]], bool]) -> Mapping[str, tuple[Placed, ...]] | None:
    """Exact names where they fit; else the section that shrinks most by its prefixes is named by them, and again;
    None when even every section by its prefixes does not."""
    current = dict(placed)
    while not fits(current):
        fewer = {s: by_prefix(p) for s, p in current.items() if len(by_prefix(p)) < len(p)}
        if not fewer:
            return None
        section = max(fewer, key=lambda s: len(current[s]) - len(fewer[s]))
        current[section] = fewer[section]
    return current


def pattern_characters(template: Mapping[str, Any]) -> int:
    """The change rule's pattern as EventBridge counts it, every placeholder at its longest."""
    pattern = template["Resources"]["Function"]["Properties"]["Events"]["Changes"]["Properties"]["Pattern"]
    return len(json.dumps(_worst(pattern, template["Parameters"]), separators=(",", ":")))


# --------------------------------------------------------------------------------------------------------------
# Writing it
# --------------------------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(template: Mapping[str, Any], header: str) -> str:
    body = yaml.dump(dict(template), Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
    return "".join(f"# {line}\n" for line in header.splitlines()) + body


def write(built: Built, out: Path, sources: Sequence[Path]) -> Path:
    """out/template.yaml and out/function/ (the function's code with the estate as its estate.yaml)."""
    code = out / "function"
    if code.exists():
        shutil.rmtree(code)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(FUNCTION_CODE, code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (code / "estate.yaml").unlink()
    (code / "estate.yaml").write_text(built.estate_text, encoding="utf-8")
    header = (f"Generated by `make build ESTATE={' '.join(map(str, sources))}` from template.yaml "
              "(devtools/buildapp.py).\nDo not edit: change the estate or template.yaml and build again.")
    path = out / "template.yaml"
    path.write_text(to_yaml(built.template, header), encoding="utf-8")
    return path


def summary(built: Built) -> str:
    reach = "; ".join(f"{section}: {', '.join(p.name for p in placed)}" for section, placed in built.placed.items()
                      if placed)
    sizes = ", ".join(f"{role} {size:,}/{INLINE_POLICIES_PER_ROLE:,}" for role, size in built.sizes.items())
    params = ", ".join(f"{p} (var {v})" for v, p in built.parameters.items()) or "none"
    managed = {role: sum(1 for r in built.template["Resources"][role]["Properties"].get("ManagedPolicyArns") or [])
               for role in ROLES}
    return (f"{len(built.estate.resources)} resources — {reach}\ninline policy characters: {sizes}; managed "
            f"policies: {', '.join(f'{r} {n}/{MANAGED_POLICIES_PER_ROLE}' for r, n in managed.items())}; change "
            f"rule: {pattern_characters(built.template):,}/{EVENT_PATTERN_SIZE:,}\nestate parameters: {params}")


def main(argv: Sequence[str] | None = None, say: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("estate", nargs="+", type=Path, help="the estate file (several: merged, each resource once)")
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="the base template (template.yaml)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where template.yaml and function/ go")
    args = parser.parse_args(argv)
    try:
        built = build(args.estate, args.template, args.out)
    except BuildError as exc:
        print(f"make build: {exc}", file=sys.stderr)
        return 1
    path = write(built, args.out, args.estate)
    say(f"{path}: {summary(built)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
