"""Local AWS for tests, the demo and the benchmark: a patched moto server behind a counting, delaying proxy.

    python devtools/localaws.py serve [--port 0] [--delay-ms 0]

binds 127.0.0.1, prints exactly one line ``READY http://127.0.0.1:<port>`` (the proxy) and runs until SIGTERM/SIGINT.

The moto server runs in the same process, with small patches (see ``apply_moto_patches``) where plain moto 5 is
not faithful to AWS, so product code never has to bend around moto:

    RestoreTableFromBackup   honours BillingMode/ProvisionedThroughput/SSESpecification overrides
    UpdateTable              honours SSESpecification; a disabled stream can be enabled again (a new stream)
    DeleteTable              with PITR on leaves a SYSTEM "<table>$DeletedTableBackup" backup
    ListBackups              honours BackupType (USER by default)
    TagResource              overwrites the value of a key the table already has
    S3 on another account's bucket: HeadBucket and the other bucket calls answer 403 (CreateBucket still 409)

Every AWS request through the proxy is recorded as ``{"seq", "service", "operation", "write", "name", "status",
"client"}`` (client: "selfheal" or "other").
Control endpoints on the proxy (never recorded):

    GET  /_localaws/calls         JSON list of recorded calls
    POST /_localaws/reset-calls   forget recorded calls
    POST /_localaws/delay?ms=N    sleep N ms before forwarding each AWS request
    POST /_localaws/reset         reset all moto state and forget recorded calls

From Python, use ``LocalAws`` (starts ``serve`` as a subprocess) and ``other_account_session``.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

CONTROL_PREFIX = "/_localaws/"
DELETED_TABLE_BACKUP_SUFFIX = "$DeletedTableBackup"


# --------------------------------------------------------------------------------------------------------------
# moto patches: each restores one AWS behaviour plain moto 5 lacks. Applied before the moto server starts.
# --------------------------------------------------------------------------------------------------------------


def _set_table_sse(table: Any, spec: dict[str, Any] | None) -> None:
    """Store an SSESpecification on a moto table exactly as moto's create_table does (default key = aws/dynamodb)."""
    spec = dict(spec) if spec else None
    if spec and "KMSMasterKeyId" not in spec:
        spec["KMSMasterKeyId"] = table._get_default_encryption_key(table.account_id, table.region_name)
    table.sse_specification = spec


def _patch_restore_overrides() -> None:
    # AWS: RestoreTableFromBackup honours BillingModeOverride, ProvisionedThroughputOverride, SSESpecificationOverride;
    # without overrides the billing mode is the source table's and the key is the AWS-owned one (no SSEDescription).
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    original = DynamoDBBackend.restore_table_from_backup

    def restore_table_from_backup(
        self: Any,
        target_table_name: str,
        backup_arn: str,
        billing_mode_override: str | None = None,
        throughput_override: dict[str, int] | None = None,
        sse_specification_override: dict[str, Any] | None = None,
    ) -> Any:
        if billing_mode_override == "PAY_PER_REQUEST" and throughput_override:
            raise MockValidationException(
                "ProvisionedThroughput cannot be specified when BillingMode is PAY_PER_REQUEST"
            )
        table = original(self, target_table_name, backup_arn)
        source = self.get_backup(backup_arn).table
        table.billing_mode = billing_mode_override or source.billing_mode or "PROVISIONED"
        if throughput_override:
            table.throughput = {**throughput_override, "NumberOfDecreasesToday": 0}
        elif table.billing_mode == "PAY_PER_REQUEST":
            table.throughput = {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0}
        _set_table_sse(table, sse_specification_override)
        return table

    def restore_table_from_backup_handler(self: Any) -> Any:
        body = self.body
        table = self.dynamodb_backend.restore_table_from_backup(
            body.get("TargetTableName"),
            body.get("BackupArn"),
            billing_mode_override=body.get("BillingModeOverride"),
            throughput_override=body.get("ProvisionedThroughputOverride"),
            sse_specification_override=body.get("SSESpecificationOverride"),
        )
        return DynamoResult(table.describe())

    DynamoDBBackend.restore_table_from_backup = restore_table_from_backup
    DynamoHandler.restore_table_from_backup = restore_table_from_backup_handler


