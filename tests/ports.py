"""A TCP port that nothing listens on now, for servers the tests start (a fixed port may
be taken by another run or a server left behind)."""
from __future__ import annotations

import socket


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1, closed again for the caller's server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
