"""ToolRepository in embedded mode (PersistentClient in tmp_path), plus embedded-only faults.

The shared contract lives in ``tests/repository_cases.py`` and runs again against a real
Chroma server in ``tests/integration/test_repository_server.py``.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from repository_cases import MakeRepo, RepositoryCases, fast_embeddings, make_tool

from langchain_latm.embeddings import HashingEmbeddings
from langchain_latm.errors import RepositoryError
from langchain_latm.repository import ToolRepository

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    store = tmp_path / "store"

    def factory(**kwargs: Any) -> ToolRepository:
        kwargs.setdefault("embeddings", fast_embeddings())
        return ToolRepository(store, **kwargs)

    return factory


class TestEmbeddedRepository(RepositoryCases):
    """The shared repository contract on an embedded store."""


def test_default_path_store_is_created_with_a_lock_file(tmp_path: Path) -> None:
    repo = ToolRepository(tmp_path / "new" / ".latm", embeddings=fast_embeddings())
    repo.add(make_tool())
    assert (tmp_path / "new" / ".latm" / "latm.lock").exists()
    assert (tmp_path / "new" / ".latm" / "chroma.sqlite3").exists()


def test_corrupt_sqlite_file_is_a_clear_error_and_is_left_untouched(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    garbage = b"this is not a sqlite database\x00\xff" * 100
    (store / "chroma.sqlite3").write_bytes(garbage)
    with pytest.raises(RepositoryError, match="cannot open") as info:
        ToolRepository(store, embeddings=fast_embeddings())
    assert str(store) in str(info.value)
    assert (store / "chroma.sqlite3").read_bytes() == garbage


def test_truncated_store_after_use_is_a_clear_error(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ToolRepository(store, embeddings=fast_embeddings()).add(make_tool())
    db = store / "chroma.sqlite3"
    data = db.read_bytes()
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        db = Path({str(db)!r})
        db.write_bytes(b"garbage" * 64 + db.read_bytes()[4096:])
        from langchain_latm.embeddings import HashingEmbeddings
        from langchain_latm.errors import RepositoryError
        from langchain_latm.repository import ToolRepository
        try:
            ToolRepository({str(store)!r}, embeddings=HashingEmbeddings(dimension=512)).list()
        except RepositoryError as exc:
            print("RepositoryError:", exc)
            sys.exit(3)
        sys.exit(0)
        """
    )
    # a fresh process: chromadb caches open systems per path inside one process
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout
    assert len(data) > 4096


_WRITER = textwrap.dedent(
    """
    import sys
    from langchain_latm.embeddings import HashingEmbeddings
    from langchain_latm.repository import ToolRepository
    sys.path.insert(0, {tests!r})
    from repository_cases import make_tool
    repo = ToolRepository({store!r}, embeddings=HashingEmbeddings(dimension=512))
    print("ready", flush=True)
    sys.stdin.readline()
    for j in range({n}):
        repo.add(make_tool(body="return words  # proc {tag} edit %d" % j))
    print("done", flush=True)
    """
)


def _spawn_writer(store: Path, tag: str, n: int) -> subprocess.Popen[str]:
    code = _WRITER.format(tests=str(ROOT / "tests"), store=str(store), n=n, tag=tag)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    return proc


