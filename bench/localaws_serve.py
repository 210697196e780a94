"""`devtools/localaws.py serve` with a listen backlog deep enough for the engine's pools (see run.BenchAws)."""

import socketserver
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
socketserver.TCPServer.request_queue_size = 128  # the default, 5, drops SYNs when ~48 threads connect at once

from devtools.localaws import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
