"""The Lambda's botocore Session (selfheal.aws.RunSession) registers up front only the built-in handlers that can fire
for the package's services: every event those services' clients emit finds exactly botocore's handlers, in order;
a client of another service first gets the rest, and then finds botocore's too."""

from __future__ import annotations

import functools
import inspect
import types
from typing import Any

import botocore
import botocore.compat
import botocore.handlers
import botocore.hooks
import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal import servicedata
from selfheal.aws import Clients, RunSession, _plainly_takes_kwargs

# Every kind of event a client emits (botocore's built-in handlers' first part, and those they do not name).
EVENT_TYPES = sorted({spec[0].split(".")[0] for spec in botocore.handlers.BUILTIN_HANDLERS if spec[0][:5] != "docs."}
                     | {"provide-client-params", "before-endpoint-resolution", "after-call-error", "request-created",
                        "response-received", "needs-retry"})  # fmt: skip


def _handlers(session: botocore.session.Session, event: str) -> list[str]:
    """The handlers an event finds, in order, by name: an initializer (Powertools' user agent) registers a new function
    object in every Session."""
    found = session.get_component("event_emitter")._emitter._handlers.prefix_search(event)
    return [f"{getattr(h, '__module__', '')}.{getattr(h, '__qualname__', type(h).__qualname__)}" for h in found]


def _alias(session: botocore.session.Session, event: str) -> str:
    return str(session.get_component("event_emitter")._alias_event_name(event))


def _events(service: str) -> list[str]:
    """The events a client of `service` emits, as botocore names them (its service id, hyphenated): for every operation
    a built-in handler names (in botocore's name or its alias), and one it does not — any other finds what it finds."""
    model = botocore.session.get_session().get_service_model(service)
    name = model.service_id.hyphenize()
    named = {parts[2] for spec in botocore.handlers.BUILTIN_HANDLERS if len(parts := spec[0].split(".")) > 2
             and botocore.hooks.EVENT_ALIASES.get(parts[1], parts[1]) == name}  # fmt: skip
    operations = sorted((named & set(model.operation_names)) | {model.operation_names[0]})
    per_operation = [f"{kind}.{name}.{op}" for kind in EVENT_TYPES for op in operations]
    attributes = [f"getattr.{name}.{botocore.xform_name(op)}" for op in model.operation_names]
    return per_operation + [f"{kind}.{name}" for kind in EVENT_TYPES] + attributes


@pytest.mark.parametrize("service", servicedata.SERVICES)
def test_the_package_services_find_botocores_handlers_in_order(service: str) -> None:
    run, full = RunSession(), botocore.session.get_session()
    events = _events(service)
    differ = [e for e in events if _handlers(run, _alias(run, e)) != _handlers(full, _alias(full, e))]
    assert not differ, [(e, _handlers(run, _alias(run, e)), _handlers(full, _alias(full, e))) for e in differ[:3]]
    assert any(_handlers(full, e) for e in events)  # the comparison compared something


def test_fewer_handlers_wait_than_botocore_registers_and_none_of_the_packages() -> None:
    run = RunSession()
    waiting = run._waiting
    assert waiting is not None and 0 < len(waiting) < len(botocore.handlers.BUILTIN_HANDLERS)
    s3 = [spec for spec in botocore.handlers.BUILTIN_HANDLERS if spec[0].split(".")[1:2] == ["s3"]]
    assert s3 and not any(spec in waiting for spec in s3)


@pytest.mark.parametrize("service", ["ec2", "rds", "glacier"])
def test_a_client_of_another_service_gets_botocores_handlers_first(service: str) -> None:
    run, full = RunSession(), botocore.session.get_session()
    before = [_handlers(run, _alias(run, e)) for e in _events(service)]
    run.create_client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    after = [_handlers(run, _alias(run, e)) for e in _events(service)]
    expected = [_handlers(full, _alias(full, e)) for e in _events(service)]
    assert after == expected and before != expected
    assert run._waiting is None


def test_the_lambdas_clients_build_on_a_run_session_and_a_given_session_is_kept() -> None:
    import boto3  # noqa: PLC0415 - the CLI's session

    assert isinstance(Clients(region="us-east-1").core, RunSession)
    given = boto3.Session(region_name="us-east-1")
    assert Clients(session=given).core is given._session


def test_the_event_names_are_botocores_service_ids() -> None:
    session = botocore.session.get_session()
    assert {session.get_service_model(s).service_id.hyphenize() for s in servicedata.SERVICES} == \
        servicedata.EVENT_NAMES  # fmt: skip


# botocore's alias table's names and their parts, and parts of the names clients emit
TOKENS = sorted({part for key in botocore.hooks.EVENT_ALIASES for part in [key, *key.split(".")]}
                | {"before-call", "docs", "s3", "dynamodb", "DescribeTable", "*", "x", "api", "data"})  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TOKENS) | st.text("abcdefgh.-", min_size=1, max_size=12), min_size=1, max_size=6))
