"""`make fleet-template`: the StackSet-ready template is template.yaml's own translation, with no Transform, code in
the stack region's artifact bucket, and nothing else changed (resources, role, triggers, custom resource, alarms).

Compared twice: with template.yaml itself (each SAM resource and what SAM makes of it) and with the translation the
single-account `sam deploy` gets (samtranslator on the same template, code at an S3 URI as `sam package` writes it).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from devtools.fleet_template import ARTIFACT_BUCKET, without_drills
from tests.support.fleet_build import ROOT, generate
from tests.support.iam import as_list, load_template

TEMPLATE = ROOT / "template.yaml"
CFN_LINT = ROOT / ".venv-sam" / "bin" / "cfn-lint"
# Its module-scoped fixtures (the build) are costly: one worker runs the whole module (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("fleet_template")
HASHED = {"AWS::Lambda::Version", "AWS::Lambda::LayerVersion"}  # SAM appends a content hash to these logical ids
DESTRUCTIVE = re.compile(r"^(dynamodb|s3|backup):(Delete(?!Item$)|\*)", re.IGNORECASE)  # DeleteItem: restores need it


class Built(NamedTuple):
    out: Path  # dist/fleet: template.yaml, the zips, manifest.json
    manifest: dict[str, Any]
    fleet: dict[str, Any]  # the fleet template
    sam: dict[str, Any]  # the translation the single-account sam deploy gets


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("fleet") / "dist"
    reference = out.parent / "sam-translation.yaml"
    manifest = generate(out, sam_translation=reference)
    return Built(out, manifest, load_template(out / "template.yaml"), load_template(reference))


@pytest.fixture(scope="module")
def fleet(built: Built) -> dict[str, Any]:
    return built.fleet


@pytest.fixture(scope="module")
def sam(built: Built) -> dict[str, Any]:
    return built.sam


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    """template.yaml as the fleet template is made from it: without the restore drills (DrillSchedule)."""
    return without_drills(load_template(TEMPLATE))


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def normalized_ids(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> Type, the content hash SAM appends to versions and layers cut off."""
    return {
        (re.sub(r"[0-9a-f]{10}$", "", name) if r["Type"] in HASHED else name): r["Type"]
        for name, r in template["Resources"].items()
    }


