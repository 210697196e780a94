"""Any estate document either parses to a coherent Estate or fails with EstateError — never anything else."""

from __future__ import annotations

import datetime
import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfheal.loader import parse_estate
from selfheal.spec import BPA_FLAGS, Estate, EstateError

# Values YAML can produce that no field expects: mixed into every field so each validator meets them.
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 100_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2040, 1, 1)),
    st.binary(max_size=3),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2),
)


def mix(*valid: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly valid values, sometimes junk."""
    return st.one_of(*valid, junk)


names = mix(
    st.sampled_from(["app-users", "app-users", "app-orders", "app.log", "ab", "a" * 256, "App_Table", "bad/name"]),
    st.from_regex(r"[a-z][a-z0-9-]{2,12}", fullmatch=True),
)
attr_names = mix(st.sampled_from(["id", "email", "owner", "created_at", "id"]))
key_types = mix(st.sampled_from(["S", "N", "B", "s", "X"]))
key = mix(st.fixed_dictionaries({"name": attr_names}, optional={"type": key_types}), attr_names)
capacity = mix(st.integers(-1, 50_000))
billing = mix(
    st.sampled_from(["on-demand", "provisioned", "PAY_PER_REQUEST"]),
    st.fixed_dictionaries(
        {"mode": mix(st.sampled_from(["on-demand", "provisioned"]))},
        optional={"read_capacity": capacity, "write_capacity": capacity},
    ),
)
pitr = mix(
    st.booleans(),
    st.fixed_dictionaries({}, optional={"enabled": mix(st.booleans()), "recovery_days": mix(st.integers(-2, 40))}),
)
kms_ids = st.sampled_from(
    [
        "alias/app",
        "alias/aws/dynamodb",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "mrk-1234abcd12ab34cd56ef1234567890ab",
        "not-a-key",
        "alias/has space",
    ]
)
encryption = mix(st.just("aws-managed"), st.just("sse-s3"), st.fixed_dictionaries({"kms_key": mix(kms_ids)}))
tags = mix(
    st.dictionaries(
        st.one_of(
            st.sampled_from(["app", "team", "aws:x", "managed-by"]), st.none(), st.integers(), st.text(max_size=3)
        ),
        mix(st.sampled_from(["galerly", "", "x" * 300]), st.integers()),
        max_size=3,
    )
)
index = st.fixed_dictionaries(
    {"name": mix(st.sampled_from(["ByOwner", "ByEmail", "ByOwner", "x"]))},
    optional={
        "hash_key": key,
        "range_key": key,
        "projection": mix(st.sampled_from(["ALL", "KEYS_ONLY", "INCLUDE"]), st.just({"include": ["a", "b"]})),
        "read_capacity": capacity,
        "write_capacity": capacity,
    },
)
extra_key = st.sampled_from(["nmae", "colour", "gsi", "Versioning", "x-extra"])


def with_extras(mapping: st.SearchStrategy) -> st.SearchStrategy:
    """The mapping, now and then with a misspelt or unknown field."""
    return st.tuples(mapping, st.dictionaries(extra_key, junk, max_size=1)).map(lambda pair: {**pair[0], **pair[1]})


table = with_extras(
    st.fixed_dictionaries(
        {"name": names, "hash_key": key},
        optional={
            "range_key": key,
            "region": mix(st.sampled_from(["us-east-1", "eu-west-1", "us-east", "US-EAST-1"])),
            "gsis": mix(st.lists(index, max_size=3)),
            "lsis": mix(st.lists(st.fixed_dictionaries({"name": names, "range_key": key}), max_size=2)),
            "billing": billing,
            "encryption": encryption,
            "pitr": pitr,
            "deletion_protection": mix(st.booleans()),
            "ttl": mix(st.sampled_from(["expires_at", False])),
            "stream": mix(st.sampled_from(["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY", "NEW", False])),
            "tags": tags,
            "restore": mix(st.sampled_from(["auto", "never", "always"])),
        },
    )
)
bucket_names = mix(
    st.sampled_from(["app-bucket", "app-bucket", "app-photos", "App-Bucket", "ab", "10.0.0.1", "a..b", "xn--abc"]),
    st.from_regex(r"[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]", fullmatch=True),
)
statement = st.fixed_dictionaries(
    {"Sid": mix(st.sampled_from(["A", "B", "Bad Sid"]))},
    optional={
        "Effect": mix(st.sampled_from(["Allow", "Deny", "Permit"])),
        "Principal": junk,
        "NotPrincipal": junk,
        "Action": mix(st.sampled_from(["s3:GetObject", "s3:*", "ec2:Run"]), st.just(["s3:GetObject"])),
        "NotAction": mix(st.just("s3:PutObject")),
        "Resource": mix(st.sampled_from(["arn:aws:s3:::app-bucket/*", "arn:aws:s3:::other/*", "*"])),
        "NotResource": mix(st.just("arn:aws:s3:::app-bucket")),
        "Condition": junk,
    },
)
policy = mix(
    st.fixed_dictionaries(
        {},
        optional={
            "presets": mix(st.lists(mix(st.sampled_from(["public-read", "tls-only", "public"])), max_size=2)),
            "statements": mix(
                st.lists(statement, max_size=2),
                st.lists(statement, max_size=2).map(lambda s: json.dumps(s, default=str)),
                st.just("{not json"),
            ),
        },
    )
)
cors_rule = st.fixed_dictionaries(
    {
        "allowed_origins": mix(st.sampled_from(["https://a.com", "https://a.com,https://b.com", "a.com", "*"])),
        "allowed_methods": mix(st.lists(mix(st.sampled_from(["GET", "PUT", "PATCH"])), max_size=3)),
    },
    optional={"allowed_headers": junk, "expose_headers": junk, "max_age_seconds": mix(st.integers(-1, 10))},
)
lifecycle_rule = st.fixed_dictionaries(
    {"id": mix(st.sampled_from(["r1", "r2", "r1"]))},
    optional={
        "prefix": junk,
        "abort_incomplete_multipart_upload_days": mix(st.integers(0, 10)),
        "expiration_days": mix(st.integers(0, 10)),
        "noncurrent_version_expiration_days": mix(st.integers(0, 10)),
    },
)
bucket = with_extras(
    st.fixed_dictionaries(
        {"name": bucket_names},
        optional={
            "region": mix(st.sampled_from(["us-east-1", "eu-west-1", "mars-1"])),
            "public_access_block": mix(
                st.fixed_dictionaries({}, optional=dict.fromkeys(BPA_FLAGS, mix(st.booleans())))
            ),
            "object_ownership": mix(st.sampled_from(["BucketOwnerEnforced", "ObjectWriter", "Owner"])),
            "encryption": encryption,
            "versioning": mix(st.booleans()),
            "website": mix(st.just({"index_document": "index.html"}), st.just({"index_document": "a/b"})),
            "policy": policy,
            "cors": mix(st.lists(cors_rule, max_size=2)),
            "lifecycle": mix(st.lists(lifecycle_rule, max_size=2)),
            "tags": tags,
        },
    )
)
estate_doc = with_extras(
    st.fixed_dictionaries(
        {},
        optional={
            "version": mix(st.just(1), st.just(2)),
            "vars": mix(
                st.dictionaries(
                    st.sampled_from(["prefix", "region", "Bad", "a", "b"]),
                    mix(st.sampled_from(["app", "us-east-1", "${a}", "${b}", "$${a}", "${missing}"])),
                    max_size=3,
                )
            ),
            "settings": mix(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "max_missing_percent": mix(st.floats(-10, 110)),
                        "pool_size": mix(st.integers(0, 70)),
                        "poll_seconds": mix(st.floats(allow_nan=True)),
                        "time_budget_seconds": junk,
                    },
                )
            ),
            "table_defaults": mix(st.fixed_dictionaries({}, optional={"billing": billing, "pitr": pitr, "tags": tags})),
            "tables": mix(st.lists(table, max_size=3)),
            "buckets": mix(st.lists(bucket, max_size=2)),
        },
    )
)
env = st.fixed_dictionaries(
    {},
    optional={
        "SELFHEAL_MAX_MISSING_PERCENT": st.sampled_from(["", "10", "lots", "nan", "-1"]),
        "SELFHEAL_VAR_PREFIX": st.sampled_from(["", "staging", "${b}"]),
    },
)


def check_invariants(estate: Estate) -> None:
    assert isinstance(estate, Estate)
    table_names = [t.name for t in estate.tables]
    bucket_names_ = [b.name for b in estate.buckets]
    assert len(set(table_names)) == len(table_names)
    assert len(set(bucket_names_)) == len(bucket_names_)
    assert estate.tables or estate.buckets
    for t in estate.tables:
        assert 1 <= t.recovery_days <= 35
        types: dict[str, str] = {}
        for k in [t.hash_key, t.range_key] + [x for ix in t.gsis + t.lsis for x in (ix.hash_key, ix.range_key)]:
            if k is not None:
                assert k.type in ("S", "N", "B")
                assert types.setdefault(k.name, k.type) == k.type, f"{t.name}: {k.name} has two types"
        index_names = [ix.name for ix in t.gsis + t.lsis]
        assert len(set(index_names)) == len(index_names)
        assert (t.read_capacity is None) == (t.billing == "PAY_PER_REQUEST")
        assert not t.lsis or t.range_key is not None
    for b in estate.buckets:
        assert 3 <= len(b.name) <= 63 and b.name == b.name.lower() and ".." not in b.name
        for s in b.policy_statements:
            assert json.loads(s)["Effect"] in ("Allow", "Deny")
        if b.website is not None:
            assert all("SecureTransport" not in s for s in b.policy_statements)
    s = estate.settings
    assert 0 <= s.max_missing_percent <= 100 and 1 <= s.pool_size <= 64
    assert 0 < s.poll_seconds < float("inf") and 0 < s.wait_timeout_seconds < float("inf")


def parse_or_estate_error(text: str, env_: dict[str, str]) -> Estate | None:
    try:
        estate = parse_estate(text, source="gen.yaml", env=env_)
    except EstateError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("gen.yaml: ") and " — " in message
        return None
    check_invariants(estate)
    return estate


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=estate_doc, env_=env)
def test_any_estate_document_parses_or_raises_estate_error(doc, env_):
    parse_or_estate_error(yaml.safe_dump(doc, allow_unicode=True), env_)


@settings(max_examples=150, deadline=None)
@given(doc=st.fixed_dictionaries({"tables": st.lists(table, min_size=1, max_size=3)}))
def test_any_table_list_parses_or_raises_estate_error(doc):
    parse_or_estate_error(yaml.safe_dump(doc, allow_unicode=True), {})


@settings(max_examples=150, deadline=None)
@given(doc=st.fixed_dictionaries({"buckets": st.lists(bucket, min_size=1, max_size=2)}))
def test_any_bucket_list_parses_or_raises_estate_error(doc):
    parse_or_estate_error(yaml.safe_dump(doc, allow_unicode=True), {})


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("abc:-[]{}?,'\"\n\t #&*!|>%@`$.0123456789")), max_size=60))
def test_arbitrary_text_parses_or_raises_estate_error(text):
    parse_or_estate_error(text, {})


def test_generated_documents_do_reach_a_parsed_estate():
    """The strategies are not so wild that nothing ever parses (which would make the invariants vacuous)."""
    parsed = []

    @settings(max_examples=150, deadline=None, database=None)
    @given(doc=st.fixed_dictionaries({"tables": st.lists(table, min_size=1, max_size=2)}))
    def collect(doc):
        estate = parse_or_estate_error(yaml.safe_dump(doc), {})
        if estate is not None:
            parsed.append(estate)

    collect()
    assert parsed