def _patch_update_table_sse() -> None:
    # AWS: UpdateTable honours SSESpecification (AWS-owned / AWS-managed / customer key), reported like CreateTable.
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    original_handler = DynamoHandler.update_table

    def update_table_sse(self: Any, name: str, sse_specification: dict[str, Any]) -> Any:
        table = self.get_table(name)
        _set_table_sse(table, sse_specification)
        return table

    def update_table_handler(self: Any) -> Any:
        result = original_handler(self)
        spec = self.body.get("SSESpecification")
        if spec is None:
            return result
        table = self.dynamodb_backend.update_table_sse(self.body["TableName"], spec)
        return DynamoResult(table.describe())

    DynamoDBBackend.update_table_sse = update_table_sse
    DynamoHandler.update_table = update_table_handler


def _patch_deleted_table_backup() -> None:
    # AWS: deleting a table with PITR on leaves a SYSTEM backup "<table>$DeletedTableBackup" holding its items.
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Backup

    original = DynamoDBBackend.delete_table

    def delete_table(self: Any, name: str) -> Any:
        table = original(self, name)
        pitr = table.continuous_backups.get("PointInTimeRecoveryDescription", {})
        if pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
            backup = Backup(
                self.account_id,
                self.region_name,
                f"{table.name}{DELETED_TABLE_BACKUP_SUFFIX}",
                table,
                status="AVAILABLE",
                type_="SYSTEM",
            )
            self.backups[backup.arn] = backup
        return table

    DynamoDBBackend.delete_table = delete_table


def _patch_list_backups_type_filter() -> None:
    # AWS: ListBackups honours BackupType (USER | SYSTEM | AWS_BACKUP | ALL), and lists only USER backups by default.
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    def list_backups_handler(self: Any) -> Any:
        body = self.body
        wanted = body.get("BackupType") or "USER"
        backups = self.dynamodb_backend.list_backups(body.get("TableName"))
        if wanted != "ALL":
            backups = [b for b in backups if b.type == wanted]
        return DynamoResult({"BackupSummaries": [b.summary for b in backups]})

    DynamoHandler.list_backups = list_backups_handler


