"""The declared estate, read the way it is meant to be: the shipped file, vars, overrides, defaults, --only."""

from __future__ import annotations

import pytest

from selfheal.loader import load_estate, parse_estate
from selfheal.spec import ON_DEMAND, PROVISIONED, EstateError
from tests.support.estates import GALERLY
from tests.support.seed import SEED_BUCKETS, SEED_TABLES

pytestmark = pytest.mark.usefixtures("yaml_parser")  # each test twice: libyaml's parser, then the pure-Python one


def shipped(**kwargs):
    kwargs.setdefault("env", {})
    return load_estate(GALERLY, **kwargs)


def test_shipped_estate_declares_the_seeds_13_tables_and_2_buckets():
    estate = shipped()
    assert tuple(t.name for t in estate.tables) == SEED_TABLES
    assert tuple(b.name for b in estate.buckets) == SEED_BUCKETS
    assert {t.region for t in estate.tables} | {b.region for b in estate.buckets} == {"us-east-1"}
    assert estate.source == str(GALERLY)


def test_shipped_photos_bucket_is_private_tls_only_with_the_galerly_cors_origin():
    photos = shipped().buckets[1]
    assert photos.cors[0].allowed_origins == ("https://galerly.com",)
    assert photos.cors[0].allowed_methods == ("GET", "HEAD", "PUT", "POST")
    assert all(photos.bpa.values())
    assert not photos.is_public
    assert photos.versioning is True
    [stmt] = photos.statements
    assert stmt["Effect"] == "Deny"
    assert stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert stmt["Resource"] == ["arn:aws:s3:::galerly-images-storage", "arn:aws:s3:::galerly-images-storage/*"]


def test_shipped_frontend_bucket_is_a_public_read_website():
    web = shipped().buckets[0]
    assert web.website is not None and web.website.index_document == "index.html"
    assert web.website.error_document == "404.html"
    assert web.is_public
    assert web.bpa == {
        "block_public_acls": True,
        "ignore_public_acls": True,
        "block_public_policy": False,
        "restrict_public_buckets": False,
    }
    [stmt] = web.statements
    assert stmt["Principal"] == "*" and stmt["Action"] == "s3:GetObject"
    assert stmt["Resource"] == "arn:aws:s3:::galerly-frontend-app/*"


def test_table_defaults_apply_to_every_shipped_table():
    for table in shipped().tables:
        assert table.billing == ON_DEMAND
        assert table.kms_key is None  # aws-managed
        assert (table.pitr, table.recovery_days) == (True, 35)
        assert table.deletion_protection is True
        assert table.restore is True
        assert dict(table.tags) == {"app": "galerly", "managed-by": "selfheal"}


def test_shipped_tables_keep_their_keys_indexes_ttl_and_stream():
    by_name = {t.name: t for t in shipped().tables}
    photos = by_name["galerly-photos"]
    assert (photos.hash_key.name, photos.range_key.name) == ("gallery_id", "id")
    assert [g.name for g in photos.gsis] == ["PhotoIdIndex", "UserPhotosIndex"]
    assert photos.gsis[1].projection == "KEYS_ONLY"
    assert by_name["galerly-sessions"].ttl == "expires_at"
    assert by_name["galerly-subscriptions"].stream == "NEW_AND_OLD_IMAGES"
    assert by_name["galerly-newsletters"].gsis == ()
    assert by_name["galerly-users"].attributes == {"email": "S", "id": "S"}


def test_set_overrides_rename_every_resource():
    estate = shipped(overrides={"prefix": "staging", "frontend_bucket": "staging-web", "photos_bucket": "staging-pics"})
    assert tuple(t.name for t in estate.tables) == tuple(n.replace("galerly-", "staging-") for n in SEED_TABLES)
    assert tuple(b.name for b in estate.buckets) == ("staging-web", "staging-pics")
    # the policy follows the renamed bucket
    assert estate.buckets[1].statements[0]["Resource"][0] == "arn:aws:s3:::staging-pics"
    assert dict(estate.variables)["prefix"] == "staging"


def test_environment_overrides_a_var():
    estate = shipped(env={"SELFHEAL_VAR_PHOTOS_BUCKET": "my-photos"})
    assert estate.buckets[1].name == "my-photos"


def test_set_wins_over_the_environment():
    estate = shipped(env={"SELFHEAL_VAR_PREFIX": "from-env"}, overrides={"prefix": "from-set"})
    assert estate.tables[0].name == "from-set-users"


def test_comma_separated_cors_origins_from_the_environment_become_two_origins():
    estate = shipped(env={"SELFHEAL_VAR_CORS_ORIGINS": "https://a.com,https://b.com"})
    assert estate.buckets[1].cors[0].allowed_origins == ("https://a.com", "https://b.com")


def test_an_empty_environment_value_does_not_override():
    assert shipped(env={"SELFHEAL_VAR_PREFIX": ""}).tables[0].name == "galerly-users"


