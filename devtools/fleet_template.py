"""The StackSet-ready template: template.yaml with the SAM transform applied here, code read from regional buckets.

    make fleet-template        (.venv-sam/bin/python devtools/fleet_template.py [--build-dir DIR] [--out DIR])

CloudFormation StackSets reject a template that has a ``Transform``, so the SAM transform runs here, offline, with
the ``samtranslator`` library SAM CLI brings (the same one ``sam validate`` uses; it lives in ``.venv-sam``). What
changes from template.yaml, and only this:

* the function's and the layer's code come from ``${ArtifactBucketPrefix}-${AWS::Region}`` (a Lambda function reads
  its code only from a bucket in its own region), under keys named by the zip's SHA-256,
  ``selfheal/<sha256>/<LogicalId>.zip``: a StackSet update replaces code only when the code changed;
* new parameter ``ArtifactBucketPrefix``; ``FrontendBucketName``/``PhotosBucketName`` default to "" (per-account names,
  ``<Prefix>-frontend-app-<account id>-<region>``: bucket names are global);
* new parameter ``NamePrefix`` (default ``selfheal``) stands for ``AWS::StackName`` in resource names: a StackSet
  names its stacks ``StackSet-<name>-<uuid>``, which would make ``<stack>-selfheal`` longer than the 64 characters a
  function name or a schedule group name may have;
* no restore drills: the ``DrillSchedule`` parameter and what it adds (the drill function, its roles, log group and
  alarms) are left out — an account of a fleet drills with ``selfheal drill`` or a stack of template.yaml.

The zips are built from ``sam build``'s output (``.aws-sam/build``, ``make build``) deterministically: entries
sorted, fixed timestamps and modes, no ``__pycache__``; the same build gives the same bytes and the same keys.
Output: ``dist/fleet/template.yaml``, the zips, and ``dist/fleet/manifest.json`` (keys, SHA-256, sizes) that
``devtools/fleet_package.py`` uploads from.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.iam import load_template  # noqa: E402 - a SafeLoader that reads !Ref/!Sub/... as long forms

KEY_PREFIX = "selfheal"
ARTIFACT_BUCKET = {"Fn::Sub": "${ArtifactBucketPrefix}-${AWS::Region}"}
# samtranslator asks for AWS managed policy ARNs by name only when a SAM resource names one in `Policies`; a static
# map keeps it offline (no IAM ListPolicies call, no credentials). The template's one managed policy, on the plain
# BackupRestoreRole, is already an ARN; the map is what a `Policies: [Name]` would resolve to.
MANAGED_POLICIES = {
    "AWSBackupServiceRolePolicyForRestores": (
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"
    ),
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
DRILLS = ("DrillSchedule", "HasDrillSchedule")  # the parameter and the condition of template.yaml's restore drills
CODE_PROPERTY = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}
NEW_PARAMETERS: dict[str, dict[str, Any]] = {
    "ArtifactBucketPrefix": {
        "Type": "String",
        "AllowedPattern": "^[a-z0-9][a-z0-9-]{1,47}$",
        "Description": (
            "The function's and layer's code are read from the bucket <ArtifactBucketPrefix>-<region> of the stack's "
            "region (make fleet-package uploads them there; member accounts need s3:GetObject on it)."
        ),
    },
    "NamePrefix": {
        "Type": "String",
        "Default": "selfheal",
        "AllowedPattern": "^[a-zA-Z0-9-]{1,40}$",
        "Description": (
            "Stands for the stack name in the names of the function, layer, log group, schedule group, alarms and "
            "dashboard (a StackSet's stack names, StackSet-<name>-<uuid>, are too long for a function name)."
        ),
    },
}


class FleetTemplateError(Exception):
    """A build input is missing or wrong: the message names it and the fix."""


@dataclass(frozen=True)
class Artifact:
    """One code zip: which resource reads it, its key in every artifact bucket, and its content."""

    logical_id: str
    key: str
    sha256: str
    size: int
    file: str  # relative to the output directory


# --------------------------------------------------------------------------------------------------------------
# Deterministic zips
# --------------------------------------------------------------------------------------------------------------


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix()):
        if "__pycache__" in path.relative_to(root).parts or path.suffix == ".pyc":
            continue  # byte code embeds source mtimes; Lambda compiles on import
        if path.is_file():
            yield path


def deterministic_zip(source: Path, dest: Path) -> None:
    """Zip `source`'s files (symlinks followed) with sorted names, a fixed time and fixed modes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in _files(source):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.external_attr = (0o100000 | mode) << 16  # a regular file with that mode
            info.create_system = 3  # unix, so the mode is read
            zf.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------------------
# Inputs: the SAM template and sam build's output
# --------------------------------------------------------------------------------------------------------------


