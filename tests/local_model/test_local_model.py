"""The tool user against a REAL tiny model (Gemma 3 270M base) served by llama-cpp-python.

Plumbing, not accuracy: HTTP through the real ``ChatOpenAI`` client, code extraction, the
sandbox and failure handling. The model is nearly useless as a tool user (0-13 % on word
sorting); its replies are the real-world malformed outputs a tool user must survive (no code
block, the tool repeated instead of called, no ``ans``, endless repetition ending in a
SyntaxError, timeouts). Each question must end as an answer or a typed failure in bounded
time, and the repository holding the tool must be unchanged.

How the server's quirks are handled (documented in the README's Reliability section):

- llama.cpp's server ignores ``max_completion_tokens`` (what ``ChatOpenAI`` sends), so
  ``load_chat_model(..., max_tokens=N)`` also sends ``max_tokens`` in ``extra_body``;
  without it a reply runs to the context limit (~2 min).
- ``repeat_penalty`` (a llama.cpp extension, default 1.1) hurts copying argument lists; it
  is set to 1.0 through ``extra_body``.

Run by ``.ci/local_model.sh`` (sets ``LATM_LOCAL_MODEL_URL``); see ``conftest.py``.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from bench_results import record

from langchain_latm.models import load_chat_model
from langchain_latm.reliability import is_truncated
from langchain_latm.schemas import Answer, UseCase, WrappedTool

N_QUESTIONS = 10
MAX_TOKENS = 192
MODEL_TIMEOUT_S = 60.0  # per HTTP request; no client retries: a slow local server stays slow
USER_RETRIES = 1  # ToolUser: one more snippet after a failure, with the error shown
SANDBOX_TIMEOUT_S = 5.0
# The bound follows from the configuration: every model call and every sandbox run is capped.
PER_QUESTION_S = (USER_RETRIES + 1) * (MODEL_TIMEOUT_S + SANDBOX_TIMEOUT_S) + 10.0
TOTAL_S = N_QUESTIONS * PER_QUESTION_S


def tool_from_recording(path: Path) -> WrappedTool:
    """The paper's wrapped word-sorting tool, read from the recorded session's last turn."""
    turns = json.loads(path.read_text())
    final = next(t["content"] for t in reversed(turns) if t["role"] == "assistant")
    blocks = re.findall(r"```python\n(.*?)```", final, re.DOTALL)
    questions = re.findall(r"^Question: (.*)$", final, re.MULTILINE)
    answers = re.findall(r"^Answer: (.*)$", final, re.MULTILINE)
    code, snippets = blocks[0], blocks[1:]
    assert len(snippets) == len(questions) == len(answers) == 3
    return WrappedTool(
        name="sort_words_alphabetically",
        task="word_sorting",
        description="Sort a list of words alphabetically.",
        code=code,
        use_cases=[UseCase(question=q, snippet=s, answer=a)
                   for q, s, a in zip(questions, snippets, answers, strict=True)],
    )


def _served_model(url: str) -> str:
    with urllib.request.urlopen(f"{url}/models", timeout=10) as resp:
        listing = json.load(resp)
    return str(listing["data"][0]["id"])


@pytest.fixture(scope="module")
def llm(local_model_url: str) -> Any:
    name = os.environ.get("LATM_LOCAL_MODEL_NAME") or _served_model(local_model_url)
    return load_chat_model(
        name,
        base_url=local_model_url,
        timeout=MODEL_TIMEOUT_S,
        max_retries=0,
        max_tokens=MAX_TOKENS,  # also sent as extra_body["max_tokens"] (llama.cpp)
        temperature=0.0,
        extra_body={"repeat_penalty": 1.0},
    )


def test_server_honours_max_tokens_workaround(llm: Any) -> None:
    # Without max_tokens in the body, llama.cpp ignores ChatOpenAI's max_completion_tokens
    # and generates up to the context limit; with it, the reply stops at the cap.
    started = time.monotonic()
    msg = llm.bind(extra_body={"max_tokens": 8, "repeat_penalty": 1.0}).invoke(
        "Question: Sort the following words alphabetically: List: pear apple fig kiwi\n"
        "Solution:\n```python\nwords = ["
    )
    assert time.monotonic() - started < 60
    assert msg.usage_metadata is not None
    assert msg.usage_metadata["input_tokens"] > 0
    assert msg.usage_metadata["output_tokens"] <= 8
    if msg.usage_metadata["output_tokens"] == 8:
        assert is_truncated(msg)


@pytest.mark.timeout(int(TOTAL_S) + 60)
def test_tool_user_on_ten_word_sorting_questions(
    llm: Any, tmp_path: Path, recorded_dir: Path, bbh_dir: Path
) -> None:
    from langchain_latm.repository import ToolRepository
    from langchain_latm.sandbox import SandboxExecutor
    from langchain_latm.user import ToolUser

    tool = tool_from_recording(recorded_dir / "word_sorting.json")
    examples = json.loads((bbh_dir / "word_sorting.json").read_text())["examples"]
    test_split = examples[10:10 + N_QUESTIONS]  # the paper's split: 10+ are test instances

    repo = ToolRepository(path=tmp_path / "repo")
    repo.add(tool)

    def snapshot(r: ToolRepository) -> list[tuple[str, int, str, str]]:
        return sorted((t.name, t.version, t.tool_id, t.code) for t in r.list())

    before = snapshot(repo)
    stored = repo.get(tool.name)

    executor = SandboxExecutor()
    user = ToolUser(llm, executor=executor, timeout=SANDBOX_TIMEOUT_S, max_retries=USER_RETRIES)
    rows: list[dict[str, Any]] = []
    answers: list[Answer] = []
    started = time.monotonic()
    for example in test_split:
        t0 = time.monotonic()
        answer = user.solve(example["input"], stored)
        took = time.monotonic() - t0
        answers.append(answer)
        rows.append({"ok": answer.ok, "error_type": answer.error_type, "seconds": round(took, 1),
                     "correct": answer.ok and answer.answer == example["target"]})
        assert took < PER_QUESTION_S, f"question took {took:.0f} s"
    total = time.monotonic() - started

    # every question ends as an answer or a typed failure
    assert len(answers) == N_QUESTIONS
    for answer in answers:
        if answer.ok:
            assert isinstance(answer.answer, str) and answer.error is None
        else:
            assert answer.answer is None
            assert answer.error_type and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", answer.error_type)
            assert answer.error
            assert answer.error_type != "SandboxError", answer.error  # the sandbox itself held
        assert answer.tool == tool.name
        if answer.error_type != "ModelCallError":  # a timed-out call has no usage to report
            assert answer.usage.calls >= 1 and answer.usage.input_tokens > 0
    assert total < TOTAL_S

    # the repository is unchanged, also when reopened from disk
    assert snapshot(repo) == before
    assert snapshot(ToolRepository(path=tmp_path / "repo")) == before
    assert repo.get(tool.name).tool_id == tool.tool_id

    kinds: dict[str, int] = {}
    for row in rows:
        key = "ok" if row["ok"] else str(row["error_type"])
        kinds[key] = kinds.get(key, 0) + 1
    figures = {
        "model": "gemma-3-270m base Q4_K_M (llama-cpp-python server, 2 threads)",
        "questions": N_QUESTIONS,
        "outcomes": kinds,
        "correct": sum(1 for r in rows if r["correct"]),
        "total_s": round(total, 1),
        "per_question_s": [r["seconds"] for r in rows],
        "repository_unchanged": True,
    }
    record("faults.json", "local_model", figures)  # plumbing figures, not accuracy