@pytest.mark.slow
def test_two_processes_adding_versions_never_duplicate(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ToolRepository(store, embeddings=fast_embeddings())  # create the collection first
    procs = [_spawn_writer(store, tag, 8) for tag in ("a", "b")]
    for proc in procs:  # release both at once
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        assert "done" in out
    repo = ToolRepository(store, embeddings=fast_embeddings())
    versions = repo.versions("sort_words")
    assert versions == list(range(1, 17))
    codes = [repo.get("sort_words", v).code for v in versions]
    assert len(set(codes)) == 16
    assert sum("proc a" in c for c in codes) == sum("proc b" in c for c in codes) == 8
    assert repo.check() == []


_BULK_WRITER = textwrap.dedent(
    """
    import sys
    from langchain_latm.embeddings import HashingEmbeddings
    from langchain_latm.repository import ToolRepository
    sys.path.insert(0, {tests!r})
    from repository_cases import make_tool
    repo = ToolRepository({store!r}, embeddings=HashingEmbeddings(dimension=512))
    print("ready", flush=True)
    j = 0
    while True:
        questions = tuple("Sort the following words: List: w%d x%d" % (j, i) for i in range(60))
        repo.add(make_tool(body="return words  # edit %d" % j, questions=questions))
        j += 1
    """
)


@pytest.mark.slow
def test_kill_9_during_writes_leaves_whole_versions(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ToolRepository(store, embeddings=fast_embeddings()).add(make_tool())
    for delay in (0.4, 0.9, 1.7):
        code = _BULK_WRITER.format(tests=str(ROOT / "tests"), store=str(store))
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    # a fresh process opens the store: every version listed is complete and intact
    check = textwrap.dedent(
        f"""
        from langchain_latm.embeddings import HashingEmbeddings
        from langchain_latm.repository import ToolRepository
        repo = ToolRepository({str(store)!r}, embeddings=HashingEmbeddings(dimension=512))
        versions = repo.versions("sort_words")
        assert versions == list(range(1, len(versions) + 1)), versions
        for v in versions:
            tool = repo.get("sort_words", v)
            n = repo._col().get(where={{"$and": [{{"name": "sort_words"}}, {{"version": v}},
                                                {{"tool_id": tool.tool_id}}]}})
            assert len(n["ids"]) == 1 + len({{u.question for u in tool.use_cases}}), (v, n)
        problems = [p for p in repo.check() if p.kind != "orphan"]
        assert problems == [], problems
        hits = repo.search("Sort the following words: List: w1 x1", k=1)
        assert hits and hits[0][0].version == versions[-1]
        print("versions", len(versions))
        """
    )
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert int(proc.stdout.split()[-1]) >= 2


def test_real_minilm_default_routes_paraphrases(tmp_path: Path) -> None:
    """The offline default embedding (MiniLM, no download) routes paraphrased questions."""
    repo = ToolRepository(tmp_path / "store")
    from repository_cases import DATE_TOOL, NAVIGATE_TOOL

    repo.add_many([make_tool(), make_tool(**DATE_TOOL), make_tool(**NAVIGATE_TOOL)])
    cases = {
        "Put these words in dictionary order: kiwi, banana, cherry": "sort_words",
        "My birthday was two days ago, on 05/01/2020. What day is it now?": "date_diff",
        "I walk four paces ahead, spin around, and walk four paces. Am I back where I began?":
            "navigate",
    }
    for question, expected in cases.items():
        assert repo.search(question, k=1)[0][0].name == expected, question


def test_batch_search_embeds_questions_as_queries(tmp_path: Path) -> None:
    """``search_many`` and ``search`` embed a question the same way (MiniLM cuts queries
    shorter than documents), so a batch routes exactly like one question at a time."""
    from repository_cases import DATE_TOOL, NAVIGATE_TOOL

    repo = ToolRepository(tmp_path / "store")
    repo.add_many([make_tool(), make_tool(**DATE_TOOL), make_tool(**NAVIGATE_TOOL)])
    long_question = ("Sort the following words alphabetically: List: " + " ".join(
        f"word{i}" for i in range(80)) + ". Give them separated by spaces.")
    questions = [long_question, "What is the date tomorrow?"]
    for question, hits in zip(questions, repo.search_many(questions, k=3), strict=True):
        single = repo.search(question, k=3)
        assert [t.name for t, _ in hits] == [t.name for t, _ in single]
        assert [s for _, s in hits] == pytest.approx([s for _, s in single], abs=1e-5)


def test_batch_search_embeds_only_questions_not_seen_before(tmp_path: Path) -> None:
    from repository_cases import DATE_TOOL

    embedded: list[str] = []

    class Counting(HashingEmbeddings):
        def embed_array(self, texts: Any) -> Any:
            embedded.extend(texts)
            return super().embed_array(texts)

    repo = ToolRepository(tmp_path / "store", embeddings=Counting(dimension=512))
    repo.add_many([make_tool(), make_tool(**DATE_TOOL)])
    embedded.clear()
    repo.search("What is the date tomorrow?", k=1)
    hits = repo.search_many(["What is the date tomorrow?", "Sort: b a", "Sort: b a"], k=1)
    assert embedded == ["What is the date tomorrow?", "Sort: b a"]
    assert [h[0][0].name for h in hits] == ["date_diff", "sort_words", "sort_words"]


def test_two_stage_search_matches_exact_search(tmp_path: Path) -> None:
    from repository_cases import DATE_TOOL, NAVIGATE_TOOL

    store = tmp_path / "store"
    tools = [make_tool(), make_tool(**DATE_TOOL), make_tool(**NAVIGATE_TOOL)]
    tools += [
        make_tool(f"tool_{i}", description=f"Synthetic tool number {i} about topic {i % 7}",
                  questions=(f"Question {i} on topic {i % 7}?", f"Another ask {i}"))
        for i in range(60)
    ]
    ToolRepository(store, embeddings=fast_embeddings()).add_many(tools)
    exact = ToolRepository(store, embeddings=fast_embeddings())
    staged = ToolRepository(store, embeddings=fast_embeddings(), exact_rows_limit=0)
    for question in ["Sort the following words alphabetically: List: b a",
                     "Question 17 on topic 3?", "What is the date tomorrow?"]:
        want = [(t.name, round(s, 5)) for t, s in exact.search(question, k=3)]
        got = [(t.name, round(s, 5)) for t, s in staged.search(question, k=3)]
        assert got == want


def test_refresh_interval_trades_freshness_for_latency(tmp_path: Path) -> None:
    store = tmp_path / "store"
    lazy = ToolRepository(store, embeddings=fast_embeddings(), refresh_interval=60.0)
    lazy.add(make_tool())
    assert [t.name for t, _ in lazy.search("date tomorrow")] == ["sort_words"]
    from repository_cases import DATE_TOOL

    ToolRepository(store, embeddings=fast_embeddings()).add(make_tool(**DATE_TOOL))
    assert [t.name for t, _ in lazy.search("date tomorrow")] == ["sort_words"]  # cached
    lazy.add(make_tool(**NAVIGATE_TOOL_FOR_REFRESH))  # own write: cache dropped at once
    assert {t.name for t, _ in lazy.search("date tomorrow", k=5)} == {
        "sort_words", "date_diff", "navigate"}


NAVIGATE_TOOL_FOR_REFRESH = {
    "name": "navigate", "task": "navigate", "description": "Follow steps.", "body": "return words",
    "questions": ("Take 3 steps. Turn around.",),
}


def _fds_under(path: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        count += target.startswith(str(path))
    return count


def test_close_releases_the_store_and_later_calls_are_clear_errors(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with ToolRepository(store, embeddings=fast_embeddings()) as repo:
        repo.add(make_tool())
        assert repo.search("Sort these words: pear apple", k=1)
        assert _fds_under(store) > 0
        assert not repo.closed
    assert repo.closed
    # Chroma drops its system on close; the sqlite and index files are released when
    # those objects are collected (without close they stay cached for the process's life)
    gc.collect()
    assert _fds_under(store) == 0
    for call in (repo.list, lambda: repo.search("Sort these words: b a", k=1),
                 lambda: repo.add(make_tool(name="other_tool"))):
        with pytest.raises(RepositoryError, match="is closed") as info:
            call()
        assert str(store) in str(info.value)
    repo.close()  # a second close is a no-op
    # nothing was lost: the store opens again with its tool
    with ToolRepository(store, embeddings=fast_embeddings()) as again:
        assert [t.name for t in again.list()] == [make_tool().name]


def test_close_leaves_a_given_client_open(tmp_path: Path) -> None:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(tmp_path / "c"),
                                       settings=Settings(anonymized_telemetry=False))
    try:
        repo = ToolRepository(client=client, embeddings=fast_embeddings())
        repo.add(make_tool())
        repo.close()
        assert repo.closed
        assert "latm_tools" in [c.name for c in client.list_collections()]
        with ToolRepository(client=client, embeddings=fast_embeddings()) as again:
            assert len(again.list()) == 1
    finally:
        client.close()
