"""Cost accounting: price table, per-role tracking, and the paper's cost model by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from langchain_latm.cost import (
    CostTracker,
    PriceTable,
    break_even_n,
    cost_report,
    direct_cost,
    estimate_direct_usage,
    estimate_tokens,
    latm_cost,
)
from langchain_latm.errors import PriceNotFoundError
from langchain_latm.schemas import Usage
from langchain_latm.testing import ScriptedChatModel


@pytest.fixture(autouse=True)
def _no_env_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LATM_PRICES", raising=False)


def test_paper_prices_are_the_defaults() -> None:
    prices = PriceTable()
    gpt4 = prices.get("gpt-4")
    # The paper: $0.03 / $0.06 per 1K tokens for GPT-4, $0.0015 / $0.002 for GPT-3.5 Turbo.
    assert gpt4.cost(Usage(input_tokens=1000)) == pytest.approx(0.03)
    assert gpt4.cost(Usage(output_tokens=1000)) == pytest.approx(0.06)
    turbo = prices.get("gpt-3.5-turbo")
    assert turbo.cost(Usage(input_tokens=1000, output_tokens=1000)) == pytest.approx(0.0035)
    assert gpt4.as_of and turbo.as_of


def test_model_names_resolve_by_provider_prefix_and_version_suffix() -> None:
    prices = PriceTable()
    assert prices.get("openai:gpt-4o-mini-2024-07-18") == prices.get("gpt-4o-mini")
    assert prices.get("gpt-4-0613") == prices.get("gpt-4")
    assert prices.get("gpt-4o") != prices.get("gpt-4")
    with pytest.raises(PriceNotFoundError, match="LATM_PRICES"):
        prices.get("my-local-llama")


def test_overrides_from_dict_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = PriceTable({"my-llama": {"input": 0.5, "output": 1.0}, "gpt-4": [1.0, 2.0]})
    assert table.cost(Usage(input_tokens=2_000_000, output_tokens=1_000_000), "my-llama") == 2.0
    assert table.get("gpt-4").input_per_1m == 1.0

    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"tiny": {"input_per_1k": 0.001, "output_per_1k": 0.002}}))
    from_file = PriceTable.from_file(path)
    assert from_file.get("tiny").output_per_1m == pytest.approx(2.0)

    monkeypatch.setenv("LATM_PRICES", str(path))
    assert PriceTable().get("tiny").input_per_1m == pytest.approx(1.0)
    monkeypatch.setenv("LATM_PRICES", '{"inline-model": [3, 4]}')
    assert PriceTable().get("inline-model").output_per_1m == 4
    monkeypatch.setenv("LATM_PRICES", "{not json")
    with pytest.raises(PriceNotFoundError, match="not valid JSON"):
        PriceTable()
    with pytest.raises(PriceNotFoundError, match="bad price"):
        PriceTable({"x": "cheap"}, use_env=False)


def test_cost_model_against_hand_computed_values() -> None:
    # Direct: 100 questions at 2 cents.
    assert direct_cost(100, 0.02) == pytest.approx(2.0)
    # LATM: 2 tools at 30 cents each, then 100 questions at 0.1 cent: 0.6 + 0.1 = 0.7.
    assert latm_cost(100, k=2, c_make=0.30, c_weak=0.001) == pytest.approx(0.7)
    # Break-even: 0.6 + 0.001 n < 0.02 n  <=>  n > 0.6 / 0.019 = 31.58  ->  32.
    assert break_even_n(k=2, c_make=0.30, c_strong=0.02, c_weak=0.001) == 32
    assert latm_cost(32, k=2, c_make=0.3, c_weak=0.001) < direct_cost(32, 0.02)
    assert latm_cost(31, k=2, c_make=0.3, c_weak=0.001) > direct_cost(31, 0.02)


def test_break_even_boundaries() -> None:
    # exact equality at n = 10 is not "cheaper": the answer is 11.
    assert break_even_n(k=1, c_make=1.0, c_strong=0.2, c_weak=0.1) == 11
    # free tools: LATM is cheaper from the first question.
    assert break_even_n(k=1, c_make=0.0, c_strong=0.2, c_weak=0.1) == 1
    # a weak model that costs as much as the strong one never pays off
    assert break_even_n(k=1, c_make=1.0, c_strong=0.1, c_weak=0.1) is None
    assert break_even_n(k=1, c_make=1.0, c_strong=0.1, c_weak=0.2) is None


def test_cost_report_uses_measured_usage_and_prices() -> None:
    making = [Usage(input_tokens=3000, output_tokens=1000, calls=4),
              Usage(input_tokens=5000, output_tokens=1000, calls=4)]
    direct = Usage(input_tokens=1000, output_tokens=250, calls=1)
    weak = Usage(input_tokens=800, output_tokens=100, calls=1)
    report = cost_report(making_usage=making, direct_usage_per_question=direct,
                         weak_usage_per_question=weak, n=1000,
                         prices=PriceTable(use_env=False), estimated=["direct"])
    # making at gpt-4: (8000 * 30 + 2000 * 60) / 1e6 = 0.36 total, 0.18 per tool
    assert report.k == 2 and report.c_make == pytest.approx(0.18)
    # direct per question: (1000*30 + 250*60)/1e6 = 0.045
    assert report.c_strong == pytest.approx(0.045)
    # weak per question at gpt-3.5-turbo: (800*1.5 + 100*2)/1e6 = 0.0014
    assert report.c_weak == pytest.approx(0.0014)
    assert report.direct_total == pytest.approx(45.0)
    assert report.latm_total == pytest.approx(0.36 + 1.4)
    # 0.36 / (0.045 - 0.0014) = 8.26 -> 9
    assert report.break_even_n == 9
    assert report.savings == pytest.approx(45.0 - 1.76)
    assert report.estimated == ["direct"]
    assert report.prices_as_of["gpt-4"] == "2023-06"


def test_tracker_collects_usage_per_role_from_callbacks() -> None:
    tracker = CostTracker()
    maker = ScriptedChatModel(["x" * 400], model_name="gpt-4")
    user = ScriptedChatModel(["y" * 40], model_name="gpt-3.5-turbo", cycle=True)
    maker.invoke([HumanMessage("p" * 4000)], config={"callbacks": [tracker.handler("maker")]})
    for _ in range(3):
        user.invoke([HumanMessage("q" * 400)], config={"callbacks": [tracker.handler("user")]})
    by_role = tracker.usage_by_role()
    assert by_role["maker"] == Usage(input_tokens=1000, output_tokens=100, calls=1, model="gpt-4")
    assert by_role["user"].calls == 3 and by_role["user"].input_tokens == 300
    costs = tracker.cost(PriceTable(use_env=False))
    assert costs["maker"] == pytest.approx((1000 * 30 + 100 * 60) / 1e6)
    assert costs["user"] == pytest.approx((300 * 1.5 + 30 * 2) / 1e6)
    tracker.record("dispatcher", Usage(input_tokens=10, calls=1, model="gpt-4o-mini"))
    assert set(tracker.usage_by_role()) == {"maker", "user", "dispatcher"}


def test_estimates_are_deterministic() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2
    cot = "canary\n-----\nTask.\n\nQ: q1\nA: " + "a" * 400 + "\n\nQ: q2\nA: " + "b" * 800 + "\n"
    usage = estimate_direct_usage(["x" * 40], cot_prompt=cot)
    assert usage.output_tokens == 150  # mean of 100 and 200 tokens of worked answers
    assert usage.input_tokens > estimate_tokens("x" * 40) + 300
    assert estimate_direct_usage(["q"], answer_tokens=77).output_tokens == 77
