"""Dispatcher: routing, the *unknown* outcome, calibration and the optional LLM confirmation.

Real ``ToolRepository`` objects in ``tmp_path`` with the deterministic lexical
``HashingEmbeddings`` (no model download), real BBH questions for the near-neighbour cases.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langchain_latm.dispatcher import (
    Dispatcher,
    RoutingScorer,
    best_threshold,
    parse_choice,
    shape_features,
)
from langchain_latm.embeddings import HashingEmbeddings
from langchain_latm.errors import DispatchError
from langchain_latm.repository import ToolRepository
from langchain_latm.schemas import UseCase, WrappedTool
from langchain_latm.tasks import load_bbh_task


def _tool(name: str, questions: list[str], description: str = "") -> WrappedTool:
    return WrappedTool(
        name=name,
        task=name,
        description=description or f"Tool for {name.replace('_', ' ')}.",
        code="def solve(question):\n    return question\n",
        use_cases=[UseCase(question=q, snippet="ans = solve(question)") for q in questions],
    )


def _bbh_tool(name: str, data_dir: Path) -> WrappedTool:
    task = load_bbh_task(name, data_dir)
    return _tool(name, [d.question for d in task.val[:3]])


NEIGHBOURS = [
    "logical_deduction_three_objects",
    "logical_deduction_five_objects",
    "tracking_shuffled_objects_three_objects",
    "tracking_shuffled_objects_seven_objects",
    "word_sorting",
    "boolean_expressions",
]
HELD_OUT = ["logical_deduction_seven_objects", "tracking_shuffled_objects_five_objects",
            "object_counting"]


@pytest.fixture(scope="module")
def bbh_repo(tmp_path_factory: pytest.TempPathFactory,
             data_dir: Path) -> Iterator[ToolRepository]:
    with ToolRepository(tmp_path_factory.mktemp("dispatch") / "store",
                        embeddings=HashingEmbeddings(dimension=2048)) as repo:
        repo.add_many([_bbh_tool(name, data_dir) for name in NEIGHBOURS])
        yield repo


@pytest.fixture(scope="module")
def calibrated(bbh_repo: ToolRepository, data_dir: Path) -> Dispatcher:
    """A dispatcher calibrated on test questions 0-9 (evaluated below on 20+)."""
    dispatcher = Dispatcher(bbh_repo)
    known = [(d.question, n) for n in NEIGHBOURS for d in load_bbh_task(n, data_dir).test[:10]]
    unknown = [d.question for n in HELD_OUT for d in load_bbh_task(n, data_dir).test[:10]]
    dispatcher.calibrate(known, unknown)
    return dispatcher


class FailingChat(GenericFakeChatModel):
    """A chat model whose every call fails."""

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("provider down")


def _chat(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question_is_a_dispatch_error(bbh_repo: ToolRepository, question: str) -> None:
    dispatcher = Dispatcher(bbh_repo)
    with pytest.raises(DispatchError):
        dispatcher.route(question)
    with pytest.raises(DispatchError):
        asyncio.run(dispatcher.aroute(question))
    with pytest.raises(DispatchError):
        dispatcher.route_many(["Sort the words: b a", question])


def test_empty_repository_routes_to_unknown(tmp_path: Path) -> None:
    repo = ToolRepository(tmp_path / "empty", embeddings=HashingEmbeddings(dimension=256))
    route = Dispatcher(repo).route("Sort the following words alphabetically: List: b a")
    assert route.unknown and route.tool is None
    assert route.candidates == []
    assert "empty" in route.reason


def test_bad_configuration_is_rejected(bbh_repo: ToolRepository) -> None:
    with pytest.raises(ValueError):
        Dispatcher(bbh_repo, k=0)
    with pytest.raises(ValueError):
        Dispatcher(bbh_repo, margin=-1)
    with pytest.raises(ValueError):
        RoutingScorer(dense_weight=1.5)


# ---------------------------------------------------------------- routing behaviour


def test_near_neighbour_variants_route_to_the_right_object_count(
    calibrated: Dispatcher, data_dir: Path
) -> None:
    for name in NEIGHBOURS:
        questions = [d.question for d in load_bbh_task(name, data_dir).test[20:28]]
        routes = calibrated.route_many(questions)
        top1 = sum(r.candidates[0][0].name == name for r in routes)
        accepted = sum(r.tool is not None and r.tool.name == name for r in routes)
        assert top1 >= 7 and accepted >= 6, (name, [r.reason for r in routes])


def test_held_out_variants_are_unknown(calibrated: Dispatcher, data_dir: Path) -> None:
    """5-object tracking and 7-object deduction look like stored tools but must be made anew."""
    for name in HELD_OUT:
        questions = [d.question for d in load_bbh_task(name, data_dir).test[20:28]]
        routes = calibrated.route_many(questions)
        unknown = sum(r.unknown for r in routes)
        assert unknown >= 7, (name, [r.reason for r in routes])


def test_route_reports_candidates_scores_and_reason(calibrated: Dispatcher, data_dir: Path) -> None:
    question = load_bbh_task("word_sorting", data_dir).test[30].question
    route = calibrated.route(question)
    assert route.tool is not None and route.tool.name == "word_sorting"
    assert route.candidates[0][0].name == "word_sorting"
    assert route.score == pytest.approx(route.candidates[0][1])
    scores = [s for _, s in route.candidates]
    assert scores == sorted(scores, reverse=True)
    assert len(route.candidates) <= calibrated.k
    assert "threshold" in route.reason and "word_sorting" in route.reason


def test_route_many_and_aroute_agree_with_route(calibrated: Dispatcher, data_dir: Path) -> None:
    questions = [load_bbh_task(n, data_dir).test[40].question for n in NEIGHBOURS + HELD_OUT]
    single = [calibrated.route(q) for q in questions]
    batch = calibrated.route_many(questions)
    async_ = [asyncio.run(calibrated.aroute(q)) for q in questions]
    for a, b, c in zip(single, batch, async_, strict=True):
        assert (a.tool.name if a.tool else None) == (b.tool.name if b.tool else None)
        assert (a.tool.name if a.tool else None) == (c.tool.name if c.tool else None)
        if "template fast path" not in a.reason:  # a fast route reuses an earlier score
            assert a.score == pytest.approx(b.score, abs=1e-5)


def test_threshold_decides_between_tool_and_unknown(bbh_repo: ToolRepository) -> None:
    question = "Sort the following words alphabetically: List: kiwi banana cherry"
    assert Dispatcher(bbh_repo, threshold=-10.0).route(question).tool is not None
    route = Dispatcher(bbh_repo, threshold=10.0).route(question)
    assert route.tool is None and route.candidates and "unknown" in route.reason


def test_tool_added_later_is_found(tmp_path: Path) -> None:
    repo = ToolRepository(tmp_path / "s", embeddings=HashingEmbeddings(dimension=512))
    dispatcher = Dispatcher(repo, threshold=0.3)
    question = "Count the vowels in the word 'banana'."
    assert dispatcher.route(question).unknown
    repo.add(_tool("count_vowels", ["Count the vowels in the word 'apple'.",
                                    "Count the vowels in the word 'kiwi'."]))
    route = dispatcher.route(question)
    assert route.tool is not None and route.tool.name == "count_vowels"


# ---------------------------------------------------------------- features and calibration


def test_shape_features_count_options_and_enumerations() -> None:
    text = ("On a shelf, there are three books: a red book, a gray book, and a blue book.\n"
            "Options:\n(A) The red book\n(B) The gray book\n(C) The blue book")
    assert shape_features(text) == {"options": 3, "list": 3}
    assert shape_features("Alice, Bob and Claire swap gifts.") == {"options": 0, "list": 3}
    assert shape_features("What is 2 + 2?") == {"options": 0, "list": 0}


def test_shape_mismatch_lowers_the_score_of_a_templated_tool() -> None:
    three = [f"Pick one of a{i}, b{i}, and c{i}.\nOptions:\n(A) a\n(B) b\n(C) c" for i in range(3)]
    tool = _tool("pick_three", three)
    scorer = RoutingScorer()
    same = "Pick one of x, y, and z.\nOptions:\n(A) x\n(B) y\n(C) z"
    five = "Pick one of x, y, z, u, and v.\nOptions:\n(A) x\n(B) y\n(C) z\n(D) u\n(E) v"
    s_same = scorer.components(same, tool, dense=0.8)
    s_five = scorer.components(five, tool, dense=0.8)
    assert s_same["mismatch"] == 0.0
    assert s_five["mismatch"] > 0.5
    assert s_five["score"] < s_same["score"] - 0.3


def test_best_threshold_maximises_balanced_accuracy() -> None:
    known = [(True, 0.9), (True, 0.8), (True, 0.7), (False, 0.95)]
    unknown = [0.2, 0.3, 0.6]
    threshold, balanced = best_threshold(known, unknown)
    assert 0.6 < threshold < 0.7
    assert balanced == pytest.approx(0.5 * (3 / 4 + 3 / 3))
    with pytest.raises(DispatchError):
        best_threshold([], [0.1])


def test_calibrate_sets_a_threshold_that_separates(calibrated: Dispatcher) -> None:
    assert calibrated.threshold != pytest.approx(Dispatcher(calibrated.repository).threshold)
    dispatcher = Dispatcher(calibrated.repository, threshold=0.0)
    value = dispatcher.calibrate(
        [("Sort the following words alphabetically: List: b a c", "word_sorting")],
        ["How many legs does a spider have?"],
        apply=False,
    )
    assert dispatcher.threshold == 0.0  # apply=False leaves it alone
    assert isinstance(value, float)


# ---------------------------------------------------------------- LLM confirmation


def test_parse_choice_is_strict() -> None:
    names = ["sort_words", "sort_numbers"]
    assert parse_choice("sort_words", names) == "sort_words"
    assert parse_choice("  `sort_numbers`.", names) == "sort_numbers"
    assert parse_choice("The best tool is sort_words.", names) == "sort_words"
    assert parse_choice("NONE", names) == "NONE"
    assert parse_choice("none of them fit: NONE", names) == "NONE"
    assert parse_choice("sort_words or sort_numbers", names) is None
    assert parse_choice("I think sort_wordsmith", names) is None
    assert parse_choice("", names) is None


@pytest.fixture
def close_call(bbh_repo: ToolRepository) -> Iterator[tuple[Dispatcher, str]]:
    """A dispatcher whose band is so wide that every route is a close call."""
    yield Dispatcher(bbh_repo, band=100.0), "Sort the following words alphabetically: List: b a"


def test_llm_choice_overrides_a_close_call(close_call: tuple[Dispatcher, str]) -> None:
    dispatcher, question = close_call
    dispatcher.llm = _chat("boolean_expressions")
    route = dispatcher.route(question)
    assert route.tool is not None and route.tool.name == "boolean_expressions"
    assert "LLM chose boolean_expressions" in route.reason
    assert dispatcher.usage.calls == 1


def test_llm_none_means_unknown(close_call: tuple[Dispatcher, str]) -> None:
    dispatcher, question = close_call
    dispatcher.llm = _chat("NONE")
    route = dispatcher.route(question)
    assert route.unknown and "no tool fits" in route.reason


def test_llm_garbage_falls_back_to_the_vector_decision(close_call: tuple[Dispatcher, str]) -> None:
    dispatcher, question = close_call
    vector = Dispatcher(dispatcher.repository).route(question)
    dispatcher.llm = _chat("Well, it depends on many things...")
    route = dispatcher.route(question)
    assert (route.tool.name if route.tool else None) == (vector.tool.name if vector.tool else None)
    assert "unusable" in route.reason


def test_llm_failure_falls_back_and_is_recorded(close_call: tuple[Dispatcher, str]) -> None:
    dispatcher, question = close_call
    dispatcher.llm = FailingChat(messages=iter([]))
    route = dispatcher.route(question)
    assert "LLM call failed (RuntimeError)" in route.reason
    route = asyncio.run(dispatcher.aroute(question))
    assert "LLM call failed" in route.reason


def test_llm_is_not_asked_for_clear_calls(bbh_repo: ToolRepository) -> None:
    dispatcher = Dispatcher(bbh_repo, threshold=-5.0, band=0.0, margin=0.0, llm=_chat())
    route = dispatcher.route("Sort the following words alphabetically: List: b a")
    assert route.tool is not None and dispatcher.usage.calls == 0  # empty script never used


def test_confirmation_prompt_lists_candidates_and_none(close_call: tuple[Dispatcher, str]) -> None:
    dispatcher, question = close_call
    route = dispatcher.route(question)
    messages = dispatcher.confirmation_messages(question, route)
    text = "\n".join(content for _, content in messages)
    assert question in text and "NONE" in text
    for tool, _ in route.candidates:
        assert tool.name in text


# ------------------------------------------------------------------ template fast path
def test_template_is_the_opening_all_use_cases_share() -> None:
    from langchain_latm.dispatcher import template_of

    assert template_of(["Sort the following words alphabetically: List: b a",
                        "Sort the following words alphabetically: List: pear fig"]) == (
        "sort", "the", "following", "words", "alphabetically", "list")
    assert template_of(["There is a ship of 5 apples.", "There is a room of 9 pears."]) == ()
    assert template_of(["Sort the following words alphabetically: List: b a"]) == ()


def test_template_fast_path_follows_the_full_path(bbh_repo: ToolRepository,
                                                  data_dir: Path) -> None:
    """Questions of a recently routed template go to the same tool without a search; others
    (other tasks, lookalike families with another opening or shape) always search."""
    fast = Dispatcher(bbh_repo, threshold=0.3, revalidate_every=8)
    full = Dispatcher(bbh_repo, threshold=0.3, templates=0)
    tasks = NEIGHBOURS + HELD_OUT
    stream = [(n, d.question) for i in range(20, 44) for n in tasks
              for d in [load_bbh_task(n, data_dir).test[i]]]
    fast_routes = 0
    for task, question in stream:
        a, b = fast.route(question), full.route(question)
        assert (a.tool.name if a.tool else None) == (b.tool.name if b.tool else None), question
        if "template fast path" in a.reason:
            fast_routes += 1
            assert a.tool is not None and a.tool.task == task
    # the known families whose use cases share an opening of 6+ words took the fast path for
    # most questions after their first (every 8th one searched again); the rest never did
    from langchain_latm.dispatcher import template_of

    with_template = {n for n in NEIGHBOURS if template_of(
        [c.question for c in _bbh_tool(n, data_dir).use_cases])}
    assert {"word_sorting", "logical_deduction_five_objects"} <= with_template
    templated = sum(1 for task, _ in stream if task in with_template)
    assert templated * 0.8 <= fast_routes <= templated


def test_a_fast_path_tool_the_full_path_no_longer_picks_is_dropped(tmp_path: Path,
                                                                    data_dir: Path) -> None:
    repo = ToolRepository(tmp_path / "s", embeddings=HashingEmbeddings(dimension=2048))
    repo.add_many([_bbh_tool("word_sorting", data_dir), _bbh_tool("boolean_expressions",
                                                                  data_dir)])
    dispatcher = Dispatcher(repo, threshold=0.3, revalidate_every=2)
    questions = [d.question for d in load_bbh_task("word_sorting", data_dir).test[:6]]
    assert "template fast path" not in dispatcher.route(questions[0]).reason
    assert "template fast path" in dispatcher.route(questions[1]).reason
    repo.remove("word_sorting")
    stale = dispatcher.route(questions[2])  # revalidation: the full path finds no such tool
    assert "template fast path" not in stale.reason and stale.tool is None
    later = [dispatcher.route(q) for q in questions[3:]]
    assert all(r.tool is None and "template fast path" not in r.reason for r in later)
