"""The benchmark (`make bench`). Importing it sets up its sandbox: the repository on sys.path, fake credentials
and no config files, so a benchmark can only ever talk to the local AWS it starts."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Fake credentials and no config files: the benchmark can only ever talk to the local AWS it starts.
os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)


def write_section(md: Path, start: str, end: str, section: str) -> None:
    """Put `section` (which begins with `start` and ends with `end`) in place of its earlier run in benchmarks.md, or
    at its end: each benchmark owns one marked section of the file."""
    import re  # noqa: PLC0415 - only a benchmark that writes its section needs it

    text = md.read_text() if md.exists() else ""
    if start in text and end in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end) + r"\n?", lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    md.write_text(text)
