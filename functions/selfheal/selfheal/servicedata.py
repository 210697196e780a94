"""botocore's service data for the services the function calls, parsed at build time, so a cold start does not parse it.

A new process's first clients cost what botocore needs to read their JSON: endpoints.json (1.25 MB), each service's
model and endpoint rule set, partitions — and a scan of its data directory to find them. `make build` writes that data,
already parsed, into the built function (`write`); `cached_loader` reads it back with marshal and answers botocore's
loader from it, for the services listed here and botocore's version it was made with. Anything else — another
service or data type, another botocore, a missing or unreadable file, models searched elsewhere (AWS_DATA_PATH,
~/.aws/models) — is botocore's own loading, unchanged.

marshal, not pickle or JSON: it reads only plain data and never runs code (pickle's loads can call any importable
callable), and it reads this data ~5x faster than botocore's json.loads with OrderedDict (and ~20% faster than pickle).

The file is mapped, not read: an index up front, then each entry (a model, a model's shape, a data file) marshalled on
its own and read in place when first asked for. A cold start reads the entries its five clients need, not the whole
file twice (read, then copied out entry by entry): every 4 KiB of fresh memory costs a page fault, ~2.5 µs here.

    python -m selfheal.servicedata OUT     (the Makefile runs it with the built layer's botocore first on the path)
"""

from __future__ import annotations

import marshal
import mmap
import os
import struct
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import botocore
from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader

# Every service the package builds a client for (a test reads them from the code): the kinds' services, the account
# reads, the run's sinks, the stack's status; logs and application-autoscaling for the CLI's fleet and import.
SERVICES = ("dynamodb", "s3", "s3control", "kms", "sts", "backup", "scheduler", "sns", "events", "cloudformation",
            "logs", "application-autoscaling", "lambda")
# Their names in botocore's events (the service id, hyphenated: a test checks them against botocore's models).
EVENT_NAMES = frozenset({"dynamodb", "s3", "s3-control", "kms", "sts", "backup", "scheduler", "sns", "eventbridge",
                         "cloudformation", "cloudwatch-logs", "application-auto-scaling", "lambda"})
MODEL_TYPES = ("service-2", "endpoint-rule-set-1", "waiters-2", "paginators-1")
DATA = ("endpoints", "partitions", "sdk-default-configuration")  # what every session or client reads
EXTRAS = "sdk"  # botocore's own extras (<type>.sdk-extras.json), merged into the model as its loader does
CACHE = Path(__file__).with_name("botocore-data.marshal")
FORMAT = 3  # 2: a model's shapes marshalled one by one (Shapes); 3: the file mapped, entries read in place
MAGIC = b"selfheal botocore data\n"
_LENGTH = struct.Struct("<Q")  # the index's length, after MAGIC; the entries follow the index
Span = tuple[int, int]  # an entry's offset from the first entry, and its length


