"""`make build ESTATE=...` (devtools/buildapp.py): the application for any estate, its role generated from it.

The role is read from the built template and evaluated by the IAM enforcer the local AWS runs (devtools/iam.py):
it reaches exactly the estate's tables and buckets, in its region, and nothing else; its policies stay within IAM's
quotas, which moto does not enforce and a deploy does (measured here with every parameter at its longest).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools import buildapp
from devtools.buildapp import BuildError, build
from devtools.iam import (
    Resolver,
    allowed,
    allower,
    as_list,
    conditioned,
    function_role_statements,
    load_template,
    template_variables,
)
from selfheal.kinds import kinds
from tests.unit.test_template import ENGINE_CALLS, _role_table

ROOT = Path(__file__).resolve().parents[2]
HARBOR = ROOT / "tests" / "fixtures" / "harbor.yaml"
SHIPPED = ROOT / "functions" / "selfheal" / "estate.yaml"
REGION, ACCOUNT = "us-east-1", "123456789012"
HARBOR_TABLES = ["shop-orders-prod", "billing-invoices", "catalog-items"]
HARBOR_BUCKETS = ["harbor-assets-example", "harbor-uploads-example", "reports-archive-example"]
GALERLY_TABLES = [f"galerly-{t}" for t in (
    "users", "galleries", "photos", "sessions", "newsletters", "contact", "billing", "subscriptions", "analytics",
    "client-favorites", "client-feedback", "visitor-tracking", "notification-preferences")]
GALERLY_BUCKETS = ["galerly-frontend-app", "galerly-images-storage"]


def built_template(tmp_path: Path, *estates: Path) -> Path:
    """The built template for `estates`, written where sam build would read it."""
    built = build(list(estates), out=tmp_path)
    return buildapp.write(built, tmp_path, list(estates))


@pytest.fixture(scope="module")
def harbor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_template(tmp_path_factory.mktemp("harbor"), HARBOR)


def reaches(template: Path, service: str, names: list[str], **parameters: str) -> dict[str, bool]:
    """name -> whether every call the engine makes on such a resource is allowed."""
    allows = allower(template, REGION, ACCOUNT, parameters or None)
    operations = [op for s, op in ENGINE_CALLS if s == service]
    return {name: all(allows(op, service, name) for op in operations) for name in names}


# --- the role reaches exactly the estate ------------------------------------------------------------------------


def test_the_role_reaches_every_table_and_bucket_of_the_estate_and_no_other(harbor: Path) -> None:
    others_tables = ["shop-orders-dev", "shop-orders", "billing-invoices-old", "catalog", "galerly-users",
                     f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/billing-invoices",  # another region
                     f"arn:aws:dynamodb:{REGION}:999999999999:table/billing-invoices"]  # another account
    others_buckets = ["harbor-assets-example-2", "harbor-uploads", "galerly-images-storage", "reports-archive"]
    assert reaches(harbor, "dynamodb", HARBOR_TABLES) == dict.fromkeys(HARBOR_TABLES, True)
    assert reaches(harbor, "s3", HARBOR_BUCKETS) == dict.fromkeys(HARBOR_BUCKETS, True)
    allows = allower(harbor, REGION, ACCOUNT)
    for service, op, names in (("dynamodb", "DescribeTable", others_tables), ("s3", "GetBucketPolicy", others_buckets)):
        assert [n for n in names if allows(op, service, n)] == []


def test_the_estates_deploy_time_vars_are_stack_parameters_the_role_follows(harbor: Path) -> None:
    template = load_template(harbor)
    params = template["Parameters"]
    assert {"Stage", "AssetsBucket"} <= set(params)
    assert (params["Stage"]["Default"], params["AssetsBucket"]["Default"]) == ("prod", "harbor-assets-example")
    galerly = {"Prefix", "FrontendBucketName", "PhotosBucketName", "CorsAllowedOrigins", "PhotosCopyBucketName"}
    assert galerly & set(params) == set()
    env = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert env["SELFHEAL_VAR_STAGE"] == {"Ref": "Stage"}
    assert env["SELFHEAL_VAR_ASSETS_BUCKET"] == {"Ref": "AssetsBucket"}
    assert not {k for k in env if k.startswith("SELFHEAL_VAR_")} - {
        "SELFHEAL_VAR_STAGE", "SELFHEAL_VAR_ASSETS_BUCKET", "SELFHEAL_VAR_REGION", "SELFHEAL_VAR_BACKUP_ROLE"}
    dev = reaches(harbor, "dynamodb", ["shop-orders-dev", "shop-orders-prod"], Stage="dev")
    assert dev == {"shop-orders-dev": True, "shop-orders-prod": False}
    moved = reaches(harbor, "s3", ["acme-assets", "harbor-assets-example"], AssetsBucket="acme-assets")
    assert moved == {"acme-assets": True, "harbor-assets-example": False}


def test_the_built_function_carries_the_estate_and_loads_it_with_what_the_stack_sets(harbor: Path) -> None:
    from selfheal.loader import load_estate

    carried = harbor.parent / "function" / "estate.yaml"
    assert carried.read_text(encoding="utf-8") == HARBOR.read_text(encoding="utf-8") and not carried.is_symlink()
    assert (harbor.parent / "function" / "app.py").is_file()
    template = load_template(harbor)
    assert template["Resources"]["Function"]["Properties"]["CodeUri"] == "function/"
    layer = harbor.parent / template["Resources"]["DepsLayer"]["Properties"]["ContentUri"]
    assert (layer / "requirements.txt").is_file()
    env = {"SELFHEAL_VAR_STAGE": "dev", "SELFHEAL_VAR_ASSETS_BUCKET": "acme-assets", "SELFHEAL_VAR_REGION": "eu-west-1",
           "SELFHEAL_VAR_BACKUP_ROLE": "arn:aws:iam::123456789012:role/x"}
    estate = load_estate(carried, env=env)
    assert [t.name for t in estate.tables] == ["shop-orders-dev", "billing-invoices", "catalog-items"]
    assert {t.region for t in estate.tables} == {"eu-west-1"}  # the stack's region, as the role's ARNs say


def test_no_statement_is_a_wildcard_over_every_table_or_bucket(harbor: Path) -> None:
    template = load_template(harbor)
    # the actions AWS offers no resource type for: "*" is the only resource they can have
    unscoped = {"dynamodb:listbackups", "backup:listrecoverypointsbyresource", "s3:listallmybuckets",
                "backup:listbackupplans", "backup:describerestorejob", "xray:puttracesegments",
                "xray:puttelemetryrecords", "sts:getcalleridentity", "s3:getaccountpublicaccessblock"}
    for role in ("FunctionRole", "BackupRestoreRole"):
        for statement in function_role_statements(template, role):
            resources = [r.get("Fn::Sub", r) if isinstance(r, dict) else r for r in as_list(statement["Resource"])]
            if "*" in resources:
                assert {str(a).lower() for a in as_list(statement["Action"])} <= unscoped, statement["Sid"]
            for resource in map(str, resources):
                assert not re.search(r"(:table/\*|:::\*|backup-vault:\*)", resource), (statement["Sid"], resource)


@pytest.mark.parametrize("estate", [HARBOR, HARBOR.with_name("harbor-iam.yaml")], ids=["harbor", "with-backups"])
def test_the_generated_statements_are_the_ones_the_docs_table_describes(estate: Path, tmp_path: Path) -> None:
    documented = _role_table()
    template = load_template(built_template(tmp_path, estate))
    sids = set()
    for label, role in (("function", "FunctionRole"), ("restore", "BackupRestoreRole")):
        for statement in function_role_statements(template, role):
            sid = statement["Sid"]
            if (label, sid) not in documented:  # a statement cut in parts to fit is numbered
                sid = sid.rstrip("0123456789")
            sids.add(sid)
            assert documented[(label, sid)] == {str(a).lower() for a in as_list(statement["Action"])}
    # only the kinds the estate declares: its AWS Backup plan statements come with a `backups:` section
    assert ("ObserveCreateAndRepairBackupPlans" in sids) is ("backups:" in estate.read_text(encoding="utf-8"))


def test_the_shipped_estate_builds_a_role_that_reaches_what_template_yaml_reaches(tmp_path: Path) -> None:
    # template.yaml stays the shipped application (make build without ESTATE); the generated one for the same estate
    # reaches the same tables and buckets, by their exact names where template.yaml has ${Prefix}-*.
    generated = built_template(tmp_path, SHIPPED)
    shipped = ROOT / "template.yaml"
    for template in (shipped, generated):
        assert reaches(template, "dynamodb", GALERLY_TABLES) == dict.fromkeys(GALERLY_TABLES, True)
        assert reaches(template, "s3", GALERLY_BUCKETS) == dict.fromkeys(GALERLY_BUCKETS, True)
    assert not allowed(generated, "DescribeTable", "dynamodb", "galerly-anything", REGION, ACCOUNT)
    assert allowed(shipped, "DescribeTable", "dynamodb", "galerly-anything", REGION, ACCOUNT)  # ${Prefix}-*
    params = load_template(generated)["Parameters"]
    assert {"Prefix", "FrontendBucket", "PhotosBucket"} <= set(params)
    assert params["Prefix"]["Default"] == "galerly" and params["PhotosBucket"]["Default"] == "galerly-images-storage"


# --- IAM's quotas ----------------------------------------------------------------------------------------------


def estate_of(n: int, prefixed: bool = True) -> str:
    """n resources, two tables for each bucket: under one prefix var, or each name its own word."""
    def name(kind: str, i: int) -> str:
        return f"${{prefix}}-{kind}-{i:03d}" if prefixed else f"{kind}{i:03d}x{'abcdefgh'[i % 8]}"

    tables = [{"name": name("t", i), "hash_key": "id"} for i in range(n - n // 3)]
    buckets = [{"name": name("b", i)} for i in range(n // 3)]
    return yaml.safe_dump({"version": 1, "vars": {"prefix": {"default": "big", "overridable": True},
                                                  "region": "us-east-1"},
                           "tables": tables, "buckets": buckets}, sort_keys=False)


def deep_resolve(value: Any, resolver: Resolver) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("Ref", "Fn::Sub", "Fn::GetAtt", "Fn::Join"):
            return resolver(value)
        return {k: deep_resolve(v, resolver) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_resolve(v, resolver) for v in value]
    return value


def deployed_sizes(template_path: Path) -> dict[str, Any]:
    """Each role's inline characters and managed policies' characters, deployed with every estate parameter at its
    longest, in the longest region name and the longest partition (whitespace not counted, as IAM counts)."""
    template = load_template(template_path)
    longest = {name: "x" * spec["MaxLength"] for name, spec in template["Parameters"].items() if "MaxLength" in spec}
    variables = template_variables(template, "ap-southeast-7", ACCOUNT, "aws-us-gov", longest)
    template = conditioned(template, variables)
    resolver = Resolver(template, variables)

    def chars(document: Any) -> int:
        return len(re.sub(r"\s", "", json.dumps(deep_resolve(document, resolver), separators=(",", ":"))))

    resources = template["Resources"]
    out: dict[str, Any] = {}
    for role in ("FunctionRole", "BackupRestoreRole"):
        props = resources[role]["Properties"]
        managed = [resources[ref["Ref"]]["Properties"]["PolicyDocument"] for ref in props.get("ManagedPolicyArns", [])]
        out[role] = {"inline": sum(chars(p["PolicyDocument"]) for p in props.get("Policies", [])),
                     "managed": [chars(d) for d in managed]}
    pattern = resources["Function"]["Properties"]["Events"]["Changes"]["Properties"]["Pattern"]
    out["pattern"] = len(json.dumps(deep_resolve(pattern, resolver), separators=(",", ":")))
    return out


@pytest.mark.parametrize("size", [15, 150, 500])
def test_the_role_stays_within_iams_quotas_for_estates_of_15_150_and_500_resources(size: int, tmp_path: Path) -> None:
    estate = tmp_path / f"estate-{size}.yaml"
    estate.write_text(estate_of(size), encoding="utf-8")
    built = build([estate], out=tmp_path)
    path = buildapp.write(built, tmp_path, [estate])
    sizes = deployed_sizes(path)
    for role in ("FunctionRole", "BackupRestoreRole"):
        assert sizes[role]["inline"] <= 10_240, (role, sizes[role])
        assert len(sizes[role]["managed"]) <= 10, (role, sizes[role])
        assert all(chars <= 6_144 for chars in sizes[role]["managed"]), (role, sizes[role])
    assert sizes["pattern"] <= 2_048
    tables = [p.name for p in built.placed["tables"]]
    if size == 15:  # exact names fit
        assert len(tables) == 10 and not any(t.endswith("*") for t in tables)
    if size == 500:  # they cannot: the prefix the estate names them with
        assert tables == ["${Prefix}-*"]
    assert reaches(path, "dynamodb", ["big-t-000", f"big-t-{size - size // 3 - 1:03d}"]) == {
        "big-t-000": True, f"big-t-{size - size // 3 - 1:03d}": True}
    assert not allowed(path, "DescribeTable", "dynamodb", "other-t-000", REGION, ACCOUNT)


def test_an_estate_too_large_for_the_role_even_by_its_prefixes_is_refused_with_the_fix(tmp_path: Path) -> None:
    estate = tmp_path / "sprawl.yaml"
    estate.write_text(estate_of(500, prefixed=False), encoding="utf-8")
    with pytest.raises(BuildError, match=r"over IAM's|more than IAM's") as exc:
        build([estate], out=tmp_path)
    assert "name them under fewer prefixes" in str(exc.value) and "\n" not in str(exc.value)


# --- bad input: one line naming the problem and the fix, exit 1, nothing built ----------------------------------


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *estates: Path) -> str:
    out = tmp_path / "out"
    code = buildapp.main([*map(str, estates), "--out", str(out)], say=lambda _: None)
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert len(err.strip().splitlines()) == 1, err
    return err


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_estate_path_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = run(tmp_path, capsys, tmp_path / "nope.yaml")
    assert "nope.yaml: no such estate file" in err and "make build ESTATE=" in err


def test_an_estate_that_does_not_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "bad.yaml", "version: 1\ntables:\n  - {name: orders, hash_key: id, billing: sometimes}\n")
    err = run(tmp_path, capsys, bad)
    assert "bad.yaml: tables[0].billing" in err and "selfheal plan --estate" in err


def test_a_var_the_estate_needs_that_is_not_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unset = write(tmp_path, "unset.yaml", 'version: 1\nvars: {team: ""}\ntables:\n  - {name: "orders-${team}", '
                                          "hash_key: id}\n")
    err = run(tmp_path, capsys, unset)
    assert "vars.team: empty" in err and "give it a value" in err


def test_a_name_only_known_at_run_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the stack sets SELFHEAL_VAR_BACKUP_ROLE to its BackupRole's ARN: the estate's own value is not what runs
    late = write(tmp_path, "late.yaml", 'version: 1\nvars: {backup_role: placeholder}\n'
                                        'tables:\n  - {name: "orders-${backup_role}", hash_key: id}\n')
    err = run(tmp_path, capsys, late)
    assert "tables[0].name" in err and "only known when the function runs" in err


def test_two_estates_naming_the_same_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path, "a.yaml", "version: 1\ntables:\n  - {name: shared-orders, hash_key: id}\n")
    b = write(tmp_path, "b.yaml", "version: 1\ntables:\n  - {name: shared-orders, hash_key: id}\n"
                                  "  - {name: b-only, hash_key: id}\n")
    err = run(tmp_path, capsys, a, b)
    assert "b.yaml: table 'shared-orders' is also declared by" in err and "a.yaml" in err
    assert "declare it in one estate only" in err


def test_two_estates_that_do_not_overlap_are_one_application(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "version: 1\ntable_defaults: {billing: on-demand, tags: {team: a}}\n"
                                  "tables:\n  - {name: a-orders, hash_key: id}\n")
    b = write(tmp_path, "b.yaml", "version: 1\nbuckets:\n  - {name: b-assets-example}\n")
    built = build([a, b], out=tmp_path)
    assert [s.name for s in built.estate.resources] == ["a-orders", "b-assets-example"]
    assert built.estate.tables[0].tags == (("team", "a"),)  # a's defaults stay a's


def test_every_shipped_kind_gives_the_builder_its_statements_and_filters() -> None:
    from selfheal.kinds.base import Placed

    placed = [Placed("x-one", "${AWS::Region}")]
    for kind in kinds():
        assert kind.permissions(placed), kind.name
        assert kind.event_filters(placed), kind.name
        assert kind.permissions([]) == {} and kind.event_filters([]) == []


def test_a_buckets_copy_and_mass_delete_warning_are_granted_and_routed_for_that_bucket_only(tmp_path: Path) -> None:
    estate = write(tmp_path, "copies.yaml", """version: 1