def test_soft_overrides_apply_only_to_declared_vars():
    estate = shipped(soft_overrides={"region": "eu-west-1"})
    assert {t.region for t in estate.tables} == {"eu-west-1"}
    text = "tables:\n  - {name: plain-table, hash_key: id}\n"
    assert parse_estate(text, soft_overrides={"region": "eu-west-1"}).tables[0].region == "us-east-1"


def test_max_missing_percent_from_the_environment():
    assert shipped().settings.max_missing_percent == 50.0
    assert shipped(env={"SELFHEAL_MAX_MISSING_PERCENT": "12.5"}).settings.max_missing_percent == 12.5


def test_the_estate_file_comes_from_selfheal_estate(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("tables:\n  - {name: only-table, hash_key: id}\n")
    estate = load_estate(env={"SELFHEAL_ESTATE": str(path)})
    assert [t.name for t in estate.tables] == ["only-table"]
    assert estate.source == str(path)


def test_double_dollar_escapes_to_a_literal_reference():
    text = """
vars: {who: team}
tables:
  - name: esc-table
    hash_key: id
    tags: {note: "$${who} is ${who}", raw: "$${not_a_var}"}
"""
    tags = dict(parse_estate(text).tables[0].tags)
    assert tags == {"note": "${who} is team", "raw": "${not_a_var}"}


def test_vars_may_refer_to_other_vars():
    text = """
vars: {env: dev, prefix: "app-${env}"}
tables:
  - {name: "${prefix}-users", hash_key: id}
"""
    assert parse_estate(text).tables[0].name == "app-dev-users"


def test_a_table_overrides_table_defaults_field_by_field():
    text = """
table_defaults:
  billing: {mode: provisioned, read_capacity: 5, write_capacity: 7}
  pitr: {enabled: true, recovery_days: 7}
  deletion_protection: false
  tags: {team: core}
tables:
  - {name: inherits, hash_key: id}
  - name: overrides
    hash_key: {name: pk, type: N}
    billing: on-demand
    pitr: false
    deletion_protection: true
    restore: never
    tags: {team: edge}
    gsis: [{name: ByOwner, hash_key: owner}]
"""
    inherits, overrides = parse_estate(text).tables
    assert (inherits.billing, inherits.read_capacity, inherits.write_capacity) == (PROVISIONED, 5, 7)
    assert (inherits.pitr, inherits.recovery_days, inherits.deletion_protection) == (True, 7, False)
    assert inherits.tags == (("team", "core"),) and inherits.restore is True
    assert (overrides.billing, overrides.read_capacity) == (ON_DEMAND, None)
    assert (overrides.pitr, overrides.deletion_protection, overrides.restore) == (False, True, False)
    assert overrides.tags == (("team", "edge"),)
    assert overrides.hash_key.type == "N"
    assert overrides.gsis[0].hash_key.type == "S"  # `hash_key: owner` is shorthand for a string key


def test_provisioned_gsis_default_to_one_unit_and_kms_keys_are_kept():
    text = """
tables:
  - name: prov-table
    hash_key: id
    billing: {mode: provisioned, read_capacity: 2, write_capacity: 3}
    encryption: {kms_key: alias/app-key}
    gsis: [{name: ByEmail, hash_key: email, projection: {include: [name, age]}}]
"""
    table = parse_estate(text).tables[0]
    assert table.kms_key == "alias/app-key"
    gsi = table.gsis[0]
    assert (gsi.read_capacity, gsi.write_capacity) == (1, 1)
    assert (gsi.projection, gsi.non_key_attributes) == ("INCLUDE", ("age", "name"))  # sorted, as AWS compares them


def test_buckets_default_to_private_sse_s3_no_policy():
    bucket = parse_estate("buckets: [{name: plain-bucket}]").buckets[0]
    assert all(bucket.bpa.values()) and not bucket.is_public
    assert (bucket.encryption, bucket.kms_key, bucket.versioning) == ("AES256", None, False)
    assert bucket.policy_statements == () and bucket.cors == () and bucket.lifecycle == ()


def test_policy_statements_as_a_json_string_are_accepted():
    text = """
buckets:
  - name: json-bucket
    policy:
      statements: '{"Statement": [{"Sid": "DenyDelete", "Effect": "Deny", "Principal": "*",
                    "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::json-bucket/*"}]}'
"""
    [stmt] = parse_estate(text).buckets[0].statements
    assert stmt["Sid"] == "DenyDelete" and stmt["Action"] == "s3:DeleteObject"


def test_specs_are_frozen():
    table = shipped().tables[0]
    with pytest.raises(AttributeError):
        table.name = "other"  # type: ignore[misc]


def test_only_narrows_the_estate_to_the_named_resources():
    estate = shipped()
    narrowed = estate.only(("galerly-users", "galerly-images-storage"))
    assert [t.name for t in narrowed.tables] == ["galerly-users"]
    assert [b.name for b in narrowed.buckets] == ["galerly-images-storage"]
    assert narrowed.settings == estate.settings
    assert estate.only(()) is estate


def test_only_with_an_unknown_name_suggests_the_closest():
    with pytest.raises(EstateError) as info:
        shipped().only(["galerly-user"])
    assert info.value.path == "--only"
    assert "did you mean 'galerly-users'" in str(info.value)
