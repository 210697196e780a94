"""selfheal.aws.Clients: each client built once, on first use; the service data parsed once per process; a call is
never held up by another client's build."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from selfheal.aws import Clients

ENDPOINT = "http://127.0.0.1:9"  # never called: the calls below are answered before they are sent


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def _session() -> boto3.Session:
    return boto3.Session(region_name="us-east-1")


def test_a_second_clients_reads_no_service_data_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN one Clients that has built its DynamoDB and S3 clients
    first = Clients(session=_session(), endpoint_url=ENDPOINT)
    first.client("dynamodb"), first.client("s3")
    loader = first.core.get_component("data_loader")
    read: list[str] = []
    real_load = loader.file_loader.load_file
    monkeypatch.setattr(loader.file_loader, "load_file", lambda path: read.append(path) or real_load(path))

    # WHEN another Clients, on a Session of its own, builds the same clients
    second = Clients(session=_session(), endpoint_url=ENDPOINT)
    second.client("dynamodb"), second.client("s3")

    # THEN it reads them through the same loader, which parsed every file it needed already
    assert second.core.get_component("data_loader") is loader
    assert read == []
    assert second.client("dynamodb") is not first.client("dynamodb")  # its own clients all the same


def test_a_client_is_built_once_however_many_threads_ask_for_it() -> None:
    # GIVEN a Clients whose Session counts the clients it builds
    clients = Clients(session=_session(), endpoint_url=ENDPOINT)
    built: list[str] = []
    real_client = clients.core.create_client

    def counting_client(service: str, **kwargs: Any) -> Any:
        built.append(service)
        return real_client(service, **kwargs)

    clients.core.create_client = counting_client  # type: ignore[method-assign]

    # WHEN 32 threads ask for DynamoDB and S3 at once
    with ThreadPoolExecutor(32) as pool:
        got = list(pool.map(lambda i: clients.client(("dynamodb", "s3")[i % 2]), range(64)))

    # THEN each was built once, and every thread got that one
    assert sorted(built) == ["dynamodb", "s3"]
    assert {id(c) for c in got} == {id(clients.client("dynamodb")), id(clients.client("s3"))}


def test_calls_are_counted_while_another_client_is_being_built() -> None:
    # GIVEN a Clients with a built DynamoDB client, and an S3 client whose build is held half-way
    clients = Clients(session=_session(), endpoint_url=ENDPOINT)
    ddb = clients.client("dynamodb")
    ddb.meta.events.register("before-send.dynamodb", _answer_empty)  # after the counting hook, as AWS would be
    building, release, ended = threading.Event(), threading.Event(), threading.Event()
    real_client = clients.core.create_client

    def held_client(service: str, **kwargs: Any) -> Any:
        building.set()
        try:
            assert release.wait(60), "the build was never released"
            return real_client(service, **kwargs)
        finally:
            ended.set()

    clients.core.create_client = held_client  # type: ignore[method-assign]
    builder = threading.Thread(target=clients.client, args=("s3",))

    # WHEN a thread makes DynamoDB calls while the S3 client is being built
    builder.start()
    assert building.wait(60)
    clients.client("dynamodb").list_tables()
    clients.client("dynamodb").update_table(TableName="t", DeletionProtectionEnabled=True)
    counted, build_ended = clients.call_counts(), ended.is_set()
    release.set()
    builder.join(60)

    # THEN they went through and were counted before the build ended, as a read and a write
    assert counted == {"reads": 1, "writes": 1} and not build_ended
    assert not builder.is_alive() and clients.client("s3") is not None


class _Body:
    def stream(self, **_: Any) -> Any:
        yield b"{}"  # every member of ListTables' and UpdateTable's output is optional


def _answer_empty(request: Any, **_: Any) -> AWSResponse:
    return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Body())
