"""Run the real Lambda handler in-process on one event file — no Docker, no deployed function.

    python devtools/invoke.py events/scheduled.json [--endpoint-url URL] [--timeout 900] [--each]

AWS is --endpoint-url, else $AWS_ENDPOINT_URL, else a fresh local AWS (devtools/localaws.py) started for this run.
The handler gets a Lambda-like context whose remaining time counts down from --timeout. For a CloudFormation event,
a local HTTPS server on 127.0.0.1 stands in for the presigned ResponseURL and the one response CloudFormation would
receive is printed. Otherwise the handler's return value (or its error, shaped like Lambda's) is printed.

With --each the file holds a list of events, handed to the handler one invocation each (one warm container), as an
EventBridge rule delivers them; the list of results is printed.

stdout holds only that result (JSON); the function's log lines and EMF metrics go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
FUNCTION_DIR = ROOT / "functions" / "selfheal"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
LOCAL_RESPONSE_HOST = "SELFHEAL_LOCAL_RESPONSE_HOST"  # app.py reads it: the one local host it answers


class LambdaContext:
    """The parts of Lambda's context object the handler, Powertools and crhelper read."""

    def __init__(self, function_name: str = "selfheal-local", timeout_s: float = 900.0, memory_mb: int = 512,
                 region: str = "us-east-1", account: str = "123456789012") -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self._ends = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


