"""Concurrency and bounded memory.

16 threads, and 4 processes x 4 threads, adding and solving against one embedded
repository and against a Chroma server (``$LATM_CHROMA_URL``, or a ``chroma run`` started
here on a free loopback port): no lost updates, no duplicate versions, no crash. And 1,000
sandboxed calls in a row do not grow the host process by more than a few MB.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# The worker is plain source so that the very same code runs in threads here and in the
# child processes (``python -c``-style script below).
WORKER_SOURCE = textwrap.dedent(
    """
    import json
    from concurrent.futures import ThreadPoolExecutor

    from langchain_latm.schemas import UseCase, WrappedTool

    SORT = "def sort_words(words):\\n    # {tag}\\n    return sorted(words)\\n"

    def make_tool(name, tag):
        return WrappedTool(
            name=name, task="word_sorting", description=f"Sort words alphabetically ({tag}).",
            code=SORT.format(tag=tag),
            use_cases=[UseCase(question=f"Sort the following words alphabetically: List: {tag} b a",
                               snippet="ans = ' '.join(sort_words(['b', 'a']))", answer="a b")],
            metadata={"tag": tag},
        )

    def worker(repo, user, wid, adds):
        out = {"unique": [], "shared": [], "answers": []}
        for j in range(adds):
            tag = f"w{wid}_{j}"
            stored = repo.add(make_tool(f"t_{tag}", tag))
            out["unique"].append([stored.name, stored.version])
            shared = repo.add(make_tool("shared_tool", tag))
            out["shared"].append([tag, shared.version])
            hits = repo.search("Sort the following words alphabetically: List: b a", k=1)
            if user is not None and hits:
                answer = user.solve("Sort the following words alphabetically: List: b a",
                                    hits[0][0])
                out["answers"].append([answer.ok, answer.answer, answer.error_type])
        return out

    def run_threads(repo, user, first_wid, n_threads, adds):
        with ThreadPoolExecutor(n_threads) as pool:
            futures = [pool.submit(worker, repo, user, first_wid + i, adds)
                       for i in range(n_threads)]
            return [f.result() for f in futures]
    """
)

CHILD = textwrap.dedent(
    """
    import json, sys
    {worker}
    from langchain_latm.repository import ToolRepository
    from langchain_latm.sandbox import SandboxExecutor
    from langchain_latm.testing import ScriptedChatModel
    from langchain_latm.user import ToolUser

    target, collection, first_wid, n_threads, adds = sys.argv[1:6]
    if target.startswith("http"):
        import chromadb
        host, port = target.split("//")[1].split(":")
        repo = ToolRepository(client=chromadb.HttpClient(host=host, port=int(port)),
                              collection_name=collection)
    else:
        repo = ToolRepository(path=target, collection_name=collection)
    llm = ScriptedChatModel(responses=["```python\\nans = ' '.join(sort_words(['b', 'a']))\\n```"],
                            cycle=True)
    with SandboxExecutor() as executor:
        user = ToolUser(llm, executor=executor)
        results = run_threads(repo, user, int(first_wid), int(n_threads), int(adds))
    print("RESULT " + json.dumps(results), flush=True)
    """
)

_ns: dict[str, Any] = {}
exec(compile(WORKER_SOURCE, "<concurrency-worker>", "exec"), _ns)  # our own test code


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``$LATM_CHROMA_URL`` (as .ci/run sets it), else a ``chroma run`` started here."""
    url = os.environ.get("LATM_CHROMA_URL")
    if url:
        yield url.rstrip("/")
        return
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if not Path(chroma).exists():
        pytest.fail("no Chroma server: set LATM_CHROMA_URL or install chromadb's `chroma` CLI")
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma")
    log = (data / "server.log").open("w")
    proc = subprocess.Popen([chroma, "run", "--host", "127.0.0.1", "--port", str(port),
                             "--path", str(data / "db")], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"chroma run did not come up: {(data / 'server.log').read_text()}")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _open_repo(target: str, collection: str) -> Any:
    from langchain_latm.repository import ToolRepository

    if target.startswith("http"):
        import chromadb

        host, port = target.split("//")[1].split(":")
        return ToolRepository(client=chromadb.HttpClient(host=host, port=int(port)),
                              collection_name=collection)
    return ToolRepository(path=target, collection_name=collection)