def as_stack_name(value: Any) -> Any:
    """The fleet template's NamePrefix read back as AWS::StackName (what it stands for)."""
    if isinstance(value, dict):
        if value == {"Ref": "NamePrefix"}:
            return {"Ref": "AWS::StackName"}
        return {k: as_stack_name(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_stack_name(v) for v in value]
    if isinstance(value, str):
        return value.replace("${NamePrefix}", "${AWS::StackName}")
    return value


def sam_refs(value: Any, fleet: dict[str, Any]) -> Any:
    """template.yaml's `!Ref Function.Version`/`Function.Alias` as SAM resolves them (the version's and alias's ids)."""
    (version,) = of_type(fleet, "AWS::Lambda::Version")
    (alias,) = of_type(fleet, "AWS::Lambda::Alias")
    if isinstance(value, dict):
        if value.get("Ref") in ("Function.Version", "Function.Alias"):
            return {"Ref": version if value["Ref"].endswith("Version") else alias}
        return {k: sam_refs(v, fleet) for k, v in value.items()}
    if isinstance(value, list):
        return [sam_refs(v, fleet) for v in value]
    return value


def role_actions(template: dict[str, Any], role: str) -> set[str]:
    """Every Action string of a role's inline policies (both branches of a conditional statement) and its managed
    policy ARNs."""
    props = template["Resources"][role]["Properties"]

    def statements(value: Any) -> list[dict[str, Any]]:
        if isinstance(value, dict) and "Fn::If" in value:
            return [s for branch in value["Fn::If"][1:] for s in statements(branch)]
        return [value] if isinstance(value, dict) and "Effect" in value else []

    actions = {
        str(action)
        for policy in props.get("Policies", [])
        for raw in as_list(policy["PolicyDocument"]["Statement"])
        for statement in statements(raw)
        for action in as_list(statement["Action"])
    }
    return actions | {f"managed:{arn}" for arn in map(str, as_list(props.get("ManagedPolicyArns", [])))}


# --- no transform, lint clean ---------------------------------------------------------------------------------


def test_the_fleet_template_has_no_transform_and_no_sam_resource(
    built: Built, fleet: dict[str, Any]
) -> None:
    assert "Transform" not in fleet
    assert not [r for r in fleet["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
    assert "Serverless" not in (built.out / "template.yaml").read_text(encoding="utf-8")
    assert "Globals" not in fleet


def test_cfn_lint_passes_on_the_fleet_template(built: Built) -> None:
    assert CFN_LINT.is_file(), "run `make sam-venv` (make test does, through make lint)"
    command = [str(CFN_LINT), str(built.out / "template.yaml")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


# --- the same resources as the SAM template -------------------------------------------------------------------


def test_every_resource_of_sam_deploys_translation_is_there_with_its_type(
    fleet: dict[str, Any], sam: dict[str, Any]
) -> None:
    assert normalized_ids(fleet) == normalized_ids(sam)
    assert len(fleet["Resources"]) == len(sam["Resources"])


def test_every_resource_of_template_yaml_is_there_or_translated(fleet: dict[str, Any], source: dict[str, Any]) -> None:
    ids = normalized_ids(fleet)
    for name, resource in source["Resources"].items():
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function":
            assert ids[name] == "AWS::Lambda::Function"
            assert ids[f"{name}Version"] == "AWS::Lambda::Version"
            assert ids[f"{name}Alias{resource['Properties']['AutoPublishAlias']}"] == "AWS::Lambda::Alias"
            for event in resource["Properties"]["Events"]:
                assert ids[f"{name}{event}"] == "AWS::Events::Rule"
                assert ids[f"{name}{event}Permission"] == "AWS::Lambda::Permission"
        elif kind == "AWS::Serverless::LayerVersion":
            assert ids[name] == "AWS::Lambda::LayerVersion"
        else:
            assert ids[name] == kind, name
            assert as_stack_name(fleet["Resources"][name]) == sam_refs(resource, fleet), name  # the very same one


def test_parameters_and_conditions_are_kept_and_only_the_fleets_are_new(
    fleet: dict[str, Any], source: dict[str, Any]
) -> None:
    assert set(fleet["Parameters"]) == set(source["Parameters"]) | {"ArtifactBucketPrefix", "NamePrefix"}
    for name, spec in source["Parameters"].items():
        expected = {**spec, "Default": ""} if name in ("FrontendBucketName", "PhotosBucketName") else spec
        assert fleet["Parameters"][name] == expected, name
    assert "Default" not in fleet["Parameters"]["ArtifactBucketPrefix"]  # every StackSet names its own buckets
    assert fleet["Conditions"] == source["Conditions"]
    assert fleet["Outputs"] == sam_refs(source["Outputs"], fleet)


# --- the role ---------------------------------------------------------------------------------------------------


def test_every_role_grants_exactly_what_sam_deploys_role_grants(fleet: dict[str, Any], sam: dict[str, Any]) -> None:
    roles = of_type(sam, "AWS::IAM::Role")
    assert set(of_type(fleet, "AWS::IAM::Role")) == set(roles)
    for role in roles:
        assert role_actions(fleet, role) == role_actions(sam, role), role
        assert as_stack_name(fleet["Resources"][role]) == sam["Resources"][role], role
    assert "events:PutEvents" in role_actions(fleet, "FunctionRole")  # the central bus statement, conditional


def test_the_function_role_can_delete_no_table_bucket_backup_or_object(fleet: dict[str, Any]) -> None:
    actions = role_actions(fleet, "FunctionRole")
    assert not [a for a in actions if DESTRUCTIVE.match(a)]
    assert not [a for a in actions if a.startswith("managed:")]  # nothing widens it
    (function,) = of_type(fleet, "AWS::Lambda::Function").values()
    assert function["Properties"]["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}


# --- triggers, custom resource, alarms ----------------------------------------------------------------------------


def test_the_schedule_the_change_rule_the_custom_resource_and_the_alarms_are_there(
    fleet: dict[str, Any], source: dict[str, Any]
) -> None:
    rules = of_type(fleet, "AWS::Events::Rule")
    alias = {"Ref": "FunctionAliaslive"}
    nightly = rules["FunctionNightly"]["Properties"]
    assert nightly["ScheduleExpression"] == {"Ref": "ScheduleExpression"} and nightly["State"] == "ENABLED"
    assert [t["Arn"] for t in nightly["Targets"]] == [alias]
    changes = rules["FunctionChanges"]["Properties"]
    sam_changes = source["Resources"]["Function"]["Properties"]["Events"]["Changes"]["Properties"]
    assert changes["EventPattern"] == sam_changes["Pattern"]
    assert changes["State"] == {"Fn::If": ["ChangeEventsOn", "ENABLED", "DISABLED"]}
    assert [t["Arn"] for t in changes["Targets"]] == [alias]
    (version,) = of_type(fleet, "AWS::Lambda::Version")
    estate = fleet["Resources"]["Estate"]
    assert estate["Type"] == "Custom::Estate"
    assert estate["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["Function", "Arn"]}
    assert estate["Properties"]["FunctionVersion"] == {"Ref": version}  # SAM: Function.Version is the version ARN
    assert set(of_type(fleet, "AWS::CloudWatch::Alarm")) == set(of_type(source, "AWS::CloudWatch::Alarm"))
    assert len(of_type(fleet, "AWS::CloudWatch::Alarm")) == 6


# --- code in the artifact buckets, named by content ------------------------------------------------------------


def test_the_code_is_read_from_the_stack_regions_artifact_bucket_under_its_hash(
    built: Built, fleet: dict[str, Any]
) -> None:
    out, manifest = built.out, built.manifest
    by_id = {a["logical_id"]: a for a in manifest["artifacts"]}
    assert set(by_id) == {"Function", "DepsLayer"}
    (function,) = of_type(fleet, "AWS::Lambda::Function").values()
    (layer,) = of_type(fleet, "AWS::Lambda::LayerVersion").values()
    for code, artifact in ((function["Properties"]["Code"], by_id["Function"]),
                           (layer["Properties"]["Content"], by_id["DepsLayer"])):  # fmt: skip
        assert code == {"S3Bucket": ARTIFACT_BUCKET, "S3Key": artifact["key"]}
        assert ARTIFACT_BUCKET == {"Fn::Sub": "${ArtifactBucketPrefix}-${AWS::Region}"}
        data = (out / artifact["file"]).read_bytes()
        assert artifact["sha256"] == hashlib.sha256(data).hexdigest() and artifact["size"] == len(data)
        assert artifact["key"] == f"selfheal/{artifact['sha256']}/{artifact['logical_id']}.zip"
    with zipfile.ZipFile(out / by_id["Function"]["file"]) as zf:
        names = zf.namelist()
    assert "app.py" in names and "estate.yaml" in names and names == sorted(names)
    assert not [n for n in names if "__pycache__" in n]


def test_names_use_name_prefix_since_stackset_stack_names_are_too_long(fleet: dict[str, Any]) -> None:
    assert "AWS::StackName" not in str(fleet)
    (function,) = of_type(fleet, "AWS::Lambda::Function").values()
    assert function["Properties"]["FunctionName"] == {"Fn::Sub": "${NamePrefix}-selfheal"}
    longest = "x" * int(re.search(r"\{1,(\d+)\}", fleet["Parameters"]["NamePrefix"]["AllowedPattern"]).group(1))
    assert len(f"{longest}-selfheal") <= 64 and len(f"{longest}-followups") <= 64  # function, schedule group


def test_the_fleet_template_leaves_the_restore_drills_out(fleet: dict[str, Any]) -> None:
    # A StackSet's accounts drill with `selfheal drill` or a stack of template.yaml: no DrillSchedule, no drill role
    assert "DrillSchedule" not in fleet["Parameters"] and "HasDrillSchedule" not in fleet.get("Conditions", {})
    assert not [name for name in fleet["Resources"] if name.startswith("Drill")]
    assert "DrillSchedule" in load_template(TEMPLATE)["Parameters"]  # what is left out is there in template.yaml
