"""Copy one object version onto a key, keeping what the version had: content type, cache-control and the other
system metadata, user metadata, tags, encryption (SSE-S3 / SSE-KMS and its key) and storage class.

Up to `multipart_threshold` (5 GiB, CopyObject's limit): one CopyObject with CopySource {Bucket, Key, VersionId},
MetadataDirective and TaggingDirective COPY. Above it: CreateMultipartUpload with the version's metadata and tags
(read with GetObjectTagging), UploadPartCopy of byte ranges in parallel, CompleteMultipartUpload; on failure
AbortMultipartUpload (it frees the parts uploaded so far; no object or version is touched).
The source may be in another bucket of the same region (a replica refilling a bucket uses the same copier).
"""

from __future__ import annotations

import math
import urllib.parse
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ..aws import expected_owner

GIB = 1024**3
MIB = 1024**2
COPY_LIMIT = 5 * GIB  # CopyObject copies at most 5 GB in one request
MIN_PART = 5 * MIB  # every part but the last is at least 5 MiB
MAX_PART = 5 * GIB
MAX_PARTS = 10_000
DEFAULT_PART = 512 * MIB

# Archived classes are never written back as archived: AWS's own advice for a permanent copy of a restored object
# is a copy in S3 Standard; other classes are kept.
_KEEP_CLASS_EXCEPT = frozenset({"STANDARD", "GLACIER", "DEEP_ARCHIVE", ""})
# HeadObject field -> CreateMultipartUpload parameter, for the system metadata CopyObject's COPY directive keeps.
_SYSTEM_METADATA = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage",
                    "Expires", "WebsiteRedirectLocation")


@dataclass(frozen=True)
class SourceVersion:
    """What HeadObject says of one version: enough to copy it faithfully."""

    bucket: str
    key: str
    version_id: str | None  # None: the key's current version (a replica's object, say)
    size: int
    storage_class: str = "STANDARD"
    encryption: str | None = None  # AES256 | aws:kms | aws:kms:dsse
    kms_key_id: str | None = None
    bucket_key: bool | None = None
    tag_count: int = 0
    restore: str | None = None  # x-amz-restore, e.g. 'ongoing-request="false", expiry-date="..."'
    system: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    owner: str | None = None  # the source bucket's owner when another account's (a replica); None: the caller's

    @property
    def copy_source(self) -> dict[str, str]:
        source = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id is not None:
            source["VersionId"] = self.version_id
        return source

    @property
    def thawed(self) -> bool:
        """An archived version with a restored temporary copy (readable, so copyable)."""
        return self.restore is not None and 'ongoing-request="false"' in self.restore

    @property
    def thawing(self) -> bool:
        return self.restore is not None and 'ongoing-request="true"' in self.restore


def head_version(s3: Any, bucket: str, key: str, version_id: str | None, owner: str | None = None) -> SourceVersion:
    """HeadObject of one version, or of the current one without a version id (a read: s3:GetObjectVersion); `owner`:
    the bucket's account when it is not the caller's."""
    head = s3.head_object(Bucket=bucket, Key=key, **({"VersionId": version_id} if version_id else {}),
                          **expected_owner(owner))
    return SourceVersion(
        bucket=bucket, key=key, version_id=version_id, size=int(head.get("ContentLength") or 0),
        storage_class=str(head.get("StorageClass") or "STANDARD"), encryption=head.get("ServerSideEncryption"),
        kms_key_id=head.get("SSEKMSKeyId"), bucket_key=head.get("BucketKeyEnabled"),
        tag_count=int(head.get("TagCount") or 0), restore=head.get("Restore"),
        system={k: head[k] for k in _SYSTEM_METADATA if head.get(k) is not None},
        metadata=dict(head.get("Metadata") or {}), owner=owner,
    )


def _target_settings(src: SourceVersion) -> dict[str, Any]:
    """Encryption and storage class as the version had them (a copy otherwise takes the bucket's defaults)."""
    out: dict[str, Any] = {}
    if src.encryption:
        out["ServerSideEncryption"] = src.encryption
        if src.encryption.startswith("aws:kms") and src.kms_key_id:
            out["SSEKMSKeyId"] = src.kms_key_id
        if src.bucket_key is not None and src.encryption.startswith("aws:kms"):
            out["BucketKeyEnabled"] = bool(src.bucket_key)
    if src.storage_class not in _KEEP_CLASS_EXCEPT:
        out["StorageClass"] = src.storage_class
    return out


@dataclass
class Copier:
    """Copies versions onto keys. `multipart_threshold` and `part_size` are lowered in tests; `parts` is a pool for
    the UploadPartCopy calls of big objects (separate from the callers' pool, so a caller waiting on its parts never
    holds a thread its parts need)."""

    s3: Any
    multipart_threshold: int = COPY_LIMIT
    part_size: int = DEFAULT_PART
    parts: ThreadPoolExecutor | None = None

    def copy(self, src: SourceVersion, bucket: str, key: str) -> str:
        """Copy `src` onto bucket/key; returns the new version id (the key's new current version)."""
        if src.size > min(self.multipart_threshold, COPY_LIMIT):
            return self._multipart(src, bucket, key)
        # S3 copies an object's website redirect only when the request names it (the COPY directive leaves it out).
        redirect = {"WebsiteRedirectLocation": src.system["WebsiteRedirectLocation"]} \
            if src.system.get("WebsiteRedirectLocation") else {}
        answer = self.s3.copy_object(
            Bucket=bucket, Key=key, CopySource=src.copy_source, **expected_owner(src.owner, source=True),
            MetadataDirective="COPY", TaggingDirective="COPY", **_target_settings(src), **redirect,
        )
        return str(answer.get("VersionId") or "null")

    def part_ranges(self, size: int) -> list[tuple[int, int]]:
        """Inclusive byte ranges: parts of `part_size`, grown so that there are at most 10,000."""
        part = min(MAX_PART, max(self.part_size, MIN_PART, math.ceil(size / MAX_PARTS)))
        return [(start, min(start + part, size) - 1) for start in range(0, size, part)]

    def _multipart(self, src: SourceVersion, bucket: str, key: str) -> str:
        create: dict[str, Any] = {"Bucket": bucket, "Key": key, **src.system, **_target_settings(src)}
        if src.metadata:
            create["Metadata"] = src.metadata
        if src.tag_count:
            tags = self.s3.get_object_tagging(**src.copy_source, **expected_owner(src.owner))["TagSet"]
            create["Tagging"] = urllib.parse.urlencode([(t["Key"], t["Value"]) for t in tags])
        upload_id = self.s3.create_multipart_upload(**create)["UploadId"]
        source = src.copy_source

        def part(number: int, first: int, last: int) -> dict[str, Any]:
            answer = self.s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                              CopySource=source, CopySourceRange=f"bytes={first}-{last}",
                                              **expected_owner(src.owner, source=True))
            return {"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]}

        try:
            ranges = self.part_ranges(src.size)
            if self.parts is None:
                done = [part(n, a, b) for n, (a, b) in enumerate(ranges, start=1)]
            else:
                futures = [self.parts.submit(part, n, a, b) for n, (a, b) in enumerate(ranges, start=1)]
                wait(futures)  # every part settled before a failure aborts the upload
                done = [f.result() for f in futures]
            answer = self.s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                       MultipartUpload={"Parts": done})
        except BaseException:
            # Frees the parts copied so far; it never touches an object or a version.
            self.s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise
        return str(answer.get("VersionId") or "null")