class CachedLoader(Loader):
    """botocore's Loader, answering from data parsed at build time where it has it, else loading as botocore does.

    Each entry stays marshalled, in the mapped file, until a client first asks for it: a run that builds five clients
    reads five models, and of each model's shapes only those its calls resolve (Shapes).
    endpoints.json is kept for the cached services only (a twentieth of it); a client of any other service first
    completes it from botocore's own file, so that service resolves as it would without the cache.
    """

    def __init__(self, models: dict[tuple[str, str], tuple[str, Span]], data: dict[str, Span],
                 entries: memoryview) -> None:  # fmt: skip
        super().__init__()
        self._models = models  # (service, type) -> (api version, where the model, extras merged, is in entries)
        self._data = data
        self._entries = entries
        self._read: dict[object, Any] = {}
        self._lock = threading.Lock()
        self._endpoints_complete = False

    @property
    def services(self) -> frozenset[str]:
        return frozenset(service for service, _ in self._models)

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        found = self._models.get((service_name, type_name))
        if found is not None and api_version in (None, found[0]):
            return self._entry((service_name, type_name), found[1])
        if type_name == "service-2":  # botocore reads a client's model before it resolves the client's endpoint
            self._complete_endpoints()
        return super().load_service_model(service_name, type_name, api_version)

    def load_data_with_path(self, name: str) -> tuple[Any, str]:
        if name in self._data:
            return self._entry(name, self._data[name]), os.path.join(self.BUILTIN_DATA_PATH, name)  # botocore's path
        return super().load_data_with_path(name)

    def _entry(self, key: object, span: Span) -> Any:
        with self._lock:
            if key not in self._read:
                value = marshal.loads(self._entries[span[0] : span[0] + span[1]])
                if isinstance(key, tuple) and key[1] == "service-2":
                    value["shapes"] = Shapes(value["shapes"], self._entries)
                self._read[key] = value
            return self._read[key]  # one object for every client, as botocore's own loader caches it

    def _complete_endpoints(self) -> None:
        """Add every service's endpoints to the cached ones, in place: the sessions' resolvers hold that object."""
        with self._lock:
            if self._endpoints_complete or "endpoints" not in self._data:
                return
            self._endpoints_complete = True
            if "endpoints" not in self._read:
                self._read["endpoints"] = super().load_data_with_path("endpoints")[0]
                return
            full = {p["partition"]: p for p in super().load_data_with_path("endpoints")[0]["partitions"]}
            for partition in self._read["endpoints"]["partitions"]:
                partition["services"].update(_plain(full[partition["partition"]]["services"]))


class Shapes(Mapping[str, Any]):
    """A model's shapes, each read (unmarshalled) when botocore first resolves it. Building a client reads its model's
    operations, not its shapes; a run resolves the shapes of the calls it makes — a few dozen of s3's ~600 — and
    botocore's ShapeResolver asks for nothing else than `shapes[name]` and the names."""

    def __init__(self, index: Span, entries: memoryview) -> None:
        self._index = index  # where the shapes' own spans are: read at the first shape asked for, not with the model
        self._spans: dict[str, Span] | None = None
        self._entries = entries
        self._read: dict[str, Any] = {}

    @property
    def _raw(self) -> dict[str, Span]:
        if self._spans is None:  # two threads may read it at once: the same spans either way
            self._spans = marshal.loads(self._entries[self._index[0] : self._index[0] + self._index[1]])
        return self._spans

    def __getitem__(self, name: str) -> Any:
        found = self._read.get(name)
        if found is None:  # two threads may read one shape at once: both get the first one kept
            start, length = self._raw[name]
            found = self._read.setdefault(name, marshal.loads(self._entries[start : start + length]))
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def cached_loader(path: Path | None = None) -> CachedLoader | None:
    """A loader answering from the data at `path`; None (use botocore's own) unless it was written for this botocore
    and botocore would read only its own data directory."""
    if os.environ.get("AWS_DATA_PATH") or os.path.isdir(Loader.CUSTOMER_DATA_PATH):
        return None  # models searched elsewhere may replace botocore's: the cache would hide them
    try:
        index, entries = read(path or CACHE)
    except (OSError, EOFError, ValueError, TypeError, struct.error):
        return None
    if not isinstance(index, dict) or index.get("format") != FORMAT or index.get("botocore") != botocore.__version__:
        return None
    models, data = index.get("models"), index.get("data")
    if not isinstance(models, dict) or not isinstance(data, dict):
        return None
    return CachedLoader(models, data, entries)


def read(path: Path) -> tuple[Any, memoryview]:
    """The file's index, and its entries as mapped (read-only, in place: an entry is read when it is unmarshalled)."""
    with open(path, "rb") as file:
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)  # stays mapped after the file is closed
    view = memoryview(mapped)
    if view[: len(MAGIC)] != MAGIC:
        raise ValueError(f"{path} is not selfheal's botocore data")
    (length,) = _LENGTH.unpack_from(view, len(MAGIC))
    start = len(MAGIC) + _LENGTH.size
    return marshal.loads(view[start : start + length]), view[start + length :]


