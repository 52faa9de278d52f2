"""Benchmark harness: scoring, baseline answer extraction, JSONL resumption, cost arithmetic."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from langchain_latm.benchmarks.accuracy import (
    AccuracyReport,
    MethodSummary,
    Outcome,
    ResultRecord,
    ResultStore,
    ToolInfo,
    compare_costs,
    mean_usage,
    question_hash,
    run_method,
    score_answer,
    summarise,
)
from langchain_latm.benchmarks.baselines import (
    CoTBaseline,
    DirectBaseline,
    build_prompt,
    extract_answer,
    load_cot_prompt,
    parse_cot_prompt,
)
from langchain_latm.benchmarks.paper import PAPER_TABLE, PAPER_TASKS, paper_accuracy
from langchain_latm.benchmarks.report import cost_per_question, write_report
from langchain_latm.cost import PriceTable
from langchain_latm.errors import DataNotFoundError, ModelCallError
from langchain_latm.schemas import Demonstration, Usage
from langchain_latm.testing import ScriptedChatModel

PRICES = PriceTable(use_env=False)  # gpt-4: $30/$60 per 1M, gpt-3.5-turbo: $1.5/$2 per 1M


# --------------------------------------------------------------------------- scoring


@pytest.mark.parametrize(
    ("prediction", "gold", "task", "question", "expected"),
    [
        ("(B)", "(B)", "logical_deduction_five_objects", "", True),
        ("(C)", "(B)", "logical_deduction_five_objects", "", False),
        ("B", "(B)", "logical_deduction_five_objects", "Options:\n(A) x\n(B) y", True),
        ("] } ]", "]}]", "dyck_languages", "", True),
        ("] ]", "] } ]", "dyck_languages", "", False),
        ("apple banana", "apple banana", "word_sorting", "", True),
        ("banana apple", "apple banana", "word_sorting", "", False),
        ("14687", "14687", "chinese_remainder_theorem", "", True),
        ("14688", "14687", "chinese_remainder_theorem", "", False),
        (None, "14687", "chinese_remainder_theorem", "", False),
        ("   ", "(A)", "logical_deduction_five_objects", "", False),
    ],
)
def test_score_answer_uses_the_task_normaliser(
    prediction: str | None, gold: str, task: str, question: str, expected: bool
) -> None:
    assert score_answer(prediction, gold, question=question, task=task) is expected


# --------------------------------------------------------------------------- baselines


def test_extract_answer_takes_the_last_so_the_answer_is_sentence() -> None:
    text = (
        "Let's think. So the answer is (A) at first.\nWait, recheck.\n"
        "Eli finished last. So the answer is (B)."
    )
    assert extract_answer(text) == "(B)"
    assert extract_answer('we need "]", "}". So the answer is ] } ].') == "] } ]"
    assert extract_answer("I am not sure.") is None  # CoT reply without a final answer
    assert extract_answer("") is None


def test_extract_answer_for_direct_prompts_reads_the_first_line() -> None:
    assert extract_answer(" 27043\n\nQ: another question", chain_of_thought=False) == "27043"
    assert extract_answer("No time slot works.\nQ: x", chain_of_thought=False) == (
        "No time slot works."
    )
    assert extract_answer("A: 10:30 - 11:30", chain_of_thought=False) == "10:30 - 11:30"


def test_cot_prompts_parse_and_end_the_way_their_examples_do(data_dir: Path) -> None:
    cot = load_cot_prompt("dyck_languages", data_dir)
    assert cot.chain_of_thought
    assert "canary" not in cot.text.lower()
    assert cot.text.count("\nQ: ") + cot.text.startswith("Q: ") == 3
    prompt = build_prompt(cot, "Complete the rest ... Input: [ (")
    assert prompt.endswith("Q: Complete the rest ... Input: [ (\nA: Let's think step by step.")
    short = build_prompt(cot, "Input: [ (", answer_only=True)
    assert "So the answer is" not in short and "A: ] } ]" in short

    direct = load_cot_prompt("chinese_remainder_theorem", data_dir)
    assert not direct.chain_of_thought
    assert build_prompt(direct, "How many?").endswith("Q: How many?\nA:")


def test_unknown_prompt_file_is_a_data_error(data_dir: Path) -> None:
    with pytest.raises(DataNotFoundError, match="no_such_task"):
        load_cot_prompt("no_such_task", data_dir)


def test_parse_cot_prompt_without_canary_keeps_text() -> None:
    prompt = parse_cot_prompt("Q: 1+1?\nA: 2\n", task="toy")
    assert prompt.text == "Q: 1+1?\nA: 2\n" and not prompt.chain_of_thought


def test_cot_baseline_sends_the_prompt_and_extracts_with_usage(data_dir: Path) -> None:
    llm = ScriptedChatModel(["step 1... So the answer is (C).\n"], model_name="gpt-3.5-turbo")
    baseline = CoTBaseline(llm, "logical_deduction_five_objects", data_dir=data_dir)
    result = baseline.answer("On a shelf ... Options:\n(A) a\n(B) b\n(C) c")
    assert result.answer == "(C)"
    assert result.usage.calls == 1 and result.usage.input_tokens > 100
    sent = llm.prompts[0][0].content
    assert isinstance(sent, str) and sent.endswith("A: Let's think step by step.")
    assert "On a shelf" in sent


async def test_direct_baseline_turns_provider_errors_into_model_call_errors(
    data_dir: Path,
) -> None:
    llm = ScriptedChatModel([RuntimeError("HTTP 500")], model_name="gpt-4")
    baseline = DirectBaseline(llm, "word_sorting", data_dir=data_dir)
    with pytest.raises(ModelCallError) as info:
        await baseline.aanswer("Sort: b a")
    assert info.value.role == "maker" and info.value.cause_type == "RuntimeError"


# --------------------------------------------------------------------------- JSONL store


def _record(index: int, *, status: str = "ok", correct: bool = True, model: str = "m",
            question: str | None = None) -> ResultRecord:
    q = question or f"question {index}"
    return ResultRecord(
        method="cot", task="toy", index=index, question_hash=question_hash(q), question=q,
        gold="x", prediction="x" if correct else "y", correct=correct,
        status=status,  # type: ignore[arg-type]
        model=model, usage=Usage(input_tokens=10, output_tokens=2, calls=1, model=model),
        cost_usd=0.001,
    )


def test_store_roundtrip_and_tolerates_a_half_written_line(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r.jsonl")
    store.append(_record(0))
    with store.path.open("a", encoding="utf-8") as fh:
        fh.write('{"method": "cot", "task": "to')  # killed mid-write, no newline
    store.append(_record(1))
    records = store.records()
    assert [r.index for r in records] == [0, 1]
    assert store.bad_lines == 1
    assert all(json.loads(line) for line in store.path.read_text().splitlines()[:1])


def test_done_keys_retry_errors_and_are_model_specific(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r.jsonl")
    store.append(_record(0))
    store.append(_record(1, status="error"))
    store.append(_record(2, model="other"))
    done = {(k[2], k[4]) for k in store.done_keys()}
    assert done == {(0, "m"), (2, "other")}


def _items(n: int) -> list[tuple[int, Demonstration]]:
    return [(i, Demonstration(question=f"question {i}", answer=str(i))) for i in range(n)]


class _CountingSolver:
    def __init__(self, fail_on: set[str] | None = None) -> None:
        self.calls: list[str] = []
        self.fail_on = fail_on or set()
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, question: str) -> Outcome:
        self.calls.append(question)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        if question in self.fail_on:
            return Outcome(error="ModelCallError: boom", failed_call=True)
        index = int(question.split()[-1])
        prediction = str(index) if index % 2 == 0 else "wrong"  # even indices correct
        return Outcome(
            prediction=prediction,
            usage=Usage(input_tokens=1000, output_tokens=100, calls=1, model="gpt-3.5-turbo"),
        )


def _pricer(usage: Usage) -> float | None:
    return PRICES.cost(usage, "gpt-3.5-turbo")


async def test_run_method_scores_appends_and_resumes_without_recalling(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.jsonl")
    items = _items(10)
    solver = _CountingSolver(fail_on={"question 3"})
    first = await run_method("cot", "chinese_remainder_theorem", items, solver, store,
                             model="gpt-3.5-turbo", concurrency=3, pricer=_pricer)
    assert len(solver.calls) == 10
    assert solver.max_in_flight == 3  # bounded by the semaphore
    assert len(store.path.read_text().splitlines()) == 10
    by_index = {r.index: r for r in first}
    assert by_index[3].status == "error" and not by_index[3].correct
    assert [i for i, r in by_index.items() if r.correct] == [0, 2, 4, 6, 8]
    # 1000 in * $1.5/1M + 100 out * $2/1M = $0.0017 per question
    assert by_index[0].cost_usd == pytest.approx(0.0017)

    # Rerun: only the failed question is asked again; everything else is skipped.
    solver2 = _CountingSolver()
    second = await run_method("cot", "chinese_remainder_theorem", items, solver2, store,
                              model="gpt-3.5-turbo", concurrency=3, pricer=_pricer)
    assert solver2.calls == ["question 3"]
    summary = summarise(second, method="cot", task="chinese_remainder_theorem")
    assert (summary.n, summary.correct, summary.errors) == (10, 5, 0)
    assert summary.accuracy == pytest.approx(0.5)
    assert summary.cost_usd == pytest.approx(10 * 0.0017)
    assert summary.usage.input_tokens == 10_000

    # A different model does not reuse the first model's answers.
    solver3 = _CountingSolver()
    await run_method("cot", "chinese_remainder_theorem", items[:2], solver3, store,
                     model="gpt-4", concurrency=2)
    assert len(solver3.calls) == 2


async def test_run_method_notices_a_changed_question(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.jsonl")
    await run_method("cot", "toy", _items(2), _CountingSolver(), store, model="m")
    changed = [(0, Demonstration(question="question 0 (edited)", answer="0"))]

    async def solver(question: str) -> Outcome:
        return Outcome(prediction="0")

    records = await run_method("cot", "toy", changed, solver, store, model="m")
    assert records[0].question == "question 0 (edited)" and records[0].correct


def test_summarise_uses_the_latest_record_per_key() -> None:
    records = [_record(0, correct=False), _record(0, correct=True), _record(1, status="error")]
    summary = summarise(records, method="cot", task="toy")
    assert (summary.n, summary.correct, summary.errors) == (1, 1, 1)


# --------------------------------------------------------------------------- cost arithmetic


def test_mean_usage_rounds_per_question_means() -> None:
    usages = [Usage(input_tokens=100, output_tokens=11, calls=1),
              Usage(input_tokens=201, output_tokens=10, calls=2)]
    mean = mean_usage(usages)
    assert (mean.input_tokens, mean.output_tokens, mean.calls) == (150, 10, 2)
    assert mean_usage([]) == Usage()


def _priced_records(method: str, n: int, usage: Usage) -> list[ResultRecord]:
    return [
        ResultRecord(method=method, task="toy", index=i, question_hash=question_hash(str(i)),
                     question=f"q{i}", gold="a", prediction="a", correct=True, usage=usage,
                     model=usage.model)
        for i in range(n)
    ]


def test_compare_costs_against_hand_computed_values() -> None:
    # maker: 10,000 in + 2,000 out at gpt-4 ($30/$60 per 1M)  = 0.30 + 0.12   = $0.42
    # direct per question: 1,000 in + 200 out at gpt-4        = 0.03 + 0.012  = $0.042
    # user per question: 800 in + 50 out at gpt-3.5-turbo     = 0.0012+0.0001 = $0.0013
    # C_direct(100) = $4.20; C_LATM(100) = 0.42 + 0.13 = $0.55
    # break-even: 0.42 / (0.042 - 0.0013) = 10.3 -> n = 11
    #   (n=10: 0.433 >= 0.420; n=11: 0.4343 < 0.462)
    report = AccuracyReport(
        task="toy", task_key="toy", n_test=100,
        tool=ToolInfo(name="t", tool_id="x", verified=True, source="given",
                      making_usage=Usage(input_tokens=10_000, output_tokens=2_000, calls=4)),
    )
    records = _priced_records("latm", 100, Usage(input_tokens=800, output_tokens=50, calls=1))
    records += _priced_records("direct", 100, Usage(input_tokens=1000, output_tokens=200,
                                                    calls=1))
    cost = compare_costs(report, records, prompt_text=None, prices=PRICES,
                         strong_price_as="gpt-4", user_price_as="gpt-3.5-turbo")
    assert cost is not None
    assert cost.c_make == pytest.approx(0.42)
    assert cost.c_strong == pytest.approx(0.042)
    assert cost.c_weak == pytest.approx(0.0013)
    assert cost.direct_total == pytest.approx(4.2)
    assert cost.latm_total == pytest.approx(0.55)
    assert cost.break_even_n == 11
    assert cost.estimated == []


def test_compare_costs_estimates_direct_usage_when_direct_did_not_run() -> None:
    report = AccuracyReport(
        task="toy", task_key="toy", n_test=5,
        tool=ToolInfo(name="t", tool_id="x", verified=True, source="given",
                      making_usage=Usage(input_tokens=100, output_tokens=100, calls=1)),
    )
    records = _priced_records("latm", 5, Usage(input_tokens=80, output_tokens=5, calls=1))
    cost = compare_costs(report, records, prompt_text="Q: a\nA: " + "x" * 400, prices=PRICES,
                         strong_price_as="gpt-4", user_price_as="gpt-3.5-turbo")
    assert cost is not None and cost.estimated == ["direct"]
    assert cost.c_strong > 0


def test_compare_costs_without_a_price_is_a_note_not_a_crash() -> None:
    report = AccuracyReport(
        task="toy", task_key="toy", n_test=1,
        tool=ToolInfo(name="t", tool_id="x", verified=True, source="given"),
    )
    records = _priced_records("latm", 1, Usage(input_tokens=1, output_tokens=1, calls=1))
    assert compare_costs(report, records, prompt_text=None, prices=PRICES,
                         strong_price_as="my-local-model", user_price_as="gpt-3.5-turbo") is None
    assert any("my-local-model" in note for note in report.notes)


def test_cost_per_question_amortises_making_for_latm() -> None:
    report = AccuracyReport(
        task="toy", task_key="toy", n_test=4,
        tool=ToolInfo(name="t", tool_id="x", verified=True, source="given", making_cost_usd=0.4),
        methods=[MethodSummary(method="latm", task="toy", n=4, correct=4, accuracy=1.0,
                               cost_usd=0.04),
                 MethodSummary(method="cot", task="toy", n=4, correct=2, accuracy=0.5,
                               cost_usd=0.02)],
    )
    assert cost_per_question(report, "latm") == pytest.approx((0.4 + 0.04) / 4)
    assert cost_per_question(report, "cot") == pytest.approx(0.005)
    assert cost_per_question(report, "direct") is None


# --------------------------------------------------------------------------- paper & report


def test_paper_table_is_consistent_with_the_published_deltas() -> None:
    # The paper prints LATM(3.5) as "79.7 (+13.3)" etc.: the gain over CoT(3.5).
    deltas = {"logical_deduction_five_objects": 13.3,
              "tracking_shuffled_objects_five_objects": 38.0, "dyck_languages": 71.8,
              "word_sorting": 39.1, "chinese_remainder_theorem": 100.0,
              "schedule_meeting": 81.1}
    for task in PAPER_TASKS:
        latm = paper_accuracy(task, "latm")
        cot = paper_accuracy(task, "cot")
        assert latm is not None and cot is not None
        assert latm - cot == pytest.approx(deltas[task], abs=0.05)
    assert len(PAPER_TABLE) == 24
    assert paper_accuracy("navigate") is None


def test_write_report_writes_markdown_and_plots(tmp_path: Path) -> None:
    report = AccuracyReport(
        task="word_sorting", task_key="word_sorting", n_test=100,
        tool=ToolInfo(name="t", tool_id="x", verified=True, source="given",
                      making_usage=Usage(input_tokens=10_000, output_tokens=2_000, calls=4),
                      making_cost_usd=0.42),
        methods=[MethodSummary(method="latm", task="word_sorting", n=100, correct=97,
                               accuracy=0.97, cost_usd=0.13),
                 MethodSummary(method="direct", task="word_sorting", n=100, correct=90,
                               accuracy=0.9, cost_usd=4.2)],
        paper={"latm (gpt-4 maker, gpt-3.5-turbo user)": 98.3, "cot (gpt-3.5-turbo)": 59.2,
               "cot (gpt-4)": 90.9},
    )
    records = _priced_records("latm", 100, Usage(input_tokens=800, output_tokens=50, calls=1))
    report.cost = compare_costs(report, records, prompt_text="Q: a\nA: b", prices=PRICES,
                                strong_price_as="gpt-4", user_price_as="gpt-3.5-turbo")
    path = write_report([report], tmp_path, throughput=None)
    text = path.read_text()
    assert "| word_sorting | 100 | 97.0 | – | 90.0 | 98.3 | 59.2 | 90.9 |" in text
    assert "break-even" in text and "(est.)" in text  # direct usage was estimated here
    for png in ("accuracy_vs_cost.png", "cumulative_cost.png"):
        data = (tmp_path / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        assert f"]({png})" in text
