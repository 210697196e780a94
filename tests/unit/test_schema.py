"""The JSON Schema for editors agrees with the validator: the same fields, every valid file accepted, the mistakes an
editor can see rejected."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfheal import cli, schema
from selfheal.loader import DEFAULT_ESTATE_PATH, FIELDS, REQUIRED, SCHEMA_FILE, parse_estate, shipped_file
from selfheal.spec import EstateError
from tests.support.estates import GALERLY
from tests.unit import test_properties as gen
from tests.unit.test_bad_input import CASES

SCHEMA = schema.build()
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def schema_errors(doc: object) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc)]


def validator_accepts(text: str) -> bool:
    try:
        parse_estate(text, source="gen.yaml", env={})
    except EstateError:
        return False
    return True


# --- one source of truth -------------------------------------------------------------------------------------------


def test_the_shipped_schema_file_is_the_generated_one():
    """Regenerate with `python -m selfheal.schema --write` after changing spec.FIELDS or selfheal/schema.py."""
    assert shipped_file(SCHEMA_FILE).read_text(encoding="utf-8") == schema.render()


def test_the_schema_is_a_valid_draft_7_schema():
    jsonschema.Draft7Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("kind", sorted(FIELDS))
def test_every_mapping_of_the_validator_is_a_schema_object_with_exactly_its_fields(kind):
    obj = SCHEMA if kind == "estate" else SCHEMA["definitions"][kind]
    assert list(obj["properties"]) == list(FIELDS[kind])
    assert obj.get("required", []) == list(REQUIRED.get(kind, ()))
    assert obj["additionalProperties"] is False


def test_the_schema_has_no_closed_mapping_the_validator_does_not_know():
    closed = {name for name, d in SCHEMA["definitions"].items() if d.get("additionalProperties") is False}
    assert closed <= set(FIELDS)


def test_selfheal_schema_prints_it(capsys):
    assert cli.main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == SCHEMA


# --- what it accepts -----------------------------------------------------------------------------------------------


def test_the_shipped_estate_and_the_tests_copy_validate_and_name_the_schema():
    # Whatever estate is shipped (a team's in place of Galerly's) validates; the schema is beside it.
    assert schema_errors(yaml.safe_load(DEFAULT_ESTATE_PATH.read_text(encoding="utf-8"))) == []
    assert shipped_file(SCHEMA_FILE).is_file()
    text = GALERLY.read_text(encoding="utf-8")
    ref = text.splitlines()[0].split("$schema=", 1)[1]
    assert (GALERLY.parent / ref).resolve() == shipped_file(SCHEMA_FILE).resolve()
    assert schema_errors(yaml.safe_load(text)) == []


PLACEHOLDERS = """
vars: {prefix: app, region: eu-west-1, view: NEW_IMAGE, mode: provisioned, bucket: app-assets, origins: https://a.com,
       key: alias/app, ownership: ObjectWriter, restore: never, methods: GET}
table_defaults: {region: "${region}", stream: "${view}", restore: "${restore}", encryption: {kms_key: "${key}"}}
tables:
  - name: ${prefix}-users
    hash_key: {name: id, type: "${prefix}"}
    gsis: [{name: "${prefix}Index", hash_key: email, projection: "${view}"}]
buckets:
  - name: ${bucket}
    region: ${region}
    object_ownership: ${ownership}
    encryption: {kms_key: "${key}"}
    policy:
      statements:
        - {Sid: "${prefix}", Effect: Deny, Principal: "*", Action: "s3:*", Resource: "arn:aws:s3:::${bucket}/*"}
    cors: [{allowed_origins: "${origins}", allowed_methods: ["${methods}"]}]
