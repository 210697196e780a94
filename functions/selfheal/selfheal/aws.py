"""AWS clients for the engine, and what an AWS error means for a person who must act on it."""

from __future__ import annotations

import inspect
import os
import re
import threading
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore import credentials, handlers, hooks
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from . import servicedata

if TYPE_CHECKING:
    import boto3

# The only layer that retries throttling, 5xx and transport errors: 8 retries (9 attempts) per call, with backoff.
# The executor retries on top only what AWS documents as "try again later" for a control-plane call (a kind's
# retry_later).
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=64,
    user_agent_extra="selfheal",
)


# What counts as a write: the engine's call counts and the local AWS's call log (devtools/localaws.py) both use this.
WRITE_PREFIXES = (
    "Create", "Put", "Update", "Delete", "Restore", "Tag", "Untag", "Enable", "Disable", "Attach", "Detach",
    "Associate", "Disassociate", "Modify", "Set", "Add", "Remove", "Register", "Deregister", "Start", "Stop",
    "Import", "Upload", "Copy", "Complete", "Abort", "Schedule", "Cancel", "Rotate", "Replace", "Reset",
)  # fmt: skip
WRITE_OPERATIONS = frozenset({"BatchWriteItem", "TransactWriteItems"})


def is_write(operation: str) -> bool:
    """Does this API operation (e.g. "SetQueueAttributes") change anything?"""
    return operation in WRITE_OPERATIONS or operation.startswith(WRITE_PREFIXES)
OPERATOR_AGENT = "selfheal-operator"  # the CLI's operator-only commands (delete): never the function's role



