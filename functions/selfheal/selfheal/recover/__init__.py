"""`selfheal recover`: a versioned bucket's objects back as they were at a point in time, by copying old versions.

decide.py  what to do per key: pure data from a key's versions (no AWS)
manifest.py the journal of a run, which is also its undo manifest
copy.py    copying one object version onto a key (CopyObject, or UploadPartCopy in parts over 5 GB)
run.py     the S3 side: listing, planning with HEADs where needed, the parallel run, undo
command.py the CLI face (argument checks, progress, report)

Nothing here deletes: no DeleteObjectVersion, no removal of a delete marker. The only DeleteObject call is
without a VersionId on a bucket whose versioning is Enabled, which adds a delete marker (recoverable).
"""