"""


def test_var_placeholders_validate_wherever_a_string_goes():
    assert schema_errors(yaml.safe_load(PLACEHOLDERS)) == []


def _check_agreement(doc: object) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True)
    if validator_accepts(text):
        assert schema_errors(yaml.safe_load(text)) == [], text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=gen.estate_doc)
def test_every_estate_the_validator_accepts_the_schema_accepts(doc):
    _check_agreement(doc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.fixed_dictionaries({"tables": st.lists(gen.table, min_size=1, max_size=3)},
                                 optional={"table_defaults": gen.estate_doc.map(lambda d: d.get("table_defaults"))}))
def test_every_table_list_the_validator_accepts_the_schema_accepts(doc):
    _check_agreement(doc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.fixed_dictionaries({"buckets": st.lists(gen.bucket, min_size=1, max_size=2)}))
def test_every_bucket_list_the_validator_accepts_the_schema_accepts(doc):
    _check_agreement(doc)


# --- what it rejects -----------------------------------------------------------------------------------------------

# Bad estates only the validator can see: they need the whole file (vars resolved, names compared, one field
# checked against another) or are not YAML an editor would hand over. Every other bad estate of test_bad_input.py
# must fail the schema too; and these must pass it, so this list cannot go stale.
SCHEMA_BLIND = {
    "lsi-named-like-a-gsi",  # names compared
    "range-key-repeats-hash",
    "gsi-attribute-typed-differently",
    "gsi-attributes-disagree-with-each-other",
    "duplicate-gsi-names",
    "duplicate-table-names",
    "region-from-vars-invalid",  # a var's value
    "gsi-capacity-on-on-demand-table",  # billing may come from table_defaults
    "duplicate-bucket-names",
    "policy-statements-not-json",  # JSON inside a string
    "policy-statements-json-with-a-bad-effect",
    "statement-resource-of-another-bucket",  # the bucket's own name
    "statement-sid-clashes-with-preset",
    "public-read-on-blocking-bucket",
    "tls-only-on-website-bucket",
    "lifecycle-duplicate-ids",
    "unresolved-var",
    "var-cycle",
    "settings-poll-nan",  # YAML's .nan compares false with every bound
    "settings-wait-timeout-nan",
    "backup-lock-min-over-max",  # one field against another
    "backup-rule-named-twice",  # names compared
    "copy-from-itself",  # the bucket's own name
    "copy-from-account-a-number-without-its-zero",  # an unquoted id, read as a number: its digits counted
    "recovery-table-window-over-pitr",  # a duration's length, in text
    "recovery-defaults-window-over-pitr",
    "recovery-rpo-over-window",  # one field against another
    "recovery-table-without-any-copy",  # the copies the whole estate declares
    "recovery-table-rpo-under-pitr-lag",
    "recovery-bucket-rpo-nightly-only",
}


def _loadable(case: tuple) -> bool:
    _, text, _, _, kwargs = case
    if kwargs:
        return False  # --set or the environment: not the file
    try:
        yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):
        return False  # not YAML: the editor's YAML parser says so
    return "duplicate key" not in case[3]  # PyYAML keeps the last of duplicate keys; editors flag them as YAML


SCHEMA_CASES = [c for c in CASES if _loadable(c)]


@pytest.mark.parametrize("case", SCHEMA_CASES, ids=[c[0] for c in SCHEMA_CASES])
def test_the_schema_rejects_what_the_validator_rejects_unless_it_needs_the_whole_file(case):
    name, text = case[0], case[1]
    errors = schema_errors(yaml.safe_load(text))
    if name in SCHEMA_BLIND:
        assert errors == [], f"{name} is caught by the schema now: take it off SCHEMA_BLIND"
    else:
        assert errors, f"{name}: the validator rejects it, the schema accepts it"


def test_most_bad_estates_are_caught_while_typing():
    assert set(SCHEMA_BLIND) <= {c[0] for c in SCHEMA_CASES}
    assert len(SCHEMA_CASES) - len(SCHEMA_BLIND) >= 60


# --- the validator's share of the agreement: what it accepted and no editor could ---------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("table_defaults: {billing: pay-as-you-go}\ntables: [{name: app-users, hash_key: id, billing: on-demand}]\n",
         "table_defaults.billing"),
        ("table_defaults: {pitr: {recovery_days: 90}}\nbuckets: [{name: app-bucket}]\n",
         "table_defaults.pitr.recovery_days"),
        ("version: true\ntables: [{name: app-users, hash_key: id}]\n", "version"),
    ],
    ids=["overridden-default", "unused-default", "version-true"],
)
def test_what_the_schema_rejects_the_validator_rejects_too(text, path):
    assert schema_errors(yaml.safe_load(text))
    with pytest.raises(EstateError) as info:
        parse_estate(text, source="estate.yaml", env={})
    assert info.value.path == path


def test_a_name_with_a_final_newline_is_refused_as_an_editor_would():
    """Python's $ also matches before a final newline; the schema's patterns are ECMA's, where it does not."""
    with pytest.raises(EstateError) as info:
        parse_estate('tables: [{name: "app-users\\n", hash_key: id}]\n', source="estate.yaml", env={})
    assert info.value.path == "tables[0].name"