def code_resources(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> the property that holds its code (CodeUri/ContentUri), for every SAM function and layer."""
    return {
        logical_id: CODE_PROPERTY[resource["Type"]]
        for logical_id, resource in (template.get("Resources") or {}).items()
        if resource.get("Type") in CODE_PROPERTY
    }


def built_code_dirs(template: dict[str, Any], build_dir: Path) -> dict[str, Path]:
    """Logical id -> the directory `sam build` left its code in (the built template's CodeUri/ContentUri)."""
    built_template = build_dir / "template.yaml"
    if not built_template.is_file():
        raise FleetTemplateError(f"{built_template} is missing: run `make build` (sam build) first")
    built = load_template(built_template)
    out: dict[str, Path] = {}
    for logical_id, prop in code_resources(template).items():
        uri = ((built.get("Resources") or {}).get(logical_id) or {}).get("Properties", {}).get(prop)
        if not isinstance(uri, str):
            raise FleetTemplateError(
                f"{built_template}: {logical_id}.{prop} is not a local directory: run `make build` again"
            )
        directory = (build_dir / uri).resolve()
        if not directory.is_dir() or not any(directory.iterdir()):
            raise FleetTemplateError(f"{directory} ({logical_id}'s code) is missing or empty: run `make build` again")
        out[logical_id] = directory
    return out


def build_artifacts(template: dict[str, Any], build_dir: Path, out_dir: Path) -> list[Artifact]:
    """Zip every function's and layer's built code into `out_dir`, named by content."""
    artifacts = []
    for logical_id, directory in built_code_dirs(template, build_dir).items():
        staging = out_dir / f"{logical_id}.zip"
        deterministic_zip(directory, staging)
        digest = sha256_of(staging)
        artifacts.append(
            Artifact(
                logical_id=logical_id,
                key=f"{KEY_PREFIX}/{digest}/{logical_id}.zip",
                sha256=digest,
                size=staging.stat().st_size,
                file=staging.name,
            )
        )
    return artifacts


# --------------------------------------------------------------------------------------------------------------
# The transform
# --------------------------------------------------------------------------------------------------------------


def without_drills(template: dict[str, Any]) -> dict[str, Any]:
    """template.yaml without its restore drills (DrillSchedule, and every resource only it adds)."""
    parameter, condition = DRILLS
    out = copy.deepcopy(template)
    out["Resources"] = {k: r for k, r in out["Resources"].items() if r.get("Condition") != condition}
    out.get("Parameters", {}).pop(parameter, None)
    out.get("Conditions", {}).pop(condition, None)
    for group in out.get("Metadata", {}).get("AWS::CloudFormation::Interface", {}).get("ParameterGroups", []):
        group["Parameters"] = [p for p in group.get("Parameters", []) if p != parameter]
    return out


def prepare(template: dict[str, Any], artifacts: list[Artifact]) -> dict[str, Any]:
    """The SAM template with code in the artifact buckets and the fleet's parameters, still SAM."""
    sam = copy.deepcopy(template)
    resources = sam["Resources"]
    for artifact in artifacts:
        prop = CODE_PROPERTY[resources[artifact.logical_id]["Type"]]
        resources[artifact.logical_id]["Properties"][prop] = {"Bucket": ARTIFACT_BUCKET, "Key": artifact.key}
    parameters = sam.setdefault("Parameters", {})
    for name in NEW_PARAMETERS:
        if name in parameters:
            raise FleetTemplateError(f"template.yaml already has a parameter {name}: rename one of them")
    parameters.update(copy.deepcopy(NEW_PARAMETERS))
    for name in ("FrontendBucketName", "PhotosBucketName"):
        if name in parameters:
            parameters[name]["Default"] = ""  # each account and region gets its own names
    groups = sam.get("Metadata", {}).get("AWS::CloudFormation::Interface", {}).get("ParameterGroups")
    if isinstance(groups, list):
        groups.append({"Label": {"default": "StackSet"}, "Parameters": list(NEW_PARAMETERS)})
    return sam


def samtranslator_version() -> str:
    try:
        import samtranslator
    except ImportError as exc:
        raise FleetTemplateError(
            f"samtranslator is not importable ({exc}): run this with .venv-sam/bin/python (make sam-venv)"
        ) from exc
    return str(samtranslator.__version__)


def translate(sam: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """Apply the SAM transform with samtranslator, offline (a static managed-policy map, no credentials)."""
    samtranslator_version()  # a clear error first, when this Python has no samtranslator
    import boto3
    from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())  # its own timings; published nowhere
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region), metrics=metrics)
    translated: dict[str, Any] = translator.translate(
        copy.deepcopy(sam), parameter_values={}, get_managed_policy_map=lambda: dict(MANAGED_POLICIES)
    )
    metrics.publish()
    return translated


def sam_translation(template: dict[str, Any]) -> dict[str, Any]:
    """template.yaml as the single-account `sam deploy` has CloudFormation transform it (code packaged to an S3 URI,
    as `sam package` writes it): what the fleet template is compared with."""
    sam = copy.deepcopy(template)
    for logical_id, prop in code_resources(sam).items():
        sam["Resources"][logical_id]["Properties"][prop] = f"s3://sam-deploy-bucket/{logical_id}"
    return translate(sam)