def local_certificate() -> Path:
    """A self-signed certificate for 127.0.0.1 and localhost (made once per process): the local ResponseURL is
    https://, as CloudFormation's presigned S3 URL is, and crhelper's own sender only speaks HTTPS."""
    global _CERTIFICATE
    if _CERTIFICATE is None:
        import datetime  # noqa: PLC0415 - only a CloudFormation invoke needs a certificate
        import ipaddress  # noqa: PLC0415
        import tempfile  # noqa: PLC0415

        from cryptography import x509  # noqa: PLC0415 - moto's own dependency
        from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
        from cryptography.x509.oid import NameOID  # noqa: PLC0415

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "selfheal local ResponseURL")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        folder = Path(tempfile.mkdtemp(prefix="selfheal-response-"))
        (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
        _CERTIFICATE = folder
    return _CERTIFICATE


_CERTIFICATE: Path | None = None


class ResponseServer:
    """Stands in for CloudFormation's presigned S3 URL (https:// on 127.0.0.1): records every request made to it.

    While it runs, SSL_CERT_FILE names its certificate, so this process (crhelper's sender among them) trusts it the
    way a Lambda trusts S3's, and SELFHEAL_LOCAL_RESPONSE_HOST names its host:port, the one response host the
    handler accepts besides CloudFormation's own bucket; both are restored when it stops.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        received = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def _record(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw or b"null")
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                received.append({"method": self.command, "path": self.path, "body": body})
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            do_PUT = do_POST = do_GET = _record  # noqa: N815 - http.server's naming

        folder = local_certificate()
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(folder / "cert.pem", folder / "key.pem")
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._trust = str(folder / "cert.pem")
        self._saved: dict[str, str | None] = {}

    @property
    def url(self) -> str:
        host, port = cast(tuple[str, int], self._server.server_address[:2])
        return f"https://{host}:{port}/cloudformation-response?X-Amz-Signature=local"

    @property
    def responses(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["method"] == "PUT"]

    def __enter__(self) -> ResponseServer:
        trusted = {"SSL_CERT_FILE": self._trust, LOCAL_RESPONSE_HOST: urlsplit(self.url).netloc}
        self._saved = {name: os.environ.get(name) for name in trusted}
        os.environ.update(trusted)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def is_cloudformation(event: Any) -> bool:
    return isinstance(event, dict) and "ResponseURL" in event


def load_handler(code_dir: Path = FUNCTION_DIR, layer_dir: Path | None = None) -> Any:
    """Import the function's app module the way Lambda does: its code first on sys.path, then its layer's python/."""
    for entry in reversed([code_dir, layer_dir] if layer_dir else [code_dir]):
        if str(entry) not in sys.path:
            sys.path.insert(0, str(entry))
    import app  # noqa: PLC0415 - after the environment is set

    return app


def invoke(event: Any, context: LambdaContext, app: Any = None) -> dict[str, Any]:
    """Run the handler once. Returns {"result": ...} or {"error": {...}}, plus "cloudformation": [responses]."""
    app = app or load_handler()
    out: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        server = None
        if is_cloudformation(event):
            server = stack.enter_context(ResponseServer())
            event = {**event, "ResponseURL": server.url}
        try:
            out["result"] = app.lambda_handler(event, context)
        except Exception as exc:  # noqa: BLE001 - shown the way Lambda reports a function error
            out["error"] = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        if server is not None:
            out["cloudformation"] = server.responses
    return out


@contextlib.contextmanager
def aws_endpoint(endpoint: str | None) -> Iterator[str]:
    """The endpoint to use: the one given, $AWS_ENDPOINT_URL, or a local AWS started (and stopped) here."""
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        yield endpoint
        return
    sys.path.insert(0, str(ROOT))
    from devtools.localaws import LocalAws  # noqa: PLC0415

    with LocalAws() as local:
        print(f"local AWS at {local.endpoint} (empty account)", file=sys.stderr)
        yield local.endpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("event", type=Path, help="an event JSON file, e.g. events/scheduled.json")
    parser.add_argument("--endpoint-url", help="AWS endpoint (default: $AWS_ENDPOINT_URL, else a local AWS)")
    parser.add_argument("--timeout", type=float, default=900.0, help="the function's timeout in seconds (900)")
    parser.add_argument("--function-name", default="selfheal-local")
    parser.add_argument("--code-dir", type=Path, default=FUNCTION_DIR,
                        help="the function's code, e.g. .aws-sam/build/Function (default: functions/selfheal)")
    parser.add_argument("--layer-dir", type=Path, help="a layer's python/ folder, e.g. .aws-sam/build/DepsLayer/python")
    parser.add_argument("--each", action="store_true", help="the file is a list of events: one invocation each")
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        parser.error(f"cannot read {args.event}: {exc}")

    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here
    os.environ.setdefault("AWS_LAMBDA_FUNCTION_NAME", args.function_name)  # as Lambda sets it: app.py reads it
    # The estate the function carries, named as the template names /var/task/estate.yaml
    os.environ.setdefault("SELFHEAL_ESTATE", str(args.code_dir.resolve() / "estate.yaml"))
    region = os.environ.setdefault("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    with aws_endpoint(args.endpoint_url) as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            os.environ.update(LOCAL_CREDENTIALS)
        context = LambdaContext(args.function_name, args.timeout, region=region)
        with contextlib.redirect_stdout(sys.stderr):  # logs and EMF to stderr, the result alone to stdout
            app = load_handler(args.code_dir.resolve(), args.layer_dir.resolve() if args.layer_dir else None)
            print(f"handler {app.__file__}", file=sys.stderr)
            app.logger.registered_handler.setStream(sys.stderr)
            if args.each:
                outs = [invoke(one, LambdaContext(args.function_name, args.timeout, region=region), app)
                        for one in event]
                failed = next((o for o in outs if "error" in o), None)
                out = failed or {"result": [o["result"] for o in outs]}
            else:
                out = invoke(event, context, app)
    if "error" in out:
        print(json.dumps(out["error"], indent=2))
        return 1
    if "cloudformation" in out:
        responses = out["cloudformation"]
        if len(responses) != 1:
            print(json.dumps({"error": f"expected one response to CloudFormation, got {len(responses)}",
                              "responses": responses}, indent=2))
            return 1
        print(json.dumps(responses[0], indent=2))
        return 0 if responses[0].get("Status") == "SUCCESS" else 1
    print(json.dumps(out["result"], indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
