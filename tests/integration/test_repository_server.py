"""The same repository contract against a real Chroma server (``chroma run`` on loopback).

Uses ``$LATM_CHROMA_URL`` when set (``.ci/run`` starts the server and exports it); otherwise
starts ``chroma run`` on a free 127.0.0.1 port for the session and stops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from repository_cases import MakeRepo, RepositoryCases, fast_embeddings

from langchain_latm.repository import ToolRepository

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="session")
def chroma_url() -> Iterator[str]:
    url = os.environ.get("LATM_CHROMA_URL")
    if url:
        yield url.rstrip("/")
        return
    chroma = Path(sys.executable).with_name("chroma")
    exe = str(chroma) if chroma.exists() else shutil.which("chroma")
    if exe is None:
        pytest.fail("no Chroma server: set LATM_CHROMA_URL or install chromadb (chroma CLI)")
    port = _free_port()
    data = tempfile.mkdtemp(prefix="latm-chroma-")
    log = open(Path(data) / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [exe, "run", "--host", "127.0.0.1", "--port", str(port), "--path", data],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _heartbeat(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chroma run did not start: {(Path(data) / 'server.log').read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def _client(url: str) -> Any:
    import chromadb
    from chromadb.config import Settings

    parsed = urlparse(url)
    return chromadb.HttpClient(
        host=parsed.hostname or "127.0.0.1", port=parsed.port or 8000,
        settings=Settings(anonymized_telemetry=False),
    )


@pytest.fixture
def make_repo(chroma_url: str) -> Iterator[MakeRepo]:
    collection = f"latm_test_{uuid.uuid4().hex[:12]}"
    client = _client(chroma_url)

    def factory(**kwargs: Any) -> ToolRepository:
        kwargs.setdefault("embeddings", fast_embeddings())
        kwargs.setdefault("collection_name", collection)
        return ToolRepository(client=_client(chroma_url), **kwargs)

    yield factory
    for name in [c.name for c in client.list_collections()]:
        if name.startswith(collection):
            client.delete_collection(name)


class TestServerRepository(RepositoryCases):
    """The shared repository contract on a Chroma server."""


_WRITER = textwrap.dedent(
    """
    import sys
    import chromadb
    from chromadb.config import Settings
    from langchain_latm.embeddings import HashingEmbeddings
    from langchain_latm.repository import ToolRepository
    sys.path.insert(0, {tests!r})
    from repository_cases import make_tool
    client = chromadb.HttpClient(host={host!r}, port={port},
                                 settings=Settings(anonymized_telemetry=False))
    repo = ToolRepository(client=client, collection_name={collection!r},
                          embeddings=HashingEmbeddings(dimension=512))
    print("ready", flush=True)
    sys.stdin.readline()
    for j in range({n}):
        repo.add(make_tool(body="return words  # proc {tag} edit %d" % j))
    print("done", flush=True)
    """
)


@pytest.mark.slow
def test_two_processes_on_a_server_never_duplicate_versions(
    chroma_url: str, make_repo: MakeRepo
) -> None:
    """No file lock on a server: versions are claimed by id and re-read after writing."""
    repo = make_repo()
    parsed = urlparse(chroma_url)
    procs = []
    for tag in ("a", "b", "c"):
        code = _WRITER.format(
            tests=str(ROOT / "tests"), host=parsed.hostname, port=parsed.port,
            collection=repo.collection_name, n=6, tag=tag,
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        procs.append(proc)
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    fresh = make_repo()
    versions = fresh.versions("sort_words")
    assert versions == list(range(1, 19))
    codes = [fresh.get("sort_words", v).code for v in versions]
    assert len(set(codes)) == 18
    for tag in "abc":
        assert sum(f"proc {tag}" in c for c in codes) == 6
    assert [p for p in fresh.check() if p.kind != "orphan"] == []
    hits = fresh.search("Sort the following words alphabetically", k=3)
    assert [(t.name, t.version) for t, _ in hits] == [("sort_words", 18)]