class Clients:
    """Creates each client once per (service, region), when first asked for, and shares it between threads.

    session: a boto3 Session (the CLI's, a test's) or, by default, a RunSession (botocore's, quicker to build clients
    from: below) of its own — the clients are botocore's either way, and a Lambda's cold start does not import boto3's
    resources and transfer manager (~8% of `import app`), which selfheal never uses.
    endpoint_url: None lets botocore read AWS_ENDPOINT_URL itself (a moto server, say).
    """

    def __init__(
        self,
        session: boto3.Session | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        config: Config | None = None,
        user_agent: str | None = None,
        account: str | None = None,
    ) -> None:
        """account: the account id, when known without asking STS (the Lambda's stack account)."""
        self.session = session
        # boto3 keeps its botocore Session in _session: the clients are built there, as boto3's own client() does
        self.core: botocore.session.Session = session._session if session is not None else _own_session(region)
        share_service_data(self.core)
        self.region = region or self.core.get_config_variable("region") or "us-east-1"
        self.endpoint_url = endpoint_url
        self.config = config or CLIENT_CONFIG
        if user_agent:
            self.config = self.config.merge(Config(user_agent_extra=user_agent))
        self._clients: dict[tuple[str, str], Any] = {}
        self._build_lock = threading.Lock()  # a botocore Session must not build two clients at once
        self._count_lock = threading.Lock()  # every call takes it: never held while a client is built
        self._calls = {"reads": 0, "writes": 0}
        self._account: str | None = account or None
        self._account_lock = threading.Lock()

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        client = self._clients.get(key)  # built ones are read without a lock: threads never wait for a build
        if client is None:
            with self._build_lock:
                client = self._clients.get(key)
                if client is None:
                    client = self._clients[key] = self._build(*key)
        return client

    def _build(self, service: str, region: str) -> Any:
        kwargs: dict[str, Any] = {"region_name": region, "config": self.config}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        client: Any = self.core.create_client(service, **kwargs)
        if service == "s3control" and (self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")):
            # A custom endpoint (a local AWS) has no per-account host names: send to it as given.
            client.meta.events.register("before-send.s3-control", _drop_account_host)
        if service == "s3":
            client.meta.events.register("before-parameter-build.s3", self._expect_own_bucket)
        client.meta.events.register("before-call", self._count)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        kind = "writes" if is_write(model.name) else "reads"
        run: dict[str, int] | None = getattr(_RUN, "calls", None)
        with self._count_lock:
            self._calls[kind] += 1
            if run is not None:
                run[kind] += 1

    def _expect_own_bucket(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        # A bucket is ours before we touch it: S3 answers 403 to any call on a bucket another account owns, even one
        # whose policy lets us in (names are global; a squatter can pre-create a declared name).
        if "Bucket" in params and "ExpectedBucketOwner" in model.input_shape.members:
            params.setdefault("ExpectedBucketOwner", self.account_id())
        if "CopySource" in params and "ExpectedSourceBucketOwner" in model.input_shape.members:
            params.setdefault("ExpectedSourceBucketOwner", self.account_id())  # a copy's source is ours too

    def know_account(self, account: str) -> None:
        """The account id, when known without asking (the Lambda's own ARN names it): no GetCallerIdentity then."""
        with self._account_lock:
            if self._account is None and account:
                self._account = account

    def account_id(self) -> str:
        """The caller's account id (sts:GetCallerIdentity), asked once for the life of these clients."""
        with self._account_lock:  # held through the call: one GetCallerIdentity however many threads ask at once
            if self._account is None:
                self._account = str(self.client("sts").get_caller_identity()["Account"])
            return self._account

    def call_counts(self) -> dict[str, int]:
        """AWS calls made through these clients so far, as reads and writes (every attempt counts)."""
        with self._count_lock:
            return dict(self._calls)


# botocore parses its JSON service data (endpoints, models, rule sets) once per loader, and makes a loader per
# Session: one loader per data path for the whole process, so a Clients after the first parses nothing again.
_LOADERS: dict[str | None, Any] = {}
_LOADERS_LOCK = threading.Lock()


def share_service_data(core: botocore.session.Session) -> None:
    """Make a botocore Session read its service data through this process's one loader: the data parsed at build
    time (selfheal/servicedata.py) where the package has it, else the first session's own loader."""
    path = core.get_config_variable("data_path")  # AWS_DATA_PATH: sessions that search elsewhere keep their own
    with _LOADERS_LOCK:
        loader = _LOADERS.get(path)
        if loader is None:
            cached = servicedata.cached_loader() if path is None else None
            loader = _LOADERS[path] = cached or core.get_component("data_loader")
    core.register_component("data_loader", loader)


class RunSession(botocore.session.Session):
    """botocore's Session, with only the built-in handlers that can fire for the services this package calls.

    botocore registers ~130 handlers in every Session (~60% for services selfheal never calls: EC2, RDS, Glacier... and
    documentation), and copies them into each client it builds; registering and copying them is most of a cold
    start's client construction. The others wait here, registered in botocore's order before a client of any other
    service is built (which then behaves as with botocore's own Session). Documentation handlers are among them: a
    client's docstrings (help() only) lack botocore's per-service touches until then.
    """

    def __init__(
        self,
        session_vars: dict[str, Any] | None = None,
        event_hooks: hooks.BaseEventHooks | None = None,
        include_builtin_handlers: bool = True,
        profile: str | None = None,
    ) -> None:
        super().__init__(session_vars, event_hooks or _Emitter(), include_builtin_handlers, profile)

    def _register_builtin_handlers(self, events: Any) -> None:  # botocore's hook, called by Session.__init__
        botocores: Any = self  # its emitter attributes are botocore's own, not in its type stubs
        if events is botocores._events and type(events) is hooks.EventAliaser:
            events = botocores._events = _SharedAliases(botocores._original_handler)
        self._waiting: list[tuple[Any, ...]] | None = []
        self._waiting_lock = threading.Lock()
        for spec in handlers.BUILTIN_HANDLERS:
            if _fires_only_for_others(spec[0]):
                self._waiting.append(spec)
            else:
                _register(events, spec)

    def _create_credential_resolver(self) -> Any:  # botocore's, called once, when the first client is built
        """The environment's credentials (a Lambda's role) are the first botocore's chain would find: with them, the
        chain's other providers (files, SSO, the container and instance metadata, each with an HTTP session) are not
        built. Without them, botocore's whole chain."""
        env = credentials.EnvProvider()
        if env.load() is not None:
            return credentials.CredentialResolver(providers=[env])
        chain: Any = super()  # botocore's own method, not in its type stubs
        return chain._create_credential_resolver()

    def create_client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name not in servicedata.SERVICES and getattr(self, "_waiting", None) is not None:
            with self._waiting_lock:
                for spec in self._waiting or ():
                    _register(self.get_component("event_emitter"), spec)
                self._waiting = None
        return super().create_client(service_name, *args, **kwargs)


class _Emitter(hooks.HierarchicalEmitter):
    """botocore's emitter, whose check that a handler takes **kwargs reads a plain function's code flags first.

    botocore asks inspect for a handler's whole signature at every registration (~0.1 M instructions each; ~90 in a
    cold start's five clients) and reads one thing from it: is there a **kwargs parameter. For a plain function or a
    method of one, inspect answers that from the code's CO_VARKEYWORDS flag; anything else, and any handler without
    **kwargs, gets botocore's own check and error."""

    def _verify_accept_kwargs(self, func: Any) -> Any:
        if not _plainly_takes_kwargs(func):
            botocores: Any = super()  # botocore's own check, not in its type stubs
            return botocores._verify_accept_kwargs(func)
        return None


def _plainly_takes_kwargs(func: Any) -> bool:
    """Does inspect.getfullargspec(func) find **kwargs, read from the code alone? False: ask inspect."""
    target = func.__func__ if type(func) is types.MethodType else func
    # a function's attributes (__signature__, __wrapped__, a partialmethod's) can change what inspect reports
    if type(target) is not types.FunctionType or target.__dict__:
        return False
    return bool(target.__code__.co_flags & inspect.CO_VARKEYWORDS)


class _SharedAliases(hooks.EventAliaser):
    """botocore's EventAliaser, quicker: an event name no alias can apply to (almost all: botocore's table renames old
    service names such as `autoscaling`) is known as such in a few µs instead of botocore's ~30–50 µs walk of its table,
    and a name's alias, once known, is shared by every client of the process (each client's copy starts empty)."""

    _NAMES: dict[str, str] = {}
    _PLAIN = frozenset(k for k in hooks.EVENT_ALIASES if "." not in k)
    _DOTTED = tuple(k for k in hooks.EVENT_ALIASES if "." in k)

    def __init__(self, event_emitter: Any, event_aliases: dict[str, str] | None = None) -> None:
        super().__init__(event_emitter, event_aliases)
        botocores: Any = self  # EventAliaser's own attributes, not in botocore's type stubs
        self._quick = botocores._event_aliases == hooks.EVENT_ALIASES
        if self._quick:
            botocores._alias_name_cache = self._NAMES

    def _alias_event_name(self, event_name: str) -> str:  # botocore's: every register and emit asks it
        if self._quick and event_name not in self._NAMES and self._PLAIN.isdisjoint(event_name.split(".")) and \
                not any(old in event_name for old in self._DOTTED):  # fmt: skip
            self._NAMES[event_name] = event_name  # what botocore's walk of its table finds: no part to rename
        walk: Any = super()
        return str(walk._alias_event_name(event_name))  # answered from the names known, or by the walk


def _fires_only_for_others(event: str) -> bool:
    """Is a built-in handler's event one no client of the package's services emits? `docs.<section>.<service>...`
    events document; the others name the service second (`before-call.ec2.CopySnapshot`), in botocore's old names
    (`logs` for cloudwatch-logs: the emitter aliases them), or concern every service (`before-sign`, `*`)."""
    parts = event.split(".")
    if parts[0] == "docs":
        return True
    if len(parts) < 2 or parts[1] == "*":
        return False
    return hooks.EVENT_ALIASES.get(parts[1], parts[1]) not in servicedata.EVENT_NAMES


def _register(events: Any, spec: tuple[Any, ...]) -> None:
    """Register one of botocore's BUILTIN_HANDLERS as botocore's own Session does."""
    if len(spec) == 2:
        events.register(spec[0], spec[1])
    elif spec[2] is handlers.REGISTER_FIRST:
        events.register_first(spec[0], spec[1])
    elif spec[2] is handlers.REGISTER_LAST:
        events.register_last(spec[0], spec[1])


def _own_session(region: str | None) -> botocore.session.Session:
    core = RunSession()
    if region:
        core.set_config_variable("region", region)
    return core


_RUN = threading.local()  # the calls of the run a thread works for (count_run_calls), beside the clients' total


def count_run_calls(calls: dict[str, int]) -> None:
    """Count the calls this thread makes into `calls` too: a pool initializer, so that each of several runs at once
    over one Clients reports its own calls."""
    _RUN.calls = calls


_ACCOUNT_HOST = re.compile(r"^(https?://)\d{12}\.")


def _drop_account_host(request: Any, **_: Any) -> None:
    request.url = _ACCOUNT_HOST.sub(r"\1", request.url)


def expected_owner(account: str | None, source: bool = False) -> dict[str, str]:
    """The owner check for a bucket another account may own (a replica in a backup account): its declared owner, or
    nothing, so these clients put this account's. `source`: the bucket a copy reads from (ExpectedSourceBucketOwner)."""
    if not account:
        return {}
    return {"ExpectedSourceBucketOwner" if source else "ExpectedBucketOwner": account}


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
    return str(exc)


def http_status(exc: BaseException) -> int | None:
    if isinstance(exc, ClientError):
        return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


AWS_ERRORS = (ClientError, BotoCoreError)

# Error codes that mean "not allowed" (a kind reads them its own way for some operations).
ACCESS_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "403")
_KMS = (
    "KMSAccessDeniedException",
    "KMS.DisabledException",
    "KMS.NotFoundException",
    "KMS.KMSInvalidStateException",
    "DisabledException",
    "NotFoundException",
    "KMSInvalidStateException",
    "InvalidKeyUsageException",
    "KMS.AccessDeniedException",
    "KMSDisabledException",
    "KMSNotFoundException",
    "KMSInvalidKeyUsageException",
)


Fix = Callable[[str, str, BaseException], "str | None"]  # (code, operation, error) -> a kind's own fix, or None


def explain(exc: BaseException, operation: str, resource: str, fix: Fix | None = None) -> str:
    """One line a person can act on: what failed, AWS's words, and the fix (`fix`: the resource kind's reading of
    its service's errors, asked first after a KMS problem)."""
    code, message = error_code(exc), error_message(exc)
    own = fix(code, operation, exc) if fix is not None else None
    if code in _KMS or "KMS" in code or ("kms" in message.lower() and code not in ACCESS_DENIED):
        own = "the KMS key is unusable: check it exists, is enabled and the role may use it (kms:CreateGrant)"
    if own is not None:
        fixed = own
    elif code in ACCESS_DENIED or http_status(exc) == 403:
        fixed = (f"access denied: grant the caller (the function's IAM role, or the CLI's credentials) what "
                 f"{operation} on {resource} needs")
    elif code in ("LimitExceededException", "ThrottlingException", "TooManyRequestsException", "SlowDown"):
        fixed = "AWS kept throttling after retries: the next run continues"
    elif code == "ValidationException" or code.startswith("Invalid") or code.startswith("Malformed"):
        fixed = "AWS rejected the declared value: fix it in the estate"
    elif isinstance(exc, BotoCoreError):
        fixed = "AWS could not be reached: check the endpoint, network and credentials"
    else:
        fixed = "see AWS's message; the next run retries"
    return f"{operation} on {resource} failed: {code}: {message} — {fixed}"
