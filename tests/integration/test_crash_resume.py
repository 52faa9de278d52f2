"""kill -9 of real processes: mid tool-making (resume from a SQLite checkpointer without
repeating finished model calls) and mid repository write (the store opens afterwards and
holds the old or the new version, never a half-written one)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from langchain_latm.testing.fault_server import FaultInjectingServer, Reply

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _recorded_turns(path: Path) -> list[str]:
    """The recorded assistant turns, without the recorder's duplicated proposal."""
    turns: list[str] = []
    for turn in json.loads(path.read_text()):
        if turn["role"] == "assistant" and (not turns or turns[-1] != turn["content"]):
            turns.append(turn["content"])
    return turns


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") in ("user", "human"):
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _stage(body: dict[str, Any]) -> str:
    text = _last_user_text(body)
    if "summarize the function" in text:
        return "wrap"
    if "Write unit tests" in text:
        return "verify"
    return "propose"


MAKER_CHILD = textwrap.dedent(
    """
    import sqlite3, sys
    from pathlib import Path
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langchain_latm.maker import ToolMaker
    from langchain_latm.models import load_chat_model
    from langchain_latm.tasks import load_bbh_task

    url, db, data_dir, out = sys.argv[1:5]
    conn = sqlite3.connect(db, check_same_thread=False)
    llm = load_chat_model("maker-model", base_url=url, timeout=600, max_retries=0)
    maker = ToolMaker(llm, checkpointer=SqliteSaver(conn))
    task = load_bbh_task("word_sorting", data_dir=data_dir)
    tool = maker.make(task, thread_id="crash-resume-1")
    Path(out).write_text(tool.model_dump_json())
    print("MADE", tool.name, tool.verified, flush=True)
    """
)


def _run_child(script: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )


def _wait_for(predicate: Any, timeout: float, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"child exited early ({proc.returncode}):\n{out}\n{err[-3000:]}")
        time.sleep(0.05)
    pytest.fail("timed out waiting for the child")


@pytest.mark.slow
def test_kill_9_mid_tool_making_resumes_without_repeating_model_calls(
    tmp_path: Path, data_dir: Path
) -> None:
    turns = _recorded_turns(data_dir / "recorded" / "word_sorting.json")
    assert len(turns) == 3  # propose, verify, wrap
    replies = {"propose": turns[0], "verify": turns[1], "wrap": turns[2]}
    hang_wrap = threading.Event()
    hang_wrap.set()

    def script(index: int, body: dict[str, Any]) -> Reply:
        stage = _stage(body)
        if stage == "wrap" and hang_wrap.is_set():
            return Reply.slow(600.0, replies[stage])  # the child is killed while waiting
        return Reply.ok(replies[stage])

    child = tmp_path / "maker_child.py"
    child.write_text(MAKER_CHILD)
    db, out = tmp_path / "checkpoints.sqlite", tmp_path / "tool.json"
    with FaultInjectingServer(script=script) as srv:
        args = (srv.base_url, str(db), str(data_dir), str(out))
        first = _run_child(child, *args)
        try:
            _wait_for(lambda: any(_stage(r.body or {}) == "wrap" for r in srv.chat_requests),
                      timeout=180, proc=first)
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL
        assert not out.exists()
        before = srv.chat_requests
        assert [_stage(r.body or {}) for r in before] == ["propose", "verify", "wrap"]

        hang_wrap.clear()
        second = _run_child(child, *args)
        stdout, stderr = second.communicate(timeout=240)
        after = srv.chat_requests[len(before):]
        assert second.returncode == 0, (
            f"resumed run failed; its model calls: {[_stage(r.body or {}) for r in after]}\n"
            + stderr[-3000:]
        )

    assert "MADE sort_words_alphabetically True" in stdout
    # only the interrupted (unfinished) call is made again, with the very same prompt
    assert [_stage(r.body or {}) for r in after] == ["wrap"]
    assert (after[0].body or {}).get("messages") == (before[2].body or {}).get("messages")
    from langchain_latm.schemas import WrappedTool

    tool = WrappedTool.model_validate_json(out.read_text())
    assert tool.verified and len(tool.use_cases) == 3


REPO_WRITER = textwrap.dedent(
    """
    import sys
    from langchain_latm.repository import ToolRepository
    from langchain_latm.schemas import UseCase, WrappedTool

    path, start = sys.argv[1], int(sys.argv[2])
    repo = ToolRepository(path=path)
    print("OPEN", flush=True)
    i = start
    while True:
        code = f"def sort_words(words):\\n    # revision {i}\\n    return sorted(words)\\n"
        tool = WrappedTool(
            name="sort_words", task="word_sorting", description=f"Sort words (rev {i}).",
            code=code,
            use_cases=[UseCase(question=f"Sort: pear apple {i}",
                               snippet="ans = ' '.join(sort_words(['pear', 'apple']))",
                               answer="apple pear")],
            metadata={"revision": i},
        )
        stored = repo.add(tool)
        print("ADDED", stored.version, i, flush=True)
        i += 1
    """
)


@pytest.mark.slow
def test_kill_9_mid_repository_write_leaves_old_or_new_version(tmp_path: Path) -> None:
    from langchain_latm.repository import ToolRepository

    script = tmp_path / "repo_writer.py"
    script.write_text(REPO_WRITER)
    store = tmp_path / "store"
    rng = random.Random(42)
    confirmed: list[tuple[int, int]] = []  # (version, revision) printed after add() returned
    for round_ in range(3):
        proc = _run_child(script, str(store), str(len(confirmed) + 1000 * round_))
        lines: list[str] = []

        def reader(p: subprocess.Popen[str] = proc, sink: list[str] = lines) -> None:
            assert p.stdout is not None
            for line in p.stdout:
                sink.append(line.strip())

        t = threading.Thread(target=reader)
        t.start()
        _wait_for(lambda ls=lines: any(x.startswith("ADDED") for x in ls), timeout=120,
                  proc=proc)
        time.sleep(rng.uniform(0.05, 0.8))  # land somewhere inside a later add()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        t.join(10)
        assert proc.stderr is not None
        proc.stderr.close()
        for line in lines:
            if line.startswith("ADDED"):
                _, version, revision = line.split()
                confirmed.append((int(version), int(revision)))

        # the store opens, and every stored version is whole and untampered
        repo = ToolRepository(path=store)
        versions = repo.versions("sort_words")
        last_confirmed = confirmed[-1][0]
        assert versions == list(range(1, len(versions) + 1)), versions  # no gaps/duplicates
        assert last_confirmed <= versions[-1] <= last_confirmed + 1  # old or new, nothing else
        for version, revision in confirmed:
            tool = repo.get("sort_words", version)
            assert tool.metadata.get("revision") == revision
            assert f"# revision {revision}\n" in tool.code
        latest = repo.get("sort_words")
        assert latest.version == versions[-1]
        assert [t.name for t in repo.list()] == ["sort_words"]
        assert latest.tool_id == repo.get("sort_words", latest.version).tool_id
        problems = repo.check()
        assert problems == [], problems
        del repo
    assert len(confirmed) >= 3
