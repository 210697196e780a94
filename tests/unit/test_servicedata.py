"""selfheal/servicedata.py: botocore's service data parsed at build time, read back only when it was written for this
botocore; anything else is botocore's own loading.

GIVEN a cache written as `make build` writes it (for a few services, to stay fast) WHEN a loader or a Clients reads it
THEN it answers what botocore's own loader answers (documentation aside) without reading botocore's files — or, for
another botocore, a missing or unreadable file or models searched elsewhere, it is not used at all.
"""

from __future__ import annotations

import marshal
import re
from pathlib import Path
from typing import Any

import boto3
import botocore
import botocore.exceptions
import botocore.session
import pytest
from botocore.endpoint_provider import EndpointProvider
from botocore.loaders import Loader
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal import aws, servicedata
from selfheal.aws import Clients
from selfheal.servicedata import CachedLoader, cached_loader

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("dynamodb", "s3", "sts")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("servicedata") / "botocore-data.marshal"
    servicedata.write(path, SERVICES)
    return path


@pytest.fixture
def shipped(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cache where the package looks for it, and a process that has not chosen its loader yet."""
    monkeypatch.setattr(servicedata, "CACHE", cache)
    monkeypatch.setattr(aws, "_LOADERS", {})
    return cache


def _botocore(service: str, type_name: str) -> Any:
    return Loader().load_service_model(service, type_name)


def _reads(loader: Loader, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    read: list[str] = []
    real = loader.file_loader.load_file
    monkeypatch.setattr(loader.file_loader, "load_file", lambda path: read.append(path) or real(path))
    return read


def test_a_hit_answers_as_botocore_without_reading_its_files(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loader = cached_loader(cache)
    assert isinstance(loader, CachedLoader) and loader.services == frozenset(SERVICES)
    read = _reads(loader, monkeypatch)

    model = loader.load_service_model("dynamodb", "service-2")
    waiters = loader.load_service_model("dynamodb", "waiters-2", model["metadata"]["apiVersion"])
    rules = loader.load_service_model("s3", "endpoint-rule-set-1")
    partitions = loader.load_data("partitions")

    assert read == []
    own = _botocore("dynamodb", "service-2")
    assert model["operations"].keys() == own["operations"].keys() and model["metadata"] == own["metadata"]
    assert model["shapes"]["TableDescription"]["members"].keys() == own["shapes"]["TableDescription"]["members"].keys()
    assert "documentation" not in model["operations"]["DescribeTable"]  # only help() reads it
    assert waiters == _botocore("dynamodb", "waiters-2")
    assert rules == _botocore("s3", "endpoint-rule-set-1")
    assert partitions == Loader().load_data("partitions")
    assert loader.load_service_model("s3", "service-2") is loader.load_service_model("s3", "service-2")


def test_a_models_shapes_are_botocores_and_each_is_read_only_when_a_call_resolves_it(cache: Path) -> None:
    loader = cached_loader(cache)
    assert loader is not None
    model = loader.load_service_model("s3", "service-2")
    shapes = model["shapes"]
    undocumented = servicedata._undocumented(_botocore("s3", "service-2"))["shapes"]
    # GIVEN a client built from the cached model THEN it has read none of its shapes
    session = botocore.session.get_session()
    session.register_component("data_loader", loader)
    client = session.create_client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    assert isinstance(shapes, servicedata.Shapes) and shapes._read == {} and shapes._spans is None  # nor their index
    # WHEN one call's input is serialized THEN only the shapes it reaches are read, each botocore's own
    request = client._convert_to_request_dict(
        {"Bucket": "b"}, client.meta.service_model.operation_model("GetBucketVersioning"), "https://b.example", {})
    assert request["url_path"] == "/b?versioning" and 0 < len(shapes._read) < 10
    assert shapes.keys() == undocumented.keys() and all(shapes[n] == undocumented[n] for n in undocumented)
    assert shapes["BucketName"] is shapes["BucketName"]  # read once, kept


def test_the_cached_endpoints_are_botocores_for_the_cached_services(cache: Path) -> None:
    loader = cached_loader(cache)
    assert loader is not None
    cached, path = loader.load_data_with_path("endpoints")
    own = {p["partition"]: p for p in Loader().load_data("endpoints")["partitions"]}

    assert loader.is_builtin_path(path)  # botocore marks its own endpoints as built in
    for partition in cached["partitions"]:
        assert set(partition["services"]) <= set(SERVICES)
        assert partition["services"] == {k: v for k, v in own[partition["partition"]]["services"].items()
                                         if k in SERVICES}  # fmt: skip
        assert partition["regions"] == own[partition["partition"]]["regions"]


def test_a_service_the_cache_does_not_name_is_botocores_own(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loader = cached_loader(cache)
    assert loader is not None
    read = _reads(loader, monkeypatch)

    assert loader.load_service_model("sqs", "service-2") == _botocore("sqs", "service-2")
    assert any("sqs" in path for path in read)


def test_another_botocore_is_never_answered_from_the_cache(cache: Path, tmp_path: Path) -> None:
    index, entries = servicedata.read(cache)
    other = tmp_path / "other.marshal"
    other.write_bytes(servicedata.pack({**index, "botocore": "0.0.1"}, bytes(entries)))

    assert cached_loader(other) is None
    other.write_bytes(servicedata.pack(index, bytes(entries)))  # the same, for this botocore: read
    assert cached_loader(other) is not None


def test_a_rewritten_cache_leaves_a_reader_its_own(cache: Path, tmp_path: Path) -> None:
    # GIVEN a process reading the cache (mapped) WHEN the cache is written again (the next `make build`)
    path = tmp_path / "botocore-data.marshal"
    servicedata.write(path, ("sts",))
    reading = cached_loader(path)
    assert reading is not None
    servicedata.write(path, SERVICES)
    # THEN the reader still reads what it mapped, and a new one reads the new cache
    assert reading.services == frozenset({"sts"})
    assert reading.load_service_model("sts", "service-2")["shapes"]["Credentials"]["type"] == "structure"
    assert cached_loader(path).services == frozenset(SERVICES)  # type: ignore[union-attr]


def _format_2(cache: Path) -> bytes:
    """The cache as the previous FORMAT wrote it: one marshalled dict, read whole."""
    index, _ = servicedata.read(cache)
    return marshal.dumps({**index, "format": 2})


@pytest.mark.parametrize("content", [None, b"", b"not marshal at all", marshal.dumps(["a", "list"]),
                                     marshal.dumps({"format": 99}), servicedata.MAGIC, servicedata.MAGIC + b"\x05",
                                     servicedata.MAGIC + b"\x05" + bytes(7) + b"short", _format_2])  # fmt: skip
def test_a_missing_or_unreadable_cache_is_not_used(content: Any, tmp_path: Path, cache: Path) -> None:
    if callable(content):
        content = content(cache)
    path = tmp_path / "botocore-data.marshal"
    if content is not None:
        path.write_bytes(content)

    assert cached_loader(path) is None


def test_models_searched_elsewhere_are_never_hidden(cache: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    assert cached_loader(cache) is None
    monkeypatch.delenv("AWS_DATA_PATH")
    monkeypatch.setattr(Loader, "CUSTOMER_DATA_PATH", str(tmp_path))  # ~/.aws/models exists
    assert cached_loader(cache) is None


def test_clients_read_the_shipped_cache_and_fall_back_without_it(shipped: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with_cache = Clients(session=boto3.Session(region_name="us-east-1"), endpoint_url="http://127.0.0.1:9")
    assert isinstance(with_cache.core.get_component("data_loader"), CachedLoader)

    monkeypatch.setattr(aws, "_LOADERS", {})
    monkeypatch.setattr(botocore, "__version__", "0.0.1")  # a layer with another botocore than the cache's
    without = Clients(session=boto3.Session(region_name="us-east-1"), endpoint_url="http://127.0.0.1:9")
    loader = without.core.get_component("data_loader")
    assert type(loader) is Loader
    assert without.client("dynamodb").meta.service_model.operation_model("DescribeTable").documentation


REGIONS = ("us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1")


def _resolved(client: Any) -> tuple[Any, ...]:
    signer = client._request_signer  # where botocore keeps the signing name and region it resolved
    return (client.meta.endpoint_url, client.meta.region_name, signer.signing_name, signer.region_name,
            client.meta.config.signature_version)  # fmt: skip


def test_every_client_resolves_its_endpoint_as_without_the_cache(shipped: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN clients of cached services, then of services the cache does not cover (global ones among them), in every
    # partition; THEN each resolves its endpoint, signing name and region exactly as botocore's own data does
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    cached = Clients(session=boto3.Session(region_name="us-east-1"))
    assert isinstance(cached.core.get_component("data_loader"), CachedLoader)
    plain = boto3.Session(region_name="us-east-1")
    for service in (*SERVICES, "sqs", "iam", "route53", "cloudfront", *SERVICES):
        for region in REGIONS:
            assert _resolved(cached.client(service, region)) == _resolved(plain.client(service, region_name=region))


def test_every_service_the_package_builds_a_client_for_is_cached() -> None:
    package = ROOT / "functions" / "selfheal"
    call = re.compile(r"\.client\(\s*\"([a-z0-9-]+)\"")
    named = {service for path in package.rglob("*.py") for service in call.findall(path.read_text())}

    assert named and named <= set(servicedata.SERVICES), sorted(named - set(servicedata.SERVICES))


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_a_string_repeated_in_an_entry_is_read_back_as_one_object(cache: Path) -> None:
    loader = cached_loader(cache)
    assert loader is not None
    rules = loader.load_service_model("s3", "endpoint-rule-set-1")
    strings = _strings(rules)
    # THEN a rule set's thousands of strings are a few hundred objects (fresh memory a cold start need not fault in)
    assert len(strings) > 5 * len(set(strings))
    assert len({id(s) for s in strings}) == len(set(strings))
    assert rules == Loader().load_service_model("s3", "endpoint-rule-set-1")  # and still botocore's rule set


# Values a rule set's string parameters are drawn from: partitions, virtual-host and path-style buckets, S3 Express,
# access point, Outposts, Object Lambda and multi-region ARNs, custom endpoints, DynamoDB's account modes and ARNs.
STRING_VALUES = {
    "Region": ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "us-iso-east-1", "aws-global", "bad region"],
    "Bucket": ["photos", "my.dotted.bucket", "Invalid_Bucket", "photos--usw2-az1--x-s3",
               "arn:aws:s3:us-west-2:123456789012:accesspoint:reports",
               "arn:aws:s3-outposts:us-west-2:123456789012:outpost:op-01234567890123456:accesspoint:reports",
               "arn:aws:s3-object-lambda:us-east-1:123456789012:accesspoint/banner",
               "arn:aws:s3::123456789012:accesspoint:mfzwi23gnjvgw.mrap"],
    "Endpoint": ["http://127.0.0.1:5000", "https://example.com/path"],
    "AccountId": ["123456789012"],
    "AccountIdEndpointMode": ["preferred", "required", "disabled"],
    "ResourceArn": ["arn:aws:dynamodb:us-east-1:222222222222:table/t"],
}


def _parameters(rules: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    def values(name: str, spec: dict[str, Any]) -> st.SearchStrategy[Any]:
        if spec["type"] == "boolean":
            return st.booleans()
        if spec["type"] == "stringArray":
            return st.lists(st.sampled_from(STRING_VALUES["ResourceArn"]), max_size=2)
        return st.sampled_from(STRING_VALUES.get(name, ["a-key", "a/prefix"]))

    drawn = {name: st.none() | values(name, spec) for name, spec in rules["parameters"].items()}
    return st.fixed_dictionaries({}, optional=drawn)


def _resolve(provider: Any, params: dict[str, Any]) -> Any:
    """The rule set's answer, evaluated again each time (resolve_endpoint would answer a repeat from its cache)."""
    try:
        return provider.ruleset.evaluate({k: v for k, v in params.items() if v is not None})
    except botocore.exceptions.BotoCoreError as error:
        return type(error).__name__, str(error)


def _containers(value: Any, found: dict[int, Any]) -> dict[int, Any]:
    if isinstance(value, (dict, list)) and id(value) not in found:
        found[id(value)] = value
        for part in value.values() if isinstance(value, dict) else value:
            _containers(part, found)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_a_rule_set_with_shared_parts_resolves_every_endpoint_as_botocores(cache: Path, service: str) -> None:
    # GIVEN a provider over the cached rule set (its equal parts one object each) and one over botocore's own, each
    # kept across the whole run: a resolution that changed a shared part would change the rules that share it
    loader = cached_loader(cache)
    assert loader is not None
    partitions = Loader().load_data("partitions")
    rules, own_rules = (x.load_service_model(service, "endpoint-rule-set-1") for x in (loader, Loader()))
    assert rules == own_rules and len(_containers(rules, {})) < len(_containers(own_rules, {}))  # parts shared
    cached, own = EndpointProvider(rules, partitions), EndpointProvider(own_rules, partitions)
    seen: list[dict[str, Any]] = []

    @settings(max_examples=150, deadline=None, database=None)
    @given(_parameters(Loader().load_service_model(service, "endpoint-rule-set-1")))
    def resolves_alike(params: dict[str, Any]) -> None:
        seen.append(params)
        assert _resolve(cached, params) == _resolve(own, params)

    resolves_alike()
    # THEN every endpoint (or error) is botocore's, and so is each again after all the others
    assert all(_resolve(cached, p) == _resolve(own, p) for p in seen)
