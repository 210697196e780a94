"""recover's pure core: TIME parsing, the per-key decision, listing pages grouped into key histories, the manifest.

GIVEN a key's versions, WHEN recover decides, THEN it copies only the version current at TIME, never touches a key
already as at TIME, and a second decision after the first one's writes has nothing left to do.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.recover.decide import (
    KeyHistory,
    TimeError,
    Version,
    at_time,
    decide,
    histories,
    parse_time,
)
from selfheal.recover.manifest import Entry, Journal, ManifestError, read

NOW = datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC)
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def v(key: str, vid: str, minute: int, etag: str = "e", latest: bool = False, marker: bool = False,
      size: int = 10, storage: str = "STANDARD") -> Version:
    return Version(key, vid, at(minute), latest, marker, 0 if marker else size, "" if marker else etag,
                   "" if marker else storage)


# --- TIME ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("2026-12-05T09:30:00Z", datetime(2026, 12, 5, 9, 30, tzinfo=UTC)),
    ("2026-12-05T10:30:00+01:00", datetime(2026, 12, 5, 9, 30, tzinfo=UTC)),
    ("2026-12-05T09:30:00.250z", datetime(2026, 12, 5, 9, 30, 0, 250000, tzinfo=UTC)),
    ("2h", NOW - timedelta(hours=2)),
    ("30m", NOW - timedelta(minutes=30)),
    ("3d", NOW - timedelta(days=3)),
    ("90s", NOW - timedelta(seconds=90)),
])
def test_time_takes_iso_with_a_zone_or_a_duration_ago(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text, fix", [
    ("2026-12-05T09:30:00", "has no time zone — add one, e.g. 2026-12-05T09:30:00Z"),
    ("2026-12-06T09:30:00Z", "is in the future (now is 2026-12-05T10:00:00Z)"),
    ("yesterday", "is not a time — use ISO 8601 with a zone"),
    ("0h", "is now — give a time before the accident"),
    ("", "is not a time"),
])
def test_bad_time_is_one_line_naming_the_fix(text: str, fix: str) -> None:
    with pytest.raises(TimeError) as exc:
        parse_time(text, NOW)
    assert fix in str(exc.value) and "\n" not in str(exc.value)


# --- the per-key decision --------------------------------------------------------------------------------------------


def hist(*versions: Version) -> KeyHistory:
    return KeyHistory(versions[0].key, tuple(versions))


def test_overwritten_key_gets_its_version_at_time_copied_back() -> None:
    h = hist(v("a", "v2", 20, etag="new", latest=True), v("a", "v1", 5, etag="old"))
    d = decide(h, at(10))
    assert (d.case, d.source and d.source.version_id, d.current and d.current.version_id) == ("copy", "v1", "v2")


def test_deleted_key_gets_its_version_at_time_copied_back_over_the_marker() -> None:
    h = hist(v("a", "dm", 20, latest=True, marker=True), v("a", "v1", 5))
    assert decide(h, at(10)).case == "copy"


def test_key_current_at_time_is_untouched() -> None:
    h = hist(v("a", "v1", 5, latest=True), v("a", "v0", 1, etag="older"))
    assert decide(h, at(10)).case == "as_at"


def test_key_rewritten_with_the_same_bytes_is_as_at_time() -> None:
    h = hist(v("a", "v3", 30, etag="same", latest=True), v("a", "v2", 20, etag="other"), v("a", "v1", 5, etag="same"))
    assert decide(h, at(10)).case == "as_at"


def test_recovers_own_copy_with_another_etag_is_as_at_time_by_the_journal() -> None:
    # A multipart copy (or an SSE-KMS one) has another ETag than its source: the journal says whose copy it is.
    h = hist(v("a", "copy1", 30, etag="mpu-3", latest=True), v("a", "dm", 20, marker=True), v("a", "v1", 5))
    assert decide(h, at(10)).case == "copy"
    assert decide(h, at(10), {"copy1": "v1"}).case == "as_at"


def test_key_created_after_time_is_newer_and_says_what_can_be_known() -> None:
    d = decide(hist(v("a", "v1", 20, latest=True)), at(10))
    assert d.case == "newer" and "created after it (or its older versions expired)" in d.note


def test_key_deleted_at_time_and_written_since_is_newer() -> None:
    d = decide(hist(v("a", "v2", 20, latest=True), v("a", "dm", 8, marker=True), v("a", "v1", 5)), at(10))
    assert d.case == "newer" and "written again after it was deleted" in d.note


def test_key_absent_at_time_and_now_is_as_at_time() -> None:
    assert decide(hist(v("a", "dm", 20, latest=True, marker=True), v("a", "v1", 15)), at(10)).case == "as_at"


@pytest.mark.parametrize("storage", ["GLACIER", "DEEP_ARCHIVE"])
def test_version_at_time_in_an_archive_class_is_archived(storage: str) -> None:
    d = decide(hist(v("a", "dm", 20, latest=True, marker=True), v("a", "v1", 5, storage=storage)), at(10))
    assert d.case == "archived" and storage in d.note and "--thaw" in d.note


def test_glacier_instant_retrieval_is_copied_like_any_other() -> None:
    h = hist(v("a", "dm", 20, latest=True, marker=True), v("a", "v1", 5, storage="GLACIER_IR"))
    assert decide(h, at(10)).case == "copy"


def test_version_written_exactly_at_time_is_the_one_at_time() -> None:
    h = hist(v("a", "v2", 10, etag="x", latest=True), v("a", "v1", 5))
    assert at_time(h, at(10)) == h.versions[0] and decide(h, at(10)).case == "as_at"


# --- property: decide, apply its writes, decide again: nothing left, and the state is the one at TIME -----------------

EVENT = st.one_of(st.tuples(st.just("put"), st.sampled_from(["e1", "e2", "e3"])), st.just(("delete", "")))


@st.composite
def key_histories(draw: st.DrawFn) -> tuple[KeyHistory, datetime]:
    events = draw(st.lists(EVENT, min_size=1, max_size=6))
    gaps = draw(st.lists(st.integers(1, 5), min_size=len(events), max_size=len(events)))
    minute, entries = 0, []
    for n, ((kind, etag), gap) in enumerate(zip(events, gaps, strict=True)):
        minute += gap
        entries.append(v("k", f"v{n}", minute, etag=etag, marker=kind == "delete"))
    entries.reverse()
    entries[0] = Version(**{**entries[0].__dict__, "is_latest": True})
    when = at(draw(st.integers(0, minute + 2)))
    return KeyHistory("k", tuple(entries)), when


def apply_writes(h: KeyHistory, d: object, copies: dict[str, str], minute: int) -> KeyHistory:
    """What S3 holds after recover's write for this key: a new current version (copy) or delete marker (mark)."""
    case, source = d.case, d.source  # type: ignore[attr-defined]
    old = tuple(Version(**{**x.__dict__, "is_latest": False}) for x in h.versions)
    if case == "copy":
        new = Version("k", f"copy{minute}", at(minute), True, False, source.size, source.etag, "STANDARD")
        copies[new.version_id] = source.version_id
    elif case == "newer":
        new = v("k", f"dm{minute}", minute, latest=True, marker=True)
    else:
        return h
    return KeyHistory("k", (new, *old))


