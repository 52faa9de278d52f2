"""Network escape attempts against a real listener the test starts on the host (loopback)."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator

import pytest

from langchain_latm.sandbox import SandboxExecutor

pytestmark = pytest.mark.integration


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    yield srv
    srv.close()


def _accepted_nothing(srv: socket.socket) -> bool:
    try:
        conn, _ = srv.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


CONNECTS = [
    "import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
    "s.sendall(b'escaped')\nans = 'connected'",
    "import urllib.request\nans = urllib.request.urlopen('http://127.0.0.1:{port}/', "
    "timeout=1).read().decode()",
    "import ctypes, struct\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "fd = libc.syscall(41, 2, 1, 0)\nassert fd >= 0, ctypes.get_errno()\n"
    "addr = struct.pack('!HH4s8x', 2, {port}, bytes([127, 0, 0, 1]))\n"
    "addr = struct.pack('H', 2) + addr[2:]\n"
    "assert libc.connect(fd, addr, len(addr)) == 0\nans = 'connected'",
]


@pytest.mark.parametrize("template", CONNECTS, ids=["socket", "urllib", "ctypes"])
def test_sandbox_cannot_reach_a_host_listener(listener: socket.socket, template: str) -> None:
    port = listener.getsockname()[1]
    with SandboxExecutor(timeout=3) as ex:
        res = ex.run("", template.format(port=port))
    assert not res.ok, res
    assert _accepted_nothing(listener)


def test_seccomp_alone_still_blocks_when_namespace_is_off(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with SandboxExecutor(timeout=3, network_namespace=False,
                         allow_weaker_isolation=True) as ex:
        res = ex.run("", CONNECTS[0].format(port=port))
    assert not res.ok and res.error_type == "PermissionError"
    assert _accepted_nothing(listener)


def test_sandbox_cannot_reach_a_host_unix_socket() -> None:
    path = os.path.join(tempfile.mkdtemp(), "host.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o777)
    os.chmod(os.path.dirname(path), 0o755)
    srv.listen(1)
    srv.setblocking(False)
    try:
        with SandboxExecutor(timeout=3) as ex:
            res = ex.run("", f"import socket\ns = socket.socket(socket.AF_UNIX)\n"
                             f"s.connect({path!r})\ns.sendall(b'x')\nans = 'connected'")
        assert not res.ok
        assert _accepted_nothing(srv)
    finally:
        srv.close()
        os.unlink(path)
        os.rmdir(os.path.dirname(path))


def test_the_host_itself_can_still_use_the_network(listener: socket.socket) -> None:
    """Sanity check that the listener works, so the tests above can fail."""
    port = listener.getsockname()[1]
    with SandboxExecutor(timeout=3):
        client = socket.create_connection(("127.0.0.1", port), timeout=1)
    client.close()
    assert not _accepted_nothing(listener)
