"""The local AWS's ListObjectVersions (devtools/localaws.py) answers as moto's own does, page for page.

moto copies and sorts every version of the bucket for every page; the local AWS's listing reads from the page's first
key on. GIVEN any keys, versions and delete markers (timestamps that tie to the millisecond included), WHEN both list
with any prefix, delimiter, markers and page size, THEN the answers are the same, and no stored version is changed.
No server: moto's backend classes, in this process, with moto's own function called beside the local AWS's.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from moto.s3.models import FakeDeleteMarker, FakeKey, S3Backend
from moto.s3.utils import _VersionedKeyStore

from devtools.localaws import list_object_versions_page

MOTO_LISTING = S3Backend.list_object_versions
assert MOTO_LISTING is not list_object_versions_page  # moto unpatched in this process: the reference is moto's own
T0 = datetime(2026, 12, 5, 9, 0, 0)
_ids = itertools.count()


def stored(history: list[tuple[str, int, bool]]) -> _VersionedKeyStore:
    """(key, millisecond, is a delete marker) in the order they were written."""
    store = _VersionedKeyStore()
    for name, millis, marker in history:
        key = FakeKey(name, f"{name}:{millis}".encode(), account_id="123456789012", region_name="us-east-1",
                      is_versioned=True, version_id=f"v{next(_ids)}")
        key.last_modified = T0 + timedelta(milliseconds=millis)
        entry: Any = key
        if marker:
            entry = FakeDeleteMarker(key)
            entry.last_modified = key.last_modified
        store[name] = entry
    return store


def answer(listing: Any, store: _VersionedKeyStore, **query: Any) -> tuple[Any, ...]:
    backend = SimpleNamespace(get_bucket=lambda name: SimpleNamespace(keys=store))
    versions, prefixes, markers, next_key, next_version = listing(backend, "b", **query)
    return ([(v.name, v.version_id, v.is_latest, v.etag, v.size) for v in versions], prefixes,
            [(m.name, m.version_id, m.is_latest) for m in markers], next_key, next_version)


names = st.sampled_from(["a", "a/1", "a/2", "a/2/x", "ab", "b", "b/1", "c/d/e", "c/d/f", "z"])
histories = st.lists(st.tuples(names, st.integers(0, 6), st.booleans()), max_size=25)


@settings(max_examples=400, deadline=None)
@given(history=histories, prefix=st.sampled_from(["", "a", "a/", "b", "c/d/", "q"]),
       delimiter=st.sampled_from([None, "/"]), max_keys=st.sampled_from([0, 1, 2, 3, 5, 1000]),
       marker=st.one_of(st.none(), names, st.just("a/")), version_pick=st.one_of(st.none(), st.integers(0, 30)))
def test_every_page_is_moto_s_own(history: list[tuple[str, int, bool]], prefix: str, delimiter: str | None,
                                  max_keys: int, marker: str | None, version_pick: int | None) -> None:
    store = stored(history)
    every = [v.version_id for versions in dict(store).values() for v in versions]
    version_id_marker = None
    if version_pick is not None:
        version_id_marker = every[version_pick] if version_pick < len(every) else "no-such-version"
    query = {"prefix": prefix, "delimiter": delimiter, "max_keys": max_keys, "key_marker": marker,
             "version_id_marker": version_id_marker}
    assert answer(list_object_versions_page, store, **query) == answer(MOTO_LISTING, store, **query)


@settings(max_examples=100, deadline=None)
@given(history=histories, page=st.integers(1, 4))
def test_paging_through_lists_every_entry_once(history: list[tuple[str, int, bool]], page: int) -> None:
    store = stored(history)
    key_marker = version_marker = None
    seen = []
    for _ in range(len(history) + 2):
        versions, _, markers, key_marker, version_marker = answer(
            list_object_versions_page, store, max_keys=page, key_marker=key_marker, version_id_marker=version_marker)
        seen += [v[1] for v in versions] + [m[1] for m in markers]
        if key_marker is None:
            break
    assert sorted(seen) == sorted(v.version_id for versions in dict(store).values() for v in versions)


def test_listing_leaves_the_stored_versions_as_they_were() -> None:
    store = stored([("a", 0, False), ("a", 1, False), ("a", 2, True)])
    def state() -> list[Any]:  # _etag left out: reading a version's ETag keeps it, as moto's own property does
        return [(type(v), {k: x for k, x in v.__dict__.items() if k != "_etag"}) for v in store.getlist("a")]

    before = state()
    versions, _, markers, *_ = list_object_versions_page(
        SimpleNamespace(get_bucket=lambda name: SimpleNamespace(keys=store)), "b")
    assert [m.is_latest for m in markers] == [True] and [v.is_latest for v in versions] == [False, False]
    del versions, markers  # a listed copy, collected, never closes the stored version's bytes
    assert state() == before
    assert [bytes(v.value) for v in store.getlist("a")[:2]] == [b"a:0", b"a:1"]