@settings(max_examples=300, deadline=None)
@given(key_histories())
def test_recover_then_recover_again_writes_nothing(case: tuple[KeyHistory, datetime]) -> None:
    h, when = case
    first = decide(h, when)
    then = at_time(h, when)
    if first.case == "copy":
        assert then is not None and not then.delete_marker and first.source == then  # only the version at TIME
    if first.case == "newer":
        assert then is None or then.delete_marker  # a key is only "newer" when nothing was there at TIME
    copies: dict[str, str] = {}
    after = apply_writes(h, first, copies, minute=1000)
    second = decide(after, when, copies)
    assert second.case == "as_at", (first, second)
    now = after.current
    if then is None or then.delete_marker:
        assert now is not None and now.delete_marker
    else:
        assert now is not None and (now.version_id == then.version_id or copies.get(now.version_id)
                                    == then.version_id or (now.etag, now.size) == (then.etag, then.size))
    # every version that existed before is still there: recover only adds
    assert {x.version_id for x in h.versions} <= {x.version_id for x in after.versions}


# --- listing pages of any mix -> histories ---------------------------------------------------------------------------


def as_listing(entries: list[Version]) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    versions = [{"Key": e.key, "VersionId": e.version_id, "LastModified": e.last_modified, "IsLatest": e.is_latest,
                 "Size": e.size, "ETag": e.etag, "StorageClass": e.storage_class} for e in entries
                if not e.delete_marker]
    markers = [{"Key": e.key, "VersionId": e.version_id, "LastModified": e.last_modified, "IsLatest": e.is_latest}
               for e in entries if e.delete_marker]
    return versions, markers


@settings(max_examples=200, deadline=None)
@given(st.lists(key_histories(), min_size=1, max_size=8), st.data())
def test_pages_of_any_mix_give_every_key_its_whole_history(cases: list[tuple[KeyHistory, datetime]],
                                                           data: st.DataObject) -> None:
    keys = [f"photos/{n:03d}.jpg" for n in range(len(cases))]
    wanted = {key: tuple(Version(**{**x.__dict__, "key": key}) for x in h.versions)
              for key, (h, _) in zip(keys, cases, strict=True)}
    flat = [x for key in keys for x in wanted[key]]  # ListObjectVersions' order: key, then newest first
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(flat) - 1)), max_size=len(flat))))
    pages = []
    for start, end in zip([0, *cuts], [*cuts, len(flat)], strict=True):
        versions, markers = as_listing(flat[start:end])
        page: dict[str, object] = {}
        if versions:
            page["Versions"] = versions
        if markers:
            page["DeleteMarkers"] = markers
        pages.append(page)
    got = list(histories(pages))
    assert [h.key for h in got] == keys
    assert {h.key: h.versions for h in got} == wanted