def collect(services: tuple[str, ...] = SERVICES) -> tuple[dict[str, Any], bytes]:
    """The data to cache, read by botocore's own loader (its newest API version of each service): the index, and the
    entries it points into, each marshalled on its own (a service model's shapes each on their own too)."""
    loader = Loader()
    entries = bytearray()
    strings: dict[str, str] = {}

    def put(value: Any) -> Span:
        blob = marshal.dumps(value)
        entries.extend(blob)
        return len(entries) - len(blob), len(blob)

    models: dict[tuple[str, str], tuple[str, Span]] = {}
    for service in services:
        for type_name in MODEL_TYPES:
            try:
                version = loader.determine_latest_version(service, type_name)
                model = loader.load_service_model(service, type_name, version)
            except DataNotFoundError:
                continue  # a service without waiters or paginators
            kept = _plain(_undocumented(model) if type_name == "service-2" else model, strings)
            if type_name == "endpoint-rule-set-1":
                kept = _shared(kept, {})
            if type_name == "service-2":
                kept["shapes"] = put({name: put(shape) for name, shape in kept.get("shapes", {}).items()})
            models[(service, type_name)] = (version, put(kept))
    data = {name: _plain(loader.load_data(name), strings) for name in DATA}
    for partition in data["endpoints"]["partitions"]:
        partition["services"] = {k: v for k, v in partition["services"].items() if k in services}
    index = {"format": FORMAT, "botocore": botocore.__version__, "models": models,
             "data": {name: put(value) for name, value in data.items()}}  # fmt: skip
    return index, bytes(entries)


def pack(index: dict[str, Any], entries: bytes) -> bytes:
    """The file: MAGIC, the index's length and the index, then the entries."""
    head = marshal.dumps(index)
    return MAGIC + _LENGTH.pack(len(head)) + head + entries


def write(out: Path, services: tuple[str, ...] = SERVICES) -> int:
    """Write the cache to `out`; returns its size in bytes. A new file replaces the old one: a process that has the
    old one mapped keeps reading it (rewritten in place, its pages would change under that process)."""
    blob = pack(*collect(services))
    written = out.with_name(out.name + ".new")
    written.write_bytes(blob)
    written.replace(out)
    return len(blob)


def _plain(value: Any, strings: dict[str, str] | None = None) -> Any:
    """botocore's OrderedDicts as dicts (marshal writes only plain types; a dict keeps its order). With `strings`,
    equal strings become one object, which marshal writes once and reads back as one: a rule set repeats a few dozen
    strings thousands of times (~100 fewer page faults for a cold start's five clients; not interned: growing the
    interpreter's table of interned strings costs them back)."""
    if isinstance(value, dict):
        return {_plain(k, strings): _plain(v, strings) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, strings) for v in value]
    if isinstance(value, str) and strings is not None:
        return strings.setdefault(value, value)
    return value


def _shared(value: Any, seen: dict[bytes, Any]) -> Any:
    """A rule set whose equal parts (conditions, arguments, endpoints: s3's repeats most of its own) are one object
    each, which marshal writes once and reads back as one: s3's rule set reads as 0.15 MB of objects instead of 0.6.
    botocore only reads a rule set (each rule's parts are kept and read at each resolution; what a resolution returns
    is built anew), so a part shared by several rules is never changed through one of them; a test holds this against
    botocore's own rule sets."""
    if isinstance(value, dict):
        value = {k: _shared(v, seen) for k, v in value.items()}
    elif isinstance(value, list):
        value = [_shared(v, seen) for v in value]
    else:
        return value
    return seen.setdefault(marshal.dumps(value), value)


def _undocumented(model: dict[str, Any]) -> dict[str, Any]:
    """A model without its operations' and shapes' documentation (two thirds of its size), which only help() and
    docstrings read; botocore reads the rest of it (a client context parameter's documentation, say) as it is."""
    return {**model, "documentation": "",
            **{part: _without_docs(model[part]) for part in ("operations", "shapes") if part in model}}  # fmt: skip


def _without_docs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_docs(v) for k, v in value.items()
                if not (k in ("documentation", "documentationUrl") and isinstance(v, str))}  # fmt: skip
    if isinstance(value, list):
        return [_without_docs(v) for v in value]
    return value


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else CACHE
    size = write(target)
    print(f"{target}: botocore {botocore.__version__}'s data for {', '.join(SERVICES)} ({size / 1e6:.2f} MB)")