def _name_prefix(value: Any) -> tuple[Any, int]:
    """`value` with AWS::StackName replaced by the NamePrefix parameter (Ref and ${} in Sub), and the count."""
    if isinstance(value, list):
        pairs = [_name_prefix(v) for v in value]
        return [v for v, _ in pairs], sum(n for _, n in pairs)
    if not isinstance(value, dict):
        return value, 0
    if value == {"Ref": "AWS::StackName"}:
        return {"Ref": "NamePrefix"}, 1
    if len(value) == 1 and "Fn::Sub" in value:
        arg = value["Fn::Sub"]
        body, extra = (arg[0], arg[1]) if isinstance(arg, list) else (arg, None)
        count = body.count("${AWS::StackName}") if isinstance(body, str) else 0
        if count:
            body = body.replace("${AWS::StackName}", "${NamePrefix}")
        if extra is not None:
            extra, more = _name_prefix(extra)
            return {"Fn::Sub": [body, extra]}, count + more
        return {"Fn::Sub": body}, count
    out, total = {}, 0
    for key, item in value.items():
        out[key], n = _name_prefix(item)
        total += n
    return out, total


CODE_OF = {"AWS::Lambda::Function": "Code", "AWS::Lambda::LayerVersion": "Content"}


def finish(translated: dict[str, Any], artifacts: list[Artifact]) -> dict[str, Any]:
    """The translated template made StackSet-ready: no Transform, code in the stack region's artifact bucket, names
    from NamePrefix."""
    plain = {k: v for k, v in translated.items() if k != "Transform"}
    keys = {a.key for a in artifacts}
    placed = set()
    for resource in plain["Resources"].values():
        code = (resource.get("Properties") or {}).get(CODE_OF.get(resource.get("Type", ""), ""))
        if isinstance(code, dict) and code.get("S3Key") in keys:
            # samtranslator resolves ${AWS::Region} in CodeUri with the region it runs in: put the pseudo one back
            code["S3Bucket"] = copy.deepcopy(ARTIFACT_BUCKET)
            placed.add(code["S3Key"])
    if placed != keys:
        missing = sorted(keys - placed)
        raise FleetTemplateError(f"the translated template does not read {missing}: has samtranslator changed?")
    for section in ("Resources", "Outputs"):
        if section in plain:
            plain[section], _ = _name_prefix(plain[section])
    return plain


# --------------------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, multi-line strings as literal blocks, no anchors: a template people can read and diff."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(template: dict[str, Any], header: str) -> str:
    body = yaml.dump(template, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
    return "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + body


def generate(
    template_path: Path, build_dir: Path, out_dir: Path, sam_translation_path: Path | None = None
) -> dict[str, Any]:
    """Write out_dir/template.yaml, the zips and out_dir/manifest.json; return the manifest. With
    `sam_translation_path`, also write there what the single-account `sam deploy` path deploys (for comparison)."""
    version = samtranslator_version()
    template = without_drills(load_template(template_path))
    if template.get("Transform") != "AWS::Serverless-2016-10-31":
        raise FleetTemplateError(f"{template_path} is not a SAM template (Transform AWS::Serverless-2016-10-31)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.zip"):
        stale.unlink()
    artifacts = build_artifacts(template, build_dir, out_dir)
    plain = finish(translate(prepare(template, artifacts)), artifacts)
    header = (
        f"Generated by `make fleet-template` from {template_path.name}: the SAM transform applied by samtranslator "
        f"{version}.\nDo not edit: change {template_path.name} and generate again. For StackSets; "
        "the code is read from\n<ArtifactBucketPrefix>-<region> (make fleet-package; docs/fleet-template.md)."
    )
    text = to_yaml(plain, header)
    (out_dir / "template.yaml").write_text(text, encoding="utf-8")
    manifest = {
        "template": "template.yaml",
        "template_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "template_size": len(text.encode()),
        "samtranslator": version,
        "artifact_bucket": "<ArtifactBucketPrefix>-<region>",
        "artifacts": [asdict(a) for a in artifacts],
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if sam_translation_path is not None:
        sam_translation_path.write_text(to_yaml(sam_translation(template), "sam deploy's translation"), "utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "fleet")
    parser.add_argument("--sam-translation", type=Path, metavar="PATH",
                        help="also write the plain translation the single-account sam deploy gets, to compare")
    args = parser.parse_args(argv)
    try:
        manifest = generate(args.template, args.build_dir, args.out, args.sam_translation)
    except FleetTemplateError as exc:
        print(f"fleet-template: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out / 'template.yaml'} ({manifest['template_size']} bytes, no Transform)")
    for artifact in manifest["artifacts"]:
        print(f"  {artifact['logical_id']}: {artifact['key']} ({artifact['size']} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
