"""Put this folder on PYTHONPATH to block the network in a child Python: every non-loopback connect or name lookup
fails, and is written to the file named by NET_LOG (one line each), so a test sees even attempts a library makes in
a background thread and swallows (usage statistics)."""

import os, socket
_LOG = os.environ.get("NET_LOG")
_real_connect, _real_gai = socket.socket.connect, socket.getaddrinfo
def _note(what: str) -> None:
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(what + "\n")
def connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if self.family == socket.AF_UNIX or str(host) in ("127.0.0.1", "::1", "localhost"):
        return _real_connect(self, address)
    _note(f"connect {address!r}")
    raise ConnectionRefusedError("network blocked")
def getaddrinfo(host, *a, **k):
    if host not in (None, "127.0.0.1", "::1", "localhost"):
        _note(f"getaddrinfo {host!r}")
        raise socket.gaierror("network blocked")
    return _real_gai(host, *a, **k)
socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