def _check(repo: Any, results: list[dict[str, Any]], adds_per_worker: int) -> None:
    workers = len(results)
    # every add came back, nothing lost
    unique = [tuple(u) for r in results for u in r["unique"]]
    assert len(unique) == workers * adds_per_worker
    assert all(version == 1 for _, version in unique)
    names = {t.name for t in repo.list()}
    assert {name for name, _ in unique} | {"shared_tool"} == names
    # the shared tool got exactly one distinct version per add: no duplicates, no gaps
    shared = [(tag, version) for r in results for tag, version in r["shared"]]
    versions = sorted(v for _, v in shared)
    assert versions == list(range(1, len(shared) + 1)), versions
    assert repo.versions("shared_tool") == versions
    for tag, version in shared:
        stored = repo.get("shared_tool", version)
        assert stored.metadata.get("tag") == tag, (version, stored.metadata)
        assert f"# {tag}\n" in stored.code
    assert repo.get("shared_tool").version == len(shared)
    # solving alongside the writes worked
    answers = [a for r in results for a in r["answers"]]
    for ok, answer, error_type in answers:
        assert ok and answer == "a b", (ok, answer, error_type)


def _run_processes(target: str, collection: str, processes: int, threads: int,
                   adds: int, tmp_path: Path) -> list[dict[str, Any]]:
    script = tmp_path / f"child_{uuid.uuid4().hex[:6]}.py"
    script.write_text(CHILD.format(worker=WORKER_SOURCE))
    procs = [
        subprocess.Popen([sys.executable, str(script), target, collection, str(p * threads),
                          str(threads), str(adds)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for p in range(processes)
    ]
    results: list[dict[str, Any]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=400)
        assert proc.returncode == 0, err[-3000:]
        line = next(x for x in out.splitlines() if x.startswith("RESULT "))
        results.extend(json.loads(line.removeprefix("RESULT ")))
    return results


@pytest.mark.slow
def test_16_threads_embedded(tmp_path: Path) -> None:
    from langchain_latm.sandbox import SandboxExecutor
    from langchain_latm.testing import ScriptedChatModel
    from langchain_latm.user import ToolUser

    repo = _open_repo(str(tmp_path / "store"), "latm_tools")
    llm = ScriptedChatModel(responses=["```python\nans = ' '.join(sort_words(['b', 'a']))\n```"],
                            cycle=True)
    with SandboxExecutor() as executor:
        results = _ns["run_threads"](repo, ToolUser(llm, executor=executor), 0, 16, 2)
    _check(repo, results, 2)
    _check(_open_repo(str(tmp_path / "store"), "latm_tools"), results, 2)  # reopened


@pytest.mark.slow
def test_4_processes_x_4_threads_embedded(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    _open_repo(store, "latm_tools")  # create it once, as a deployment would
    results = _run_processes(store, "latm_tools", 4, 4, 2, tmp_path)
    _check(_open_repo(store, "latm_tools"), results, 2)


@pytest.mark.slow
def test_16_threads_chroma_server(chroma_url: str) -> None:
    collection = f"latm_conc_{uuid.uuid4().hex[:8]}"
    repo = _open_repo(chroma_url, collection)
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(_ns["worker"], repo, None, w, 2) for w in range(16)]
        results = [f.result() for f in futures]
    _check(repo, results, 2)


@pytest.mark.slow
def test_4_processes_x_4_threads_chroma_server(chroma_url: str, tmp_path: Path) -> None:
    collection = f"latm_conc_{uuid.uuid4().hex[:8]}"
    _open_repo(chroma_url, collection)
    results = _run_processes(chroma_url, collection, 4, 4, 2, tmp_path)
    _check(_open_repo(chroma_url, collection), results, 2)


_OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from repository_cases import DATE_TOOL, NAVIGATE_TOOL, fast_embeddings, make_tool
    from langchain_latm.repository import ToolRepository

    repo = ToolRepository(path={store!r}, embeddings=fast_embeddings())
    repo.add(make_tool(**DATE_TOOL))
    repo.remove("sort_words")
    # same name, same version number (1), other text: the record id is reused
    nav = dict(NAVIGATE_TOOL, name="sort_words")
    assert repo.add(make_tool(**nav)).version == 1
    """
)


def _expected_score(repo: Any, query: str, texts: list[str]) -> float:
    import numpy as np

    vectors = np.asarray(repo.embeddings.embed_documents(texts), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return float((vectors @ repo.embed_query(query)).max())


def test_search_sees_another_process_writes_embedded(tmp_path: Path) -> None:
    """A long-lived process must see tools written by another process, with their new
    vectors: Chroma's in-process vector segment lags behind other processes' writes
    (``Error finding id``, or the old vector of a re-used record id)."""
    from repository_cases import NAVIGATE_TOOL, fast_embeddings, make_tool

    from langchain_latm.repository import ToolRepository

    store = str(tmp_path / "store")
    repo = ToolRepository(path=store, embeddings=fast_embeddings())
    repo.add(make_tool())
    keeper = make_tool("count_vowels", task="vowels", description="Count the vowels in a word.",
                       questions=("How many vowels are in the word banana?",))
    repo.add(keeper)
    sort_query = "Sort the following words alphabetically: List: pear apple fig"
    assert [t.name for t, _ in repo.search(sort_query, k=1)] == ["sort_words"]
    subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS.format(tests=str(ROOT / "tests"), store=store)],
        check=True, cwd=ROOT, timeout=120, capture_output=True,
    )
    assert repo.add(keeper).version == 1  # a no-op add: writes no record here
    date_q = "Today is Christmas Eve of 1937. What is the date tomorrow in MM/DD/YYYY?"
    hits = repo.search(date_q, k=1)
    assert [(t.name, t.version) for t, _ in hits] == [("date_diff", 1)]
    nav_q = str(NAVIGATE_TOOL["questions"][0])
    hits = repo.search(nav_q, k=2)
    assert hits[0][0].name == "sort_words" and hits[0][0].task == "navigate"
    new_texts = [str(NAVIGATE_TOOL["description"]), *map(str, NAVIGATE_TOOL["questions"])]
    assert abs(hits[0][1] - _expected_score(repo, nav_q, new_texts)) < 1e-4
    # the old sort_words vectors are gone: a sorting question scores like the new texts do
    scored = dict((t.name, s) for t, s in repo.search(sort_query, k=3))
    assert abs(scored["sort_words"] - _expected_score(repo, sort_query, new_texts)) < 1e-4


class _LaggingCollection:
    """A Chroma collection whose vector segment does not hold ``lagging`` ids yet."""

    def __init__(self, inner: Any, lagging: set[str], calls: list[int]) -> None:
        self._inner, self._lagging, self._calls = inner, lagging, calls

    def get(self, **kwargs: Any) -> Any:
        from chromadb.errors import InternalError

        ids = kwargs.get("ids") or []
        if "embeddings" in (kwargs.get("include") or []) and self._lagging & set(ids):
            self._calls.append(len(ids))
            raise InternalError("Error executing plan: Internal error: Error finding id")
        return self._inner.get(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_vectors_chroma_cannot_read_are_isolated_and_re_embedded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``Error finding id`` on some ids: the other vectors are still read from Chroma, the
    lagging ones are re-embedded from their stored text; search is unchanged."""
    from repository_cases import DATE_TOOL, NAVIGATE_TOOL, fast_embeddings, make_tool

    from langchain_latm.repository import ToolRepository

    store = str(tmp_path / "store")
    repo = ToolRepository(path=store, embeddings=fast_embeddings())
    specs: list[dict[str, Any]] = [{}, DATE_TOOL, NAVIGATE_TOOL]
    for spec in specs:
        repo.add(make_tool(**spec))
    queries = [
        "Sort the following words alphabetically: List: pear apple fig",
        "Yesterday was April 30, 2021. What is the date today in MM/DD/YYYY?",
        "Take 3 steps. Turn around. Take 3 steps. Do you return to the starting point?",
    ]
    expected = [[(t.name, round(s, 5)) for t, s in repo.search(q, k=3)] for q in queries]
    lagging = {"date_diff@v1", repo._get(ids=None, include=[])["ids"][-1]}
    calls: list[int] = []
    real_col = ToolRepository._col
    monkeypatch.setattr(
        ToolRepository, "_col", lambda self: _LaggingCollection(real_col(self), lagging, calls)
    )
    fresh = ToolRepository(path=store, embeddings=fast_embeddings())
    with caplog.at_level("WARNING", logger="langchain_latm.repository"):
        got = [[(t.name, round(s, 5)) for t, s in fresh.search(q, k=3)] for q in queries]
    assert got == expected
    assert calls and max(calls) > 1 and min(calls) == 1  # split down to the lagging ids
    assert sum("re-embedded" in r.getMessage() for r in caplog.records) == len(lagging)


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.slow
def test_1000_sandboxed_calls_do_not_grow_host_memory() -> None:
    from langchain_latm.sandbox import SandboxExecutor

    code = "def sort_words(words):\n    return sorted(words)\n"
    snippet = "ans = ' '.join(sort_words(['pear', 'apple', 'fig'] * 50))"
    with SandboxExecutor() as executor:
        for _ in range(100):  # warm-up: worker started, caches filled
            assert executor.run(code, snippet, timeout=5).ok
        gc.collect()
        before = _rss_kb()
        started = time.monotonic()
        failures = 0
        for i in range(1000):
            result = executor.run(code, snippet if i % 10 else "ans = 1 / 0", timeout=5)
            failures += not result.ok
        elapsed = time.monotonic() - started
        gc.collect()
        growth_mb = (_rss_kb() - before) / 1024
    print(f"\n1000 sandboxed calls: {elapsed:.1f} s, host RSS growth {growth_mb:.2f} MB")
    assert failures == 100  # every 10th call raised ZeroDivisionError, reported, not fatal
    assert growth_mb < 5.0