def _patch_s3_cross_account_bucket_access() -> None:
    # AWS: HeadBucket, GetBucketLocation and every other bucket call on another account's bucket answer 403 AccessDenied
    # (CreateBucket on that name still answers 409 BucketAlreadyExists).
    from moto.s3.exceptions import BucketAlreadyExists, S3AccessDeniedError
    from moto.s3.models import S3Backend, s3_backends
    from moto.s3.responses import S3Response

    class OtherAccountsBucket(S3AccessDeniedError):
        pass

    original_get_bucket = S3Backend.get_bucket
    original_put = S3Response._bucket_response_put

    def get_bucket(self: Any, bucket_name: str) -> Any:
        owner = s3_backends.bucket_accounts.get(bucket_name)
        if owner is not None and owner[1] != self.account_id:
            raise OtherAccountsBucket()
        return original_get_bucket(self, bucket_name)

    def bucket_response_put(self: Any, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        try:
            return original_put(self, request, bucket_name, querystring)
        except OtherAccountsBucket:
            if self.data.get("Action") == "CreateBucket":  # moto looks the taken bucket up after BucketAlreadyExists
                raise BucketAlreadyExists(bucket=bucket_name) from None
            raise

    S3Backend.get_bucket = get_bucket
    S3Response._bucket_response_put = bucket_response_put


def _patch_tag_resource_overwrites() -> None:
    # AWS: TagResource with a key the table already has overwrites that tag's value (keys are unique).
    from moto.dynamodb.models import DynamoDBBackend

    def tag_resource(self: Any, arn: str, tags: dict[str, str]) -> None:
        for table in self.tables.values():
            if table.table_arn == arn:
                merged = {t["Key"]: t["Value"] for t in table.tags}
                merged.update(tags)
                table.tags = [{"Key": k, "Value": v} for k, v in merged.items()]

    DynamoDBBackend.tag_resource = tag_resource


def _patch_stream_reenable() -> None:
    # AWS: a stream disabled by UpdateTable can be enabled again; that makes a new stream (new label and ARN).
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.update_table_streams

    def update_table_streams(self: Any, table: Any, stream_specification: dict[str, Any]) -> None:
        enabling = stream_specification.get("StreamEnabled") or stream_specification.get("StreamViewType")
        if enabling and not (table.stream_specification or {}).get("StreamEnabled"):
            table.set_stream_specification(stream_specification)
            return
        original(self, table, stream_specification)

    DynamoDBBackend.update_table_streams = update_table_streams


def _patch_moto_server_nagle() -> None:
    # Not an AWS behaviour: without TCP_NODELAY moto's keep-alive answers stall ~40 ms on delayed ACKs.
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    MotoRequestHandler.disable_nagle_algorithm = True


_patched = False


def apply_moto_patches() -> None:
    """Make moto faithful where FACTS.md (and the module docstring) say it is not. Idempotent."""
    global _patched
    if _patched:
        return
    _patch_restore_overrides()
    _patch_update_table_sse()
    _patch_deleted_table_backup()
    _patch_list_backups_type_filter()
    _patch_s3_cross_account_bucket_access()
    _patch_tag_resource_overwrites()
    _patch_stream_reenable()
    _patch_moto_server_nagle()
    _patched = True


# --------------------------------------------------------------------------------------------------------------
# Classifying a request: (service, operation, write, name)
# --------------------------------------------------------------------------------------------------------------

_WRITE_PREFIXES = (
    "Create", "Put", "Update", "Delete", "Restore", "Tag", "Untag", "Enable", "Disable", "Attach", "Detach",
    "Associate", "Disassociate", "Modify", "Set", "Add", "Remove", "Register", "Deregister", "Start", "Stop",
    "Import", "Upload", "Copy", "Complete", "Abort", "Schedule", "Cancel", "Rotate", "Replace", "Reset",
)  # fmt: skip
_WRITE_OPERATIONS = {"BatchWriteItem", "TransactWriteItems"}

_TARGET_SERVICES = {
    "DynamoDB": "dynamodb",
    "DynamoDBStreams": "dynamodbstreams",
    "TrentService": "kms",
    "AWSEvents": "events",
    "Logs": "logs",
    "AWSCognitoIdentityProviderService": "cognito-idp",
    "secretsmanager": "secretsmanager",
    "AmazonSSM": "ssm",
    "AWSLambda": "lambda",
}

# S3 bucket sub-resource query key -> operation noun (GetX / PutX / DeleteX)
_S3_BUCKET_SUBRESOURCES = {
    "policy": "BucketPolicy",
    "cors": "BucketCors",
    "lifecycle": "BucketLifecycleConfiguration",
    "website": "BucketWebsite",
    "acl": "BucketAcl",
    "tagging": "BucketTagging",
    "versioning": "BucketVersioning",
    "encryption": "BucketEncryption",
    "publicAccessBlock": "PublicAccessBlock",
    "ownershipControls": "BucketOwnershipControls",
    "logging": "BucketLogging",
    "notification": "BucketNotificationConfiguration",
    "replication": "BucketReplication",
    "object-lock": "ObjectLockConfiguration",
    "accelerate": "BucketAccelerateConfiguration",
    "requestPayment": "BucketRequestPayment",
    "intelligent-tiering": "BucketIntelligentTieringConfiguration",
    "analytics": "BucketAnalyticsConfiguration",
    "metrics": "BucketMetricsConfiguration",
    "inventory": "BucketInventoryConfiguration",
    "location": "BucketLocation",
    "policyStatus": "BucketPolicyStatus",
}
_S3_OBJECT_SUBRESOURCES = {
    "tagging": "ObjectTagging",
    "acl": "ObjectAcl",
    "retention": "ObjectRetention",
    "legal-hold": "ObjectLegalHold",
    "attributes": "ObjectAttributes",
}
_VERB = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head", "POST": "Post"}
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


def is_write(service: str, operation: str, method: str) -> bool:
    if service == "s3":
        return method in ("PUT", "POST", "DELETE") and operation != "SelectObjectContent"
    return operation in _WRITE_OPERATIONS or operation.startswith(_WRITE_PREFIXES)


def _name_from_json(body: dict[str, Any]) -> str | None:
    for key in ("TableName", "TargetTableName", "SourceTableName", "GlobalTableName"):
        if isinstance(body.get(key), str):
            return body[key]
    for key in ("ResourceArn", "BackupArn", "TableArn"):
        arn = body.get(key)
        if isinstance(arn, str) and ":table/" in arn:
            return arn.split(":table/", 1)[1].split("/", 1)[0]
    for key in ("KeyId", "Name"):
        if isinstance(body.get(key), str):
            return body[key]
    return None


def _s3_operation(method: str, path: str, query: dict[str, list[str]], headers: Any) -> tuple[str, str | None]:
    parts = [urllib.parse.unquote(p) for p in path.split("/", 2)[1:] if p != ""]
    bucket = parts[0] if parts else None
    key = parts[1] if len(parts) > 1 else None
    verb = _VERB.get(method, method.title())
    if bucket is None:
        return "ListBuckets", None
    if key is None:
        if method == "POST" and "delete" in query:
            return "DeleteObjects", bucket
        for sub, noun in _S3_BUCKET_SUBRESOURCES.items():
            if sub in query:
                return verb + noun, bucket
        if method == "GET":
            if "uploads" in query:
                return "ListMultipartUploads", bucket
            if "versions" in query:
                return "ListObjectVersions", bucket
            return ("ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"), bucket
        bucket_ops = {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}
        return bucket_ops.get(method, verb + "Bucket"), bucket
    for sub, noun in _S3_OBJECT_SUBRESOURCES.items():
        if sub in query:
            return verb + noun, bucket
    if "uploadId" in query:
        op = {"PUT": "UploadPart", "POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload"}
        return op.get(method, "ListParts"), bucket
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload", bucket
    if method == "POST" and "select" in query:
        return "SelectObjectContent", bucket
    if method == "PUT" and headers.get("x-amz-copy-source"):
        return "CopyObject", bucket
    return verb + "Object", bucket


def _s3control_operation(method: str, path: str) -> str:
    # /v20180820/configuration/publicAccessBlock -> GetPublicAccessBlock / PutPublicAccessBlock / ...
    segments = [s for s in path.split("/")[2:] if s]
    if not segments:
        return _VERB.get(method, method.title())
    noun = segments[-1] if segments[0] == "configuration" else segments[0]
    noun = noun[:1].upper() + noun[1:]
    return _VERB.get(method, method.title()) + noun


def classify(method: str, path_and_query: str, headers: Any, body: bytes) -> dict[str, Any]:
    """Map one HTTP request to {service, operation, write, name}."""
    split = urllib.parse.urlsplit(path_and_query)
    path, query = split.path or "/", urllib.parse.parse_qs(split.query, keep_blank_values=True)
    scope = _CREDENTIAL_SCOPE.search(headers.get("Authorization", "") or "")
    service = scope.group(1) if scope else None
    name: str | None = None
    target = headers.get("X-Amz-Target")
    content_type = (headers.get("Content-Type") or "").lower()
    if target and "." in target:
        prefix, operation = target.rsplit(".", 1)
        service = service or _TARGET_SERVICES.get(prefix.split("_", 1)[0], prefix.split("_", 1)[0].lower())
        try:
            parsed = json.loads(body or b"{}")
            name = _name_from_json(parsed) if isinstance(parsed, dict) else None
        except ValueError:
            name = None
    elif "Action" in query or (method == "POST" and "x-www-form-urlencoded" in content_type):
        form = dict(query)
        if method == "POST" and body:
            form.update(urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
        operation = (form.get("Action") or ["Unknown"])[0]
        service = service or "unknown"
        for key in ("RoleName", "UserName", "PolicyName", "QueueName", "TopicArn", "StackName"):
            if key in form:
                name = form[key][0]
                break
    elif path.startswith("/v20180820/") or service == "s3control":
        service, operation = "s3control", _s3control_operation(method, path)
    else:
        service = service or "s3"
        if service == "s3":
            operation, name = _s3_operation(method, path, query, headers)
        else:
            operation = _VERB.get(method, method.title()) + path
    return {"service": service, "operation": operation, "write": is_write(service, operation, method), "name": name}


# --------------------------------------------------------------------------------------------------------------
# The proxy
# --------------------------------------------------------------------------------------------------------------

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


class ProxyState:
    def __init__(self, upstream_host: str, upstream_port: int, delay_ms: float) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay_ms = float(delay_ms)
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.seq = 0
        self.local = threading.local()

    def record(self, call: dict[str, Any]) -> None:
        with self.lock:
            self.seq += 1
            self.calls.append({"seq": self.seq, **call})

    def connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(*self.upstream, timeout=300)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.local.conn = conn
        return conn


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "localaws"
    state: ProxyState  # set on the subclass made by make_proxy

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet; calls are recorded instead
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _control(self, body: bytes) -> None:
        split = urllib.parse.urlsplit(self.path)
        action = split.path[len(CONTROL_PREFIX) :].strip("/")
        query = urllib.parse.parse_qs(split.query)
        state = self.state
        if self.command == "GET" and action == "calls":
            with state.lock:
                calls = list(state.calls)
            return self._send_json(200, calls)
        if self.command == "POST" and action == "reset-calls":
            with state.lock:
                state.calls.clear()
            return self._send_json(200, {"ok": True})
        if self.command == "POST" and action == "delay":
            try:
                state.delay_ms = max(0.0, float(query["ms"][0]))
            except (KeyError, ValueError):
                return self._send_json(400, {"error": "POST /_localaws/delay?ms=N"})
            return self._send_json(200, {"delay_ms": state.delay_ms})
        if self.command == "POST" and action == "reset":
            status, _, data = self._forward("POST", "/moto-api/reset", {"Content-Length": "0"}, b"", read_all=True)
            with state.lock:
                state.calls.clear()
            return self._send_json(200 if status == 200 else 502, {"ok": status == 200, "moto": data.decode()[:200]})
        if self.command == "GET" and action == "health":
            return self._send_json(200, {"ok": True, "delay_ms": state.delay_ms})
        return self._send_json(404, {"error": f"unknown control request {self.command} {split.path}"})

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes, read_all: bool = False
    ) -> tuple[int, Any, Any]:
        """Send to moto on this thread's keep-alive connection; retry once on a stale connection."""
        for attempt in (0, 1):
            conn = self.state.connection(fresh=attempt == 1)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                if attempt == 1:
                    raise
                continue
            if read_all:
                return response.status, response, response.read()
            return response.status, response, None
        raise AssertionError("unreachable")

    def _handle(self) -> None:
        body = self._read_body()
        if self.path.startswith(CONTROL_PREFIX):
            return self._control(body)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        delay = self.state.delay_ms
        if delay > 0:
            time.sleep(delay / 1000.0)
        try:
            status, response, _ = self._forward(self.command, self.path, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            return self._send_json(502, {"error": f"moto unreachable: {exc}"})
        if not self.path.startswith("/moto-api"):
            call = classify(self.command, self.path, self.headers, body)
            call["status"] = status
            # selfheal's clients add "selfheal" to their User-Agent: tells product calls from a test's own setup calls.
            call["client"] = "selfheal" if "selfheal" in (self.headers.get("User-Agent") or "") else "other"
            self.state.record(call)
        self._relay(response)

    def _relay(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        out_headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        no_body = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        length = response.getheader("Content-Length")
        if no_body:
            response.read()
            for k, v in out_headers:
                self.send_header(k, v)
            self.end_headers()
            return
        if length is None:
            data = response.read()
            for k, v in out_headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        for k, v in out_headers:
            self.send_header(k, v)
        self.end_headers()
        while True:
            chunk = response.read(65536)
            if not chunk:
                break
            self.wfile.write(chunk)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


class _ProxyServer(http.server.ThreadingHTTPServer):
    # socketserver's listen backlog of 5 drops SYNs when a run's ~48 threads connect at once, and each costs a 1 s
    # TCP retransmit that AWS never charges.
    request_queue_size = 128
    daemon_threads = True


def make_proxy(port: int, upstream_host: str, upstream_port: int, delay_ms: float) -> http.server.ThreadingHTTPServer:
    state = ProxyState(upstream_host, upstream_port, delay_ms)
    handler = type("BoundProxyHandler", (ProxyHandler,), {"state": state})
    return _ProxyServer(("127.0.0.1", port), handler)


def serve(port: int = 0, delay_ms: float = 0.0) -> int:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    apply_moto_patches()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    moto_host, moto_port = moto.get_host_and_port()
    proxy = make_proxy(port, moto_host, moto_port, delay_ms)

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    print(f"READY http://127.0.0.1:{proxy.server_address[1]}", flush=True)
    while not stop.wait(0.5):
        pass
    proxy.shutdown()
    proxy.server_close()
    moto.stop()
    return 0


# --------------------------------------------------------------------------------------------------------------
# Python API
# --------------------------------------------------------------------------------------------------------------


class LocalAwsError(RuntimeError):
    pass


class LocalAws:
    """A local AWS server in a subprocess. Use as a context manager; ``.endpoint`` is the proxy's URL."""

    def __init__(self, port: int = 0, delay_ms: float = 0, start_timeout: float = 30.0) -> None:
        self.port = port
        self.delay_ms = delay_ms
        self.start_timeout = start_timeout
        self.endpoint: str = ""
        self.returncode: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: Any = None

    def start(self) -> LocalAws:
        if self._proc is not None:
            return self
        self._stderr = tempfile.TemporaryFile(mode="w+")
        cmd = [sys.executable, os.path.abspath(__file__), "serve", "--port", str(self.port)]
        cmd += ["--delay-ms", str(self.delay_ms)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL, text=True, env=env
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self._proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(self.start_timeout)
        first = line[0].strip() if line else ""
        if not first.startswith("READY "):
            self.stop()
            raise LocalAwsError(
                f"local AWS did not start within {self.start_timeout:.0f}s (got {first!r}); "
                f"stderr:\n{self._read_stderr()}"
            )
        self.endpoint = first.split(" ", 1)[1]
        return self

    def _read_stderr(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            return self._stderr.read()[-4000:]
        except (OSError, ValueError):
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout)
            self.returncode = proc.returncode
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _control(self, method: str, action: str) -> Any:
        if not self.endpoint:
            raise LocalAwsError("LocalAws is not started")
        request = urllib.request.Request(
            self.endpoint + CONTROL_PREFIX + action, method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def calls(self) -> list[dict[str, Any]]:
        return self._control("GET", "calls")

    def writes(self) -> list[dict[str, Any]]:
        return [c for c in self.calls() if c["write"]]

    def reset_calls(self) -> None:
        self._control("POST", "reset-calls")

    def reset(self) -> None:
        """Forget all AWS state (every account, every service) and all recorded calls."""
        self._control("POST", "reset")

    def set_delay(self, ms: float) -> None:
        self._control("POST", f"delay?ms={float(ms)}")
        self.delay_ms = ms


def other_account_session(endpoint: str, account_id: str = "222222222222", region_name: str = "us-east-1") -> Any:
    """A boto3 Session whose requests moto attributes to ``account_id`` (via STS AssumeRole into that account)."""
    import boto3

    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=region_name,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/other-account", RoleSessionName="other")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region_name,
    )


_ACCOUNT_HOST_PREFIX = re.compile(r"^(https?://)\d{12}\.")


def _strip_account_host_prefix(request: Any, **kwargs: Any) -> None:
    request.url = _ACCOUNT_HOST_PREFIX.sub(r"\1", request.url)


def fix_s3control_endpoint(session_or_client: Any) -> Any:
    """Let s3control reach a local endpoint: botocore prefixes its host with the account id
    (``123456789012.127.0.0.1``), which does not resolve; drop that prefix before sending. Returns its argument."""
    events = getattr(session_or_client, "events", None) or session_or_client.meta.events
    events.register("before-send.s3-control", _strip_account_host_prefix, unique_id="localaws-s3control-host")
    return session_or_client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local AWS: patched moto behind a counting, delaying proxy.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="run until SIGTERM/SIGINT")
    serve_parser.add_argument("--port", type=int, default=0, help="proxy port on 127.0.0.1 (0 = any free port)")
    serve_parser.add_argument("--delay-ms", type=float, default=0.0, help="sleep before forwarding each request")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.port, args.delay_ms)
    return 2


if __name__ == "__main__":
    sys.exit(main())