def test_an_event_name_is_aliased_as_botocore_aliases_it(parts: list[str]) -> None:
    name = ".".join(parts)
    ours = RunSession().get_component("event_emitter")
    assert ours._alias_event_name(name) == botocore.hooks.EventAliaser(None)._alias_event_name(name)
    assert ours._alias_event_name(name) == botocore.hooks.EventAliaser(None)._alias_event_name(name)  # when known


def test_a_client_shares_its_sessions_known_aliases_and_emits_as_botocore() -> None:
    run = RunSession()
    client = run.create_client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    emitter = client.meta.events
    assert type(emitter) is type(run.get_component("event_emitter"))
    assert emitter._alias_name_cache is run.get_component("event_emitter")._alias_name_cache
    seen: list[str] = []
    emitter.register("before-call.dynamodb", lambda **kw: seen.append(kw["model"].name))
    emitter.emit("before-call.dynamodb.ListTables", model=client.meta.service_model.operation_model("ListTables"),
                 params={}, request_signer=None, context={})  # fmt: skip
    assert seen == ["ListTables"]


def test_credentials_from_the_environment_skip_the_rest_of_botocores_chain(monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path: Any) -> None:  # fmt: skip
    # GIVEN a Lambda's environment credentials: THEN the same credentials as botocore's chain finds, from the
    # environment provider alone (no metadata fetchers, no HTTP sessions built for them)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token")
    run, full = RunSession(), botocore.session.get_session()
    assert run.get_credentials().get_frozen_credentials() == full.get_credentials().get_frozen_credentials()
    assert [p.METHOD for p in run.get_component("credential_provider").providers] == ["env"]
    assert run.get_credentials().method == full.get_credentials().method == "env"

    # GIVEN none in the environment (a CLI with a profile) THEN botocore's whole chain: a credentials file's
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    run, full = RunSession(), botocore.session.get_session()
    assert run.get_credentials().access_key == full.get_credentials().access_key == "AKIDFILE"
    assert len(run.get_component("credential_provider").providers) > 5


def _plain(a: int, **kwargs: Any) -> None: ...


def _no_kwargs(a: int, *args: Any) -> None: ...


class _Handler:
    def method(self, **kwargs: Any) -> None: ...

    def positional(self, a: int) -> None: ...

    @staticmethod
    def static(**kwargs: Any) -> None: ...

    def __call__(self, **kwargs: Any) -> None: ...


def _signed(**kwargs: Any) -> None: ...


_signed.__signature__ = inspect.Signature([])  # type: ignore[attr-defined]  # what inspect reports instead


@functools.wraps(_no_kwargs)
def _wrapping(*args: Any, **kwargs: Any) -> None: ...


HANDLERS = [_plain, _no_kwargs, _Handler().method, _Handler().positional, _Handler.static, _Handler(), _signed,
            _wrapping, functools.partial(_plain, 1), functools.partial(_no_kwargs, 1), lambda **kw: None,
            lambda a: None, print, dict.get, *(spec[1] for spec in botocore.handlers.BUILTIN_HANDLERS)]  # fmt: skip


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda h: getattr(h, "__qualname__", type(h).__name__))
def test_a_handler_is_accepted_or_refused_as_botocore_does(handler: Any) -> None:
    # GIVEN any callable: plain, bound, static, partial, an instance, one whose signature inspect reads otherwise than
    # its code, built in, and every one of botocore's own handlers
    def registered(emitter: botocore.hooks.HierarchicalEmitter) -> str:
        try:
            emitter.register("before-call.s3", handler)
        except ValueError as refused:
            return str(refused)
        return "registered"

    # THEN the RunSession's emitter registers it, or refuses it with the same error, exactly as botocore's does
    assert registered(RunSession().get_component("event_emitter")._emitter) == \
        registered(botocore.hooks.HierarchicalEmitter())  # fmt: skip
    if _plainly_takes_kwargs(handler):  # and its quick answer is only ever what inspect finds
        assert botocore.compat.accepts_kwargs(handler)


def test_a_cold_start_asks_inspect_about_almost_no_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN inspect's reading of a signature counted WHEN a Clients on a RunSession builds a cold start's five clients
    asked: list[Any] = []
    real = botocore.hooks.accepts_kwargs
    monkeypatch.setattr(botocore.hooks, "accepts_kwargs", lambda func: asked.append(func) or real(func))
    clients = Clients(region="us-east-1", endpoint_url="http://127.0.0.1:9")
    session_emitter = type(clients.core.get_component("event_emitter")._emitter)
    for service in ("kms", "sts", "dynamodb", "s3control", "s3"):
        assert type(clients.client(service).meta.events._emitter) is session_emitter  # each client's copy too
    # THEN inspect reads no function's or method's signature (botocore's own Session has it read ~90); only a callable
    # object's, such as moto's stubber, which moto adds to botocore's built-in handlers where a test imported it
    assert [func for func in asked if isinstance(func, (types.FunctionType, types.MethodType))] == []
