"""The S3 side of `recover`: check the bucket, list its versions, decide per key (decide.py), act in parallel,
journal every write (manifest.py); and `--undo`, which puts a manifest's `before` versions back the same way.

Writes are CopyObject / multipart copy (a new version on the key), DeleteObject WITHOUT a VersionId (a delete marker,
only for --remove-newer and undo, only on a bucket whose versioning is Enabled) and RestoreObject (--thaw).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..aws import AWS_ERRORS, error_code, error_message
from .copy import COPY_LIMIT, DEFAULT_PART, Copier, SourceVersion, head_version
from .decide import Decision, Tally, Version, decide, histories, iso, same_content
from .listing import Listing
from .manifest import Entry, Journal, Manifest

# S3 Standard list prices, us-east-1 (https://aws.amazon.com/s3/pricing/, December 2026): per request and per
# GB-month. DELETE requests are free; every copy stays a new version, billed as storage until it expires.
PRICE_TIER1 = 0.005 / 1000  # PUT, COPY, POST, LIST
PRICE_TIER2 = 0.0004 / 1000  # GET, HEAD and the other reads
PRICE_GB_MONTH = 0.023
# Typical time to a readable copy of an archived version with the Standard tier (S3 User Guide, "Understanding
# archive retrieval options"): 3-5 hours from Glacier Flexible Retrieval, within 12 hours from Deep Archive.
THAW_HOURS = {"GLACIER": 5, "DEEP_ARCHIVE": 12}


class BucketProblem(Exception):
    """The bucket (or its versioning) rules recover out: one line naming the problem and the fix."""


@dataclass(frozen=True)
class Request:
    bucket: str
    to: datetime
    prefix: str = ""
    dry_run: bool = False
    remove_newer: bool = False
    thaw: bool = False
    thaw_days: int = 7
    workers: int = 64
    multipart_threshold: int = COPY_LIMIT
    part_size: int = DEFAULT_PART
    page_size: int | None = None  # ListObjectVersions MaxKeys (1,000 when None)
    # False: a copy up to the multipart threshold takes the bucket's default encryption, and needs no HeadObject of
    # its version (one request per key instead of two); metadata, tags and storage class are kept either way.
    keep_encryption: bool = True


class Progress:
    """What a face shows while recover runs (no-op here; the CLI draws a rich bar)."""

    def listed(self, keys: int, actions: int, bytes_total: int) -> None:
        """Listing so far: keys seen, keys to act on, bytes to copy."""

    def listing_done(self) -> None:
        """Every key is listed: the totals are final."""

    def advance(self, objects: int, nbytes: int) -> None:
        """One key acted on (or failed), with the bytes it copied."""


@dataclass
class Result:
    """A run's (or dry run's) account of every key, in counts and the lists a person must read."""

    request: Request
    tally: Tally = field(default_factory=Tally)
    done: dict[str, int] = field(default_factory=dict)  # copied, marked, thaw_started, thawing, thawed ...
    failed: list[tuple[str, str]] = field(default_factory=list)
    bytes_copied: int = 0
    requests: dict[str, int] = field(default_factory=lambda: {"tier1": 0, "tier2": 0, "delete": 0})
    seconds: float = 0.0
    list_seconds: float = 0.0
    list_calls: int = 0
    manifest: str | None = None
    resumed_entries: int = 0

    def count(self, what: str, n: int = 1) -> None:
        self.done[what] = self.done.get(what, 0) + n

    @property
    def pending(self) -> int:
        """Keys a run would still write (dry run) or that are still not as at TIME for lack of a thaw."""
        t = self.tally.counts
        return t["copy"] + (t["newer"] if self.request.remove_newer else 0) + t["archived"]

    def estimate(self) -> dict[str, Any]:
        """Requests, cost and time the run would take (dry run): from the plan and the measured listing rate."""
        t, r = self.tally.counts, self.request
        sizer = Copier(None, r.multipart_threshold, r.part_size)
        copies = t["copy"] - len(self.tally.big_copies)  # one CopyObject each
        for size in self.tally.big_copies:  # CreateMultipartUpload + parts + Complete above the threshold
            copies += len(sizer.part_ranges(size)) + 2 if size > min(r.multipart_threshold, COPY_LIMIT) else 1
        heads = (t["copy"] if r.keep_encryption else len(self.tally.big_copies)) + t["archived"]
        tier1 = copies + (t["archived"] if r.thaw else 0)
        deletes = t["newer"] if r.remove_newer else 0
        latency = self.list_seconds / self.list_calls if self.list_calls else 0.05
        # Each key's calls follow one another (HEAD, then COPY); keys run side by side on `workers` threads.
        seconds = max(self.list_seconds, (heads + tier1 + deletes) * latency / max(1, r.workers))
        return {
            "requests": {"head": heads, "copy_put_post": tier1, "delete_marker": deletes},
            "request_cost_usd": round(tier1 * PRICE_TIER1 + heads * PRICE_TIER2, 4),
            "new_version_gb": round(self.tally.bytes_to_copy / 1024**3, 3),
            "storage_cost_usd_per_month": round(self.tally.bytes_to_copy / 1024**3 * PRICE_GB_MONTH, 4),
            "seconds": round(seconds, 1),
            "per_call_seconds": round(latency, 4),
        }

    def exit_code(self) -> int:
        """As `plan`: dry run 0 nothing to do, 2 work pending, 1 problems; a run 0 when every recoverable key is
        as at TIME, 2 when archived versions still wait for a thaw, 1 when a key failed."""
        if self.failed:
            return 1
        if self.request.dry_run:
            return 2 if self.pending else 0
        return 2 if self.done.get("archived", 0) + self.done.get("thaw_started", 0) + self.done.get("thawing", 0) \
            else 0

    def to_dict(self) -> dict[str, Any]:
        r = self.request
        out: dict[str, Any] = {
            "bucket": r.bucket, "to": iso(r.to), "prefix": r.prefix, "dry_run": r.dry_run,
            "remove_newer": r.remove_newer, "thaw": r.thaw, "keys": self.tally.keys, "cases": dict(self.tally.counts),
            "bytes_to_copy": self.tally.bytes_to_copy, "done": dict(self.done), "bytes_copied": self.bytes_copied,
            "failed": [{"key": k, "error": e} for k, e in self.failed], "newer": self.tally.newer,
            "archived": self.tally.archived, "seconds": round(self.seconds, 3), "manifest": self.manifest,
            "exit_code": self.exit_code(),
        }
        if r.dry_run:
            out["estimate"] = self.estimate()
        return out


def check_bucket(s3: Any, bucket: str, region: str) -> None:
    """The bucket exists, may be read, and keeps versions (Enabled): else BucketProblem, before any write."""
    try:
        s3.head_bucket(Bucket=bucket)
    except AWS_ERRORS as exc:
        code = error_code(exc)
        headers = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPHeaders", {})
        elsewhere = headers.get("x-amz-bucket-region")
        if elsewhere and elsewhere != region:
            raise BucketProblem(f"bucket {bucket} is in {elsewhere}, not {region} — pass --region {elsewhere}") \
                from None
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise BucketProblem(f"bucket {bucket}: no such bucket — check the name (and --region)") from None
        if code in ("403", "AccessDenied", "Forbidden"):
            raise BucketProblem(f"bucket {bucket}: access denied — it belongs to another account, or your "
                                "credentials lack s3:ListBucket (`selfheal recover --help` lists what recover "
                                "needs)") from None
        raise BucketProblem(f"bucket {bucket}: HeadBucket failed: {code}: {error_message(exc)}") from None
    try:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except AWS_ERRORS as exc:
        raise BucketProblem(f"bucket {bucket}: cannot read its versioning ({error_code(exc)}) — grant "
                            "s3:GetBucketVersioning") from None
    if status is None:
        raise BucketProblem(
            f"bucket {bucket} was never versioned: a deleted or overwritten object left no older version here, so "
            "nothing can come back from this bucket — only from a copy elsewhere (a replica, AWS Backup; "
            "docs/recovery.md); turn versioning on now (selfheal apply does, as the estate declares)")
    if status != "Enabled":
        raise BucketProblem(
            f"bucket {bucket}: versioning is {status} — objects overwritten or deleted while it was suspended are "
            "gone (their null version was replaced); versions kept while it was Enabled remain, but copying them "
            "back now would replace null versions: enable versioning first (selfheal apply does), then run again")


def _timed_pages(s3: Any, request: Request, result: Result) -> Iterator[dict[str, Any]]:
    config: dict[str, Any] = {"PageSize": request.page_size} if request.page_size else {}
    pages = iter(s3.get_paginator("list_object_versions").paginate(
        Bucket=request.bucket, Prefix=request.prefix, PaginationConfig=config))
    while True:
        started = time.perf_counter()
        try:
            page = next(pages)
        except StopIteration:
            return
        result.list_seconds += time.perf_counter() - started
        result.list_calls += 1
        result.requests["tier1"] += 1
        yield page


class _Runner:
    """One run's shared state: the pool, the journal, the result (guarded by a lock)."""

    def __init__(self, s3: Any, request: Request, result: Result, journal: Journal | None, progress: Progress,
                 copier: Copier) -> None:
        self.s3, self.request, self.result, self.journal = s3, request, result, journal
        self.progress, self.copier = progress, copier
        self.lock = threading.Lock()

    def _note(self, what: str, nbytes: int = 0, failed: tuple[str, str] | None = None) -> None:
        with self.lock:
            if failed:
                self.result.failed.append(failed)
            else:
                self.result.count(what)
            self.result.bytes_copied += nbytes
        self.progress.advance(1, nbytes)

    def _calls(self, tier1: int = 0, tier2: int = 0, delete: int = 0) -> None:
        with self.lock:
            self.result.requests["tier1"] += tier1
            self.result.requests["tier2"] += tier2
            self.result.requests["delete"] += delete

    def act(self, decision: Decision) -> None:
        """The one write (or the reads) a key needs; a failure is recorded on the key, never raised."""
        try:
            if decision.case == "newer":
                self._mark(decision.key, decision.current)
            elif decision.case in ("copy", "archived"):
                self._copy(decision)
        except AWS_ERRORS as exc:
            code = error_code(exc)
            if code == "InvalidObjectState":  # an Intelligent-Tiering archive tier: readable only after a restore
                self._note("archived")
                return
            self._note("", failed=(decision.key, f"{code}: {error_message(exc)}"))
        except Exception as exc:  # noqa: BLE001 - one key's surprise never stops the others
            self._note("", failed=(decision.key, f"{type(exc).__name__}: {exc}"))

    def _mark(self, key: str, current: Version | None) -> None:
        if self.request.dry_run:
            return self._note("would_mark")
        # No VersionId: on a bucket with versioning Enabled this ADDS a delete marker; every version stays.
        answer = self.s3.delete_object(Bucket=self.request.bucket, Key=key)
        self._calls(delete=1)
        marker = answer.get("VersionId")
        if not answer.get("DeleteMarker") or not marker:
            raise RuntimeError("DeleteObject answered without a delete marker: is versioning still Enabled?")
        if self.journal is not None:
            self.journal.add(Entry(key, "mark", current.to_dict() if current else None, None, str(marker)))
        self._note("marked")

    def _copy(self, decision: Decision) -> None:
        source = decision.source
        assert source is not None
        request = self.request
        if decision.case == "copy" and request.dry_run:
            return self._note("would_copy")
        if decision.case == "copy" and not request.keep_encryption and source.size <= min(
                request.multipart_threshold, COPY_LIMIT):
            # The listing has all CopyObject needs: COPY directives carry metadata and tags; class from the listing.
            listed = SourceVersion(request.bucket, decision.key, source.version_id, source.size, source.storage_class)
            return self._copy_now(decision, listed)
        src = head_version(self.s3, request.bucket, decision.key, source.version_id)
        self._calls(tier2=1)
        if decision.case == "archived" and not src.thawed:
            if src.thawing:
                return self._note("thawing")
            if not request.thaw or request.dry_run:
                return self._note("archived")
            try:
                self.s3.restore_object(Bucket=request.bucket, Key=decision.key, VersionId=source.version_id,
                                       RestoreRequest={"Days": request.thaw_days,
                                                       "GlacierJobParameters": {"Tier": "Standard"}})
            except AWS_ERRORS as exc:
                if error_code(exc) != "RestoreAlreadyInProgress":
                    raise
                return self._note("thawing")
            finally:
                self._calls(tier1=1)
            return self._note("thaw_started")
        if request.dry_run:
            return self._note("would_copy")  # a thawed archived version: copyable now
        self._copy_now(decision, src)

    def _copy_now(self, decision: Decision, src: SourceVersion) -> None:
        source_id = str(src.version_id)
        new = self.copier.copy(src, self.request.bucket, decision.key)
        parts = len(self.copier.part_ranges(src.size)) + 2 if src.size > min(self.copier.multipart_threshold,
                                                                            COPY_LIMIT) else 1
        self._calls(tier1=parts)
        if self.journal is not None:
            before = decision.current.to_dict() if decision.current else None
            self.journal.add(Entry(decision.key, "copy", before, source_id, new))
        self._note("copied", src.size)


