"""Data model: validation, content hashing, JSON round-trips."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from langchain_latm import (
    Answer,
    Demonstration,
    ExecutionResult,
    Route,
    TaskSpec,
    Usage,
    UseCase,
    VerificationReport,
    WrappedTool,
)

CODE = "def sort_words(words):\n    return sorted(words)\n"


def make_tool(**overrides: object) -> WrappedTool:
    fields: dict[str, object] = {
        "name": "sort_words",
        "task": "word_sorting",
        "description": "Sort words alphabetically.",
        "code": CODE,
        "use_cases": [
            UseCase(
                question="Sort: b a", snippet="ans = ' '.join(sort_words(['b', 'a']))", answer="a b"
            )
        ],
    }
    fields.update(overrides)
    return WrappedTool(**fields)  # type: ignore[arg-type]


def test_tool_from_minimal_fields_has_defaults() -> None:
    tool = make_tool()
    assert tool.entrypoint == "sort_words"
    assert tool.version == 1
    assert tool.verification.verified is False
    assert tool.verified is False
    assert len(tool.tool_id) == 32


def test_tool_id_is_stable_and_content_addressed() -> None:
    a, b = make_tool(), make_tool(description="another description")
    assert a.tool_id == b.tool_id  # description is not content
    assert make_tool(code=CODE + "\n# edited\n").tool_id != a.tool_id
    assert make_tool(name="sort_words2").tool_id != a.tool_id
    changed = [UseCase(question="Sort: c a", snippet="ans = 1", answer="a c")]
    assert make_tool(use_cases=changed).tool_id != a.tool_id


def test_tool_json_round_trip_preserves_everything() -> None:
    tool = make_tool(usage=Usage(input_tokens=10, output_tokens=5, calls=2, model="gpt-4"))
    again = WrappedTool.model_validate_json(tool.model_dump_json())
    assert again == tool
    assert again.tool_id == tool.tool_id
    assert again.usage.total_tokens == 15


@pytest.mark.parametrize("name", ["../../x", "class", "has space", "", "1abc", "naïve"])
def test_tool_name_must_be_identifier(name: str) -> None:
    with pytest.raises(ValidationError, match="identifier"):
        make_tool(name=name)


def test_tool_code_must_parse() -> None:
    with pytest.raises(ValidationError, match="does not parse"):
        make_tool(code="def broken(:\n    pass\n")


def test_tool_code_must_define_a_function_without_entrypoint() -> None:
    with pytest.raises(ValidationError, match="defines no function"):
        make_tool(code="x = 1\n")


def test_verified_only_for_the_verified_content() -> None:
    tool = make_tool()
    report = VerificationReport(verified=True, verified_by="harness", verified_tool_id=tool.tool_id)
    verified = tool.model_copy(update={"verification": report})
    assert verified.verified
    tampered = verified.model_copy(update={"code": CODE + "import os\n"})
    assert not tampered.verified


def test_usage_adds_up() -> None:
    total = Usage(input_tokens=3, output_tokens=4, calls=1, model="m") + Usage(
        input_tokens=1, output_tokens=1, calls=1, model="m"
    )
    assert (total.input_tokens, total.output_tokens, total.calls, total.model) == (4, 5, 2, "m")


def test_usage_from_message_reads_usage_metadata() -> None:
    from langchain_core.messages import AIMessage

    msg = AIMessage(
        content="x",
        usage_metadata={"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
        response_metadata={"model_name": "gpt-4"},
    )
    usage = Usage.from_message(msg)
    got = (usage.input_tokens, usage.output_tokens, usage.calls, usage.model)
    assert got == (12, 7, 1, "gpt-4")


def test_task_and_demonstration_validation() -> None:
    with pytest.raises(ValidationError):
        Demonstration(question="  ", answer="x")
    with pytest.raises(ValidationError):
        TaskSpec(name="")
    spec = TaskSpec(name="t", train=[Demonstration(question="q", answer="a")])
    assert TaskSpec.model_validate_json(spec.model_dump_json()) == spec


def test_execution_result_error_property() -> None:
    assert ExecutionResult(ok=True, answer=3).error is None
    failed = ExecutionResult(ok=False, error_type="Timeout", error_message="5.0 s")
    assert failed.error == "Timeout: 5.0 s"


def test_route_unknown_and_answer_defaults() -> None:
    assert Route().unknown
    tool = make_tool()
    assert not Route(tool=tool, score=0.9, candidates=[(tool, 0.9)]).unknown
    answer = Answer()
    assert answer.ok is False and answer.answer is None