vars:
  replica: {default: shop-photos-replica, overridable: true}
buckets:
  - {name: shop-photos, versioning: true, copy_from: {bucket: "${replica}", account: '210987654321'}}
  - {name: shop-site, copy_from: aws-backup}
  - {name: shop-logs}
""")
    path = built_template(tmp_path / "out", estate)
    template = load_template(path)
    function = {s["Sid"]: s for s in function_role_statements(template, "FunctionRole")}
    read = function["ReadThePhotosCopy"]
    assert [r["Fn::Sub"] for r in read["Resource"]] == ["arn:${AWS::Partition}:s3:::${Replica}",
                                                        "arn:${AWS::Partition}:s3:::${Replica}/*"]
    assert read["Condition"] == {"StringEquals": {"s3:ResourceAccount": "210987654321"}}  # the replica's owner
    refill = function["RefillThePhotosBucketFromItsCopy"]
    assert refill["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::shop-photos/*"}]
    assert "WatchRestoreJobsNoResourceType" in function  # shop-site comes back from AWS Backup
    restore = {s["Sid"]: s for s in function_role_statements(template, "BackupRestoreRole")}
    assert restore["RestoreIntoThePhotosBucket"]["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::shop-site"}]
    assert restore["RestoreThePhotosObjects"]["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::shop-site/*"}]
    events = template["Resources"]["Function"]["Properties"]["Events"]
    # only the versioned bucket warns of a mass delete (the default), so only its deletions reach the function
    assert events["Deletions"]["Properties"]["Pattern"]["detail"] == {"bucket": {"name": ["shop-photos"]}}
    plain = load_template(built_template(tmp_path / "plain", HARBOR.with_name("acme.yaml")))
    assert "Deletions" not in plain["Resources"]["Function"]["Properties"]["Events"]
    assert {"ReadThePhotosCopy", "WatchRestoreJobsNoResourceType"}.isdisjoint(
        s["Sid"] for s in function_role_statements(plain, "FunctionRole"))


def granted(template: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(role, Sid, action) of both roles, both branches of a conditional statement."""
    out = set()
    for role in ("FunctionRole", "BackupRestoreRole"):
        for statement in function_role_statements(template, role):
            for action in as_list(statement["Action"]):
                out.add((role, statement["Sid"], str(action)))
    return out


def test_template_yaml_and_the_kinds_grant_the_same_actions_under_the_same_sids(tmp_path: Path) -> None:
    # The shipped estate with every feature the role serves declared (AWS Backup plans, a replica, a bucket restored
    # by AWS Backup): a statement added to template.yaml and not to its kind (or the reverse) fails here.
    doc = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    doc["vars"]["backup_role"] = "arn:aws:iam::123456789012:role/x"
    doc["buckets"][0]["copy_from"] = "aws-backup"
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    doc["buckets"][0]["encryption"] = {"kms_key": key}
    doc["buckets"][1]["copy_from"] = {"bucket": "galerly-images-replica"}
    doc["backups"] = [{"name": "galerly-backups", "rules": [{"name": "nightly", "schedule": "cron(0 2 * * ? *)",
                                                             "retention_days": 35}],
                       "selection": {"role": "${backup_role}", "tables": ["${prefix}-users"]}}]
    everything = write(tmp_path, "everything.yaml", yaml.safe_dump(doc, sort_keys=False))
    generated = granted(load_template(built_template(tmp_path / "out", everything)))
    shipped = granted(load_template(ROOT / "template.yaml"))
    assert shipped - generated == set() and generated - shipped == set()