def _pool(request: Request) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
    return (ThreadPoolExecutor(request.workers, thread_name_prefix="recover"),
            ThreadPoolExecutor(max(2, min(16, request.workers // 4)), thread_name_prefix="recover-part"))


def _drain(pool: ThreadPoolExecutor, decisions: Iterator[Decision], work: Callable[[Decision], None],
           limit: int) -> None:
    """Submit work as the listing goes, at most `limit` keys in flight (memory stays flat on a huge bucket)."""
    slots = threading.BoundedSemaphore(limit)
    futures: set[Future[None]] = set()

    def release(f: Future[None]) -> None:
        slots.release()
        futures.discard(f)

    for decision in decisions:
        slots.acquire()
        future = pool.submit(work, decision)
        futures.add(future)
        future.add_done_callback(release)
    for future in list(futures):
        future.result()


def recover(s3: Any, request: Request, region: str, manifest_path: Path | None = None,
            progress: Progress | None = None) -> Result:
    """Bring every key under the prefix back as at request.to (see decide.decide); a dry run only reads.
    Raises BucketProblem before any write when the bucket cannot be recovered or nothing is under the prefix."""
    progress = progress or Progress()
    started = time.perf_counter()
    check_bucket(s3, request.bucket, region)
    result = Result(request)
    journal = None
    copies: dict[str, str] = {}
    if not request.dry_run and manifest_path is not None:
        header = {"bucket": request.bucket, "region": region, "to": iso(request.to), "prefix": request.prefix,
                  "started": iso(datetime.now(request.to.tzinfo))}
        journal = Journal(manifest_path, header)
        if journal.previous is not None:
            copies = journal.previous.copies()
            result.resumed_entries = len(journal.previous.entries)
    elif manifest_path is not None and manifest_path.exists():
        from .manifest import read  # noqa: PLC0415

        copies = read(manifest_path).copies()
    pool, parts = _pool(request)
    runner = _Runner(s3, request, result, journal, progress,
                     Copier(s3, request.multipart_threshold, request.part_size, parts))

    def listed_page(seconds: float) -> None:
        with runner.lock:
            result.list_seconds += seconds
            result.list_calls += 1
            result.requests["tier1"] += 1

    def plan() -> Iterator[Decision]:
        listing = Listing(s3, request.bucket, request.prefix, request.page_size, listed_page,
                          backlog=request.workers * 4)
        try:
            for history in listing:
                decision = decide(history, request.to, copies)
                result.tally.add(decision)
                acts = decision.case in ("copy", "archived") or (decision.case == "newer" and request.remove_newer)
                progress.listed(result.tally.keys, result.pending, result.tally.bytes_to_copy)
                if acts:
                    yield decision
        finally:
            listing.close()  # an interrupt stops the listings too
        progress.listing_done()

    try:
        _drain(pool, plan(), runner.act, limit=request.workers * 4)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        parts.shutdown(wait=True)
        if journal is not None:
            journal.close()
            result.manifest = str(manifest_path) if journal.written else None
    if result.tally.keys == 0:
        where = f"under prefix {request.prefix!r}" if request.prefix else "at all"
        raise BucketProblem(f"bucket {request.bucket} holds no object versions {where} — check the prefix "
                            "(case-sensitive, no leading /)" if request.prefix else
                            f"bucket {request.bucket} holds no object versions {where}: nothing to recover")
    result.seconds = time.perf_counter() - started
    return result


# --- undo ------------------------------------------------------------------------------------------------------------


@dataclass
class UndoResult:
    bucket: str
    dry_run: bool
    done: dict[str, int] = field(default_factory=dict)  # restored, marked, already, would_*
    changed: list[str] = field(default_factory=list)  # written by someone else since the recover: left alone
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def exit_code(self) -> int:
        if self.failed:
            return 1
        if self.dry_run:
            return 2 if self.done.get("would_copy", 0) + self.done.get("would_mark", 0) else 0
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "dry_run": self.dry_run, "done": self.done, "changed_since": self.changed,
                "failed": [{"key": k, "error": e} for k, e in self.failed], "seconds": round(self.seconds, 3),
                "exit_code": self.exit_code()}


def _before_version(key: str, before: dict[str, Any]) -> Version:
    return Version(key=key, version_id=str(before["version_id"]), last_modified=datetime.min,
                   is_latest=False, delete_marker=bool(before.get("delete_marker")),
                   size=int(before.get("size") or 0), etag=str(before.get("etag") or ""))


def undo(s3: Any, manifest: Manifest, region: str, dry_run: bool = False, workers: int = 64,
         journal_path: Path | None = None, progress: Progress | None = None,
         page_size: int | None = None) -> UndoResult:
    """Put back, for every key of the manifest, the entry that was current before recover wrote it — by copying
    it (or by adding a delete marker where the key had none) — unless someone changed the key since."""
    progress = progress or Progress()
    started = time.perf_counter()
    check_bucket(s3, manifest.bucket, region)
    plan = manifest.by_key()
    result = UndoResult(manifest.bucket, dry_run)
    journal = None
    copies: dict[str, str] = {}
    if not dry_run and journal_path is not None:
        journal = Journal(journal_path, {"bucket": manifest.bucket, "region": region,
                                         "to": f"undo of {manifest.header['to']}",
                                         "prefix": manifest.header.get("prefix", "")})
        if journal.previous is not None:
            copies = journal.previous.copies()
    current: dict[str, Version | None] = {}
    request = Request(manifest.bucket, datetime.now(), prefix=str(manifest.header.get("prefix") or ""),
                      page_size=page_size)
    for history in histories(_timed_pages(s3, request, Result(request))):
        if history.key in plan:
            current[history.key] = history.current
    progress.listed(len(plan), len(plan), 0)
    progress.listing_done()
    lock = threading.Lock()
    copier = Copier(s3)

    def note(what: str, failed: tuple[str, str] | None = None) -> None:
        with lock:
            if failed:
                result.failed.append(failed)
            else:
                result.done[what] = result.done.get(what, 0) + 1
        progress.advance(1, 0)

    def one(key: str) -> None:
        first, last = plan[key]
        now = current.get(key)
        before = first.before
        try:
            if before is None or before.get("delete_marker"):
                if now is None or now.delete_marker:
                    return note("already")
                if now.version_id != last.after:
                    with lock:
                        result.changed.append(key)
                    return note("changed")
                if dry_run:
                    return note("would_mark")
                answer = s3.delete_object(Bucket=manifest.bucket, Key=key)  # no VersionId: adds a delete marker
                if journal is not None and answer.get("VersionId"):
                    journal.add(Entry(key, "mark", now.to_dict(), None, str(answer["VersionId"])))
                return note("marked")
            wanted = _before_version(key, before)
            if now is not None and same_content(now, wanted, copies):
                return note("already")
            if now is None or now.version_id != last.after:
                with lock:
                    result.changed.append(key)
                return note("changed")
            if dry_run:
                return note("would_copy")
            src = head_version(s3, manifest.bucket, key, wanted.version_id)
            new = copier.copy(src, manifest.bucket, key)
            if journal is not None:
                journal.add(Entry(key, "copy", now.to_dict(), wanted.version_id, new))
            note("restored")
        except AWS_ERRORS as exc:
            note("", failed=(key, f"{error_code(exc)}: {error_message(exc)}"))

    with ThreadPoolExecutor(workers, thread_name_prefix="recover-undo") as pool:
        list(pool.map(one, sorted(plan)))
    if journal is not None:
        journal.close()
    result.changed.sort()
    result.seconds = time.perf_counter() - started
    return result
