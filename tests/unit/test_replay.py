"""ReplayChatModel: serves recorded assistant turns, skips recorder duplicates, records prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

from langchain_latm.errors import DataNotFoundError, LATMError, ReplayExhaustedError
from langchain_latm.testing import ReplayChatModel
from langchain_latm.testing.replay import assistant_turns, estimate_tokens


def test_duplicate_assistant_turn_right_after_is_skipped(recorded_dir: Path) -> None:
    raw = json.loads((recorded_dir / "dyck_languages.json").read_text())
    llm = ReplayChatModel.from_transcript(recorded_dir / "dyck_languages.json")
    raw_assistant = [m["content"] for m in raw if m["role"] == "assistant"]
    assert len(raw_assistant) == 6
    # turns 5 and 6 of the file are identical and adjacent: one is dropped
    assert len(llm.turns) == 5
    assert llm.turns == [raw_assistant[i] for i in (0, 1, 2, 4, 5)]
    assert isinstance(llm, BaseChatModel)


def test_same_content_not_adjacent_is_kept() -> None:
    conv = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "A"},
        {"role": "assistant", "content": "A"},
    ]
    assert assistant_turns(conv) == ["A", "A"]


def test_serves_in_order_records_prompts_then_exhausts(recorded_dir: Path) -> None:
    llm = ReplayChatModel.from_transcript(recorded_dir / "word_sorting.json")
    assert llm.model_name == "replay:word_sorting"
    replies = [llm.invoke([HumanMessage(f"prompt {i}")]) for i in range(3)]
    assert [r.content for r in replies] == llm.turns
    assert [p[-1].content for p in llm.prompts] == ["prompt 0", "prompt 1", "prompt 2"]
    with pytest.raises(ReplayExhaustedError) as info:
        llm.invoke("one more")
    assert isinstance(info.value, LATMError)
    assert info.value.served == 3 and info.value.source.endswith("word_sorting.json")
    llm.reset()
    assert llm.invoke("again").content == llm.turns[0]


def test_usage_metadata_is_an_labelled_estimate() -> None:
    llm = ReplayChatModel(turns=["x" * 40])
    reply = llm.invoke([HumanMessage("y" * 100)])
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] == estimate_tokens("x" * 40) == 10
    assert reply.usage_metadata["input_tokens"] == 25
    assert reply.response_metadata["usage_estimated"] is True


def test_missing_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError):
        ReplayChatModel.from_transcript(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a list"):
        ReplayChatModel.from_transcript(bad)


async def test_async_invoke_serves_turns() -> None:
    llm = ReplayChatModel(turns=["one", "two"])
    assert (await llm.ainvoke("a")).content == "one"
    assert (await llm.ainvoke("b")).content == "two"
    with pytest.raises(ReplayExhaustedError):
        await llm.ainvoke("c")


def test_exhausted_error_names_questions_recorded_on_another_task() -> None:
    conversation = [
        {"role": "user", "content": "Question: two plus two?\nAnswer: 4\n\nWrite a tool."},
        {"role": "assistant", "content": "recorded reply"},
    ]
    same = ReplayChatModel.from_messages(conversation)
    assert same.invoke("Question: two  plus\ntwo?\nAnswer: 4\n\nWrite it.").content == (
        "recorded reply")  # whitespace differences are not a different question
    with pytest.raises(ReplayExhaustedError) as info:
        same.invoke("Question: two plus two?\nAnswer: 4")
    assert "another task" not in str(info.value)

    other = ReplayChatModel.from_messages(conversation)
    # a mismatch is served anyway (replies stay in order) and only explained on exhaustion
    assert other.invoke("Question: three plus three?\nAnswer: 6").content == "recorded reply"
    with pytest.raises(ReplayExhaustedError) as info:
        other.invoke("Question: three plus three?\nAnswer: 6")
    message = str(info.value)
    assert "recorded on another task or split" in message
    assert "three plus three?" in message and "two plus two?" in message
    other.reset()
    with pytest.raises(ReplayExhaustedError, match="exhausted") as info:
        other.invoke("no questions here")
        other.invoke("no questions here")
    assert "another task" not in str(info.value)