def test_a_page_of_only_delete_markers_does_not_end_the_listing() -> None:
    pages = [
        {"Versions": [{"Key": "a", "VersionId": "a1", "LastModified": at(1), "IsLatest": True, "Size": 1,
                       "ETag": "x"}]},
        {"DeleteMarkers": [{"Key": "b", "VersionId": "bdm", "LastModified": at(9), "IsLatest": True}]},
        {"Versions": [{"Key": "b", "VersionId": "b1", "LastModified": at(2), "IsLatest": False, "Size": 1,
                       "ETag": "y"}]},
        {},
        {"Versions": [{"Key": "c", "VersionId": "c1", "LastModified": at(3), "IsLatest": True, "Size": 1,
                       "ETag": "z"}]},
    ]
    got = {h.key: [x.version_id for x in h.versions] for h in histories(pages)}
    assert got == {"a": ["a1"], "b": ["bdm", "b1"], "c": ["c1"]}
    assert decide(next(h for h in histories(pages) if h.key == "b"), at(5)).case == "copy"


# --- the manifest ----------------------------------------------------------------------------------------------------

HEADER = {"bucket": "photos", "region": "us-east-1", "to": "2026-12-05T09:30:00Z", "prefix": ""}


def test_journal_writes_nothing_until_its_first_entry_then_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    journal = Journal(path, HEADER)
    journal.close()
    assert not path.exists()
    journal = Journal(path, HEADER)
    journal.add(Entry("a", "copy", {"version_id": "v2", "delete_marker": False}, "v1", "c1"))
    journal.add(Entry("b", "mark", None, None, "dm1"))
    journal.close()
    again = Journal(path, HEADER)  # a rerun continues the same file
    again.add(Entry("a", "copy", {"version_id": "c1", "delete_marker": False}, "v1", "c2"))
    again.close()
    manifest = read(path)
    assert manifest.bucket == "photos" and manifest.copies() == {"c1": "v1", "c2": "v1"}
    first, last = manifest.by_key()["a"]
    assert first.before == {"version_id": "v2", "delete_marker": False} and last.after == "c2"


def test_journal_of_another_recovery_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    journal = Journal(path, HEADER)
    journal.add(Entry("b", "mark", None, None, "dm1"))
    journal.close()
    with pytest.raises(ManifestError, match="a manifest of another recovery .*to '2026-12-05T09:30:00Z'.* — pass "):
        Journal(path, {**HEADER, "to": "2026-12-04T00:00:00Z"})


@pytest.mark.parametrize("text, problem", [
    ("", "not a selfheal recover manifest"),
    ('{"manifest": "other"}\n', "not a selfheal recover manifest"),
    ('{"manifest": "selfheal-recover", "format": 1, "to": "x"}\n', "line 1: the header lacks `bucket`"),
    ('{"manifest": "selfheal-recover", "format": 1, "bucket": "b", "to": "x"}\n{"key": "a", "act',
     "line 2 is not JSON"),
    ('{"manifest": "selfheal-recover", "format": 1, "bucket": "b", "to": "x"}\n'
     '{"key": "a", "action": "delete", "after": "v"}\n', "line 2: `action` must be copy or mark"),
    ('{"manifest": "selfheal-recover", "format": 1, "bucket": "b", "to": "x"}\n'
     '{"key": "a", "action": "copy", "before": null, "after": "v"}\n', "line 2: `after` (and a copy's `source`)"),
])
def test_damaged_manifest_is_one_line_naming_the_place(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(text)
    with pytest.raises(ManifestError) as exc:
        read(path)
    assert problem in str(exc.value) and "\n" not in str(exc.value)


def test_manifest_header_is_json_with_the_recovery(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    journal = Journal(path, HEADER)
    journal.add(Entry("b", "mark", None, None, "dm1"))
    journal.close()
    header = json.loads(path.read_text().splitlines()[0])
    assert header == {"manifest": "selfheal-recover", "format": 1, **HEADER}


# --- recover's client's dates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "2026-12-05T13:18:19.000Z",  # ListObjectVersions' LastModified
    "2026-12-05T13:18:19Z",
    "Sat, 05 Dec 2026 13:18:19 GMT",  # HeadObject's Last-Modified
    "2026-12-05T13:18:19+01:00",  # not S3's forms: botocore's own parser
    "1733400000",
    1733400000,
])
def test_recover_reads_s3_dates_as_botocore_does(text: str | int) -> None:
    from botocore.utils import parse_timestamp as botocore_parse

    from selfheal.recover.listing import parse_timestamp

    ours = parse_timestamp(text)
    assert ours == botocore_parse(text) and ours.utcoffset() is not None
