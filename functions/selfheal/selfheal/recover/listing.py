"""ListObjectVersions for `recover`, several prefixes at once.

One listing reads a page after the page before it (its marker comes from that page), so a bucket of millions of
objects takes as many round trips in a row. A bucket whose keys have "/" in them splits: a prefix is first asked for
one page with Delimiter "/"; when that page is the whole answer (its direct keys and at most SPLIT_BUDGET sub-prefixes
in all), its keys are one listing and each sub-prefix another, down to SPLIT_DEPTH levels; otherwise, and below that
depth, the prefix is listed whole. Up to STREAMS listings run at once; a key belongs to exactly one of them, so each
one's pages make whole key histories (decide.histories). A split costs at most 1 + SPLIT_BUDGET extra calls, so a
bucket of a million tiny prefixes is still listed 1,000 keys a call; a bucket without "/" is one listing, as before.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.utils import parse_timestamp as botocore_parse_timestamp

from .decide import KeyHistory, histories

_ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT")


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser for recover's client, without dateutil where the text is one of S3's two forms
    (ListObjectVersions' ISO 8601 in UTC, HeadObject's Last-Modified HTTP date): a page of 1,000 versions parsed
    1,000 dates with dateutil. The same instant either way; anything else goes to botocore's own parser."""
    if isinstance(value, str):
        if _ISO_UTC.fullmatch(value):
            return datetime.fromisoformat(value[:-1] + "+00:00")
        if _HTTP_DATE.fullmatch(value):
            return parsedate_to_datetime(value)
    return botocore_parse_timestamp(value)


STREAMS = 8  # listings in flight at once
SPLIT_DEPTH = 2  # levels of "/" a prefix is split into (photos/ -> photos/<gallery>/)
SPLIT_BUDGET = 64  # sub-prefix listings a run may start in all
_DONE = object()  # one listing has ended


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Listing:
    """Key histories under a prefix, from up to STREAMS listings at once, in no particular order across them.

    `on_page(seconds)` is called for every page (from listing threads). Iterate in one thread; `close()` (also on
    an exception or an interrupt of that thread) stops the listings."""

    def __init__(self, s3: Any, bucket: str, prefix: str, page_size: int | None,
                 on_page: Callable[[float], None], backlog: int = 1024, streams: int = STREAMS) -> None:
        self.s3, self.bucket, self.page_size, self.on_page = s3, bucket, page_size, on_page
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=backlog)  # flat memory: listings wait for the consumer
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(streams, thread_name_prefix="recover-list")
        self.lock = threading.Lock()
        self.running = 0
        self.budget = SPLIT_BUDGET
        self._start(prefix, 0)

    def _start(self, prefix: str, depth: int) -> None:
        with self.lock:
            self.running += 1
        self.pool.submit(self._list, prefix, depth)

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _call(self, **kwargs: Any) -> dict[str, Any]:
        started = time.perf_counter()
        page: dict[str, Any] = self.s3.list_object_versions(Bucket=self.bucket, **kwargs)
        self.on_page(time.perf_counter() - started)
        return page

    def _split(self, prefix: str, depth: int) -> dict[str, Any] | None:
        """One page by "/": when it is the whole answer and its sub-prefixes fit the budget, start their listings
        and return it (its keys are this listing's); else None (the prefix is listed whole)."""
        if depth >= SPLIT_DEPTH:
            return None
        page = self._call(Prefix=prefix, Delimiter="/", **({"MaxKeys": self.page_size} if self.page_size else {}))
        subs = [str(common["Prefix"]) for common in page.get("CommonPrefixes") or ()]
        with self.lock:
            fits = not page.get("IsTruncated") and len(subs) <= self.budget
            if fits:
                self.budget -= len(subs)
        if not fits:
            return None
        for sub in subs:
            self._start(sub, depth + 1)
        return page

    def _pages(self, prefix: str, depth: int) -> Iterator[dict[str, Any]]:
        split = self._split(prefix, depth)
        if split is not None:
            yield split
            return
        config: dict[str, Any] = {"PageSize": self.page_size} if self.page_size else {}
        pages = iter(self.s3.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig=config))
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                page = next(pages)
            except StopIteration:
                return
            self.on_page(time.perf_counter() - started)
            yield page

    def _list(self, prefix: str, depth: int) -> None:
        try:
            for history in histories(self._pages(prefix, depth)):
                if not self._put(history):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(_Failed(error))
        finally:
            self._put(_DONE)

    def __iter__(self) -> Iterator[KeyHistory]:
        try:
            while True:
                item = self.queue.get()
                if item is _DONE:
                    with self.lock:
                        self.running -= 1
                        if self.running == 0:  # a listing starts its sub-listings before it ends: none is missed
                            return
                    continue
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self.stop.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
