"""Task generators: seeded, BBH-shaped, gold answers checked by independent solvers."""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path

import pytest

from langchain_latm.errors import LATMError
from langchain_latm.tasks import (
    GENERATORS,
    answers_match,
    generate_examples,
    generate_task,
    list_generators,
    load_bbh_task,
    parse_options,
)
from langchain_latm.tasks import generators as gen

ALL = [
    "chinese_remainder_theorem",
    "dyck_languages",
    "logical_deduction",
    "schedule_meeting",
    "tracking_shuffled_objects",
    "word_sorting",
]


def test_registry() -> None:
    assert list_generators() == ALL
    assert set(GENERATORS) == set(ALL)
    with pytest.raises(LATMError, match=r"available: .*word_sorting"):
        generate_task("sudoku", 1)


@pytest.mark.parametrize("name", ALL)
def test_deterministic_under_seed_and_prefix_stable(name: str) -> None:
    a = generate_task(name, 8, seed=3)
    b = generate_task(name, 8, seed=3)
    assert a == b
    longer = generate_examples(name, 12, seed=3)
    assert longer[:8] == a.test
    other = generate_task(name, 8, seed=4)
    assert [d.question for d in other.test] != [d.question for d in a.test]
    # Splits never share instances by construction (different seed namespaces).
    assert not {d.question for d in a.train} & {d.question for d in a.test}
    assert len(a.train) == 5 and len(a.val) == 5 and len(a.test) == 8


@pytest.mark.parametrize("name", ALL)
def test_gold_is_its_own_normal_form(name: str) -> None:
    task = generate_task(name, 30, seed=11)
    for demo in task.test:
        assert answers_match(demo.answer, demo.answer, question=demo.question, task=task.name)


# --- independent brute-force checks of generated golds ---------------------------------


def test_word_sorting_gold() -> None:
    for demo in generate_examples("word_sorting", 50, seed=1):
        words = demo.question.split("List: ", 1)[1].split(" ")
        assert demo.answer.split(" ") == sorted(words)
        assert len(set(words)) == len(words)
    big = generate_examples("word_sorting", 2, seed=1, size=400)
    assert all(len(d.question.split("List: ")[1].split()) == 400 for d in big)


def _close(sequence: str) -> str:
    closing = {"(": ")", "[": "]", "{": "}", "<": ">"}
    stack: list[str] = []
    for c in sequence:
        if c in closing:
            stack.append(c)
        else:
            assert stack and closing[stack.pop()] == c, "generated prefix is not well nested"
    return "".join(closing[c] for c in reversed(stack))


def test_dyck_gold_and_sizes() -> None:
    for demo in generate_examples("dyck_languages", 60, seed=2):
        seq = demo.question.split("Input: ", 1)[1]
        assert " " not in seq  # the paper's space-free form
        assert demo.answer == _close(seq) and 1 <= len(demo.answer) <= 3
    for demo in generate_examples("dyck_languages", 10, seed=2, size=120, n_open=5, max_depth=8):
        seq = demo.question.split("Input: ", 1)[1]
        assert len(seq) in (120, 121) and len(demo.answer) == 5
        depth = peak = 0
        for c in seq:
            depth += 1 if c in "([{<" else -1
            peak = max(peak, depth)
        assert peak <= 8
    spaced = generate_examples("dyck_languages", 1, seed=2, spaced=True)[0]
    assert " " in spaced.question.split("Input: ")[1] and spaced.answer == " ".join(
        _close(spaced.question.split("Input: ")[1].replace(" ", ""))
    )


def test_crt_gold_by_brute_force() -> None:
    for demo in generate_examples("chinese_remainder_theorem", 20, seed=3):
        bound = int(re.search(r"no more than (\d+)", demo.question).group(1))  # type: ignore[union-attr]
        pairs = [
            (int(m), int(r))
            for m, r in re.findall(r"among (\d+) \w+, we have (\d+) left", demo.question)
        ]
        assert len(pairs) == 3
        m_big, r_big = max(pairs)
        hits = [x for x in range(r_big, bound + 1, m_big) if all(x % m == r for m, r in pairs)]
        assert hits and str(hits[0]) == demo.answer
    five = generate_examples("chinese_remainder_theorem", 3, seed=3, size=5)
    assert all(d.question.count("divide them equally") == 5 for d in five)


def _free(line: str) -> set[int]:
    minutes: set[int] = set()
    for h1, m1, h2, m2 in re.findall(r"(\d\d):(\d\d) - (\d\d):(\d\d)", line):
        minutes.update(range(int(h1) * 60 + int(m1), int(h2) * 60 + int(m2)))
    return minutes


@pytest.mark.parametrize("people", [2, 3])
def test_schedule_gold_by_minute_scan(people: int) -> None:
    for demo in generate_examples("schedule_meeting", 40, seed=5, size=people):
        lines = demo.question.splitlines()
        hours = float(re.search(r"a ([\d.]+)-hour", lines[0]).group(1))  # type: ignore[union-attr]
        need = int(hours * 60)
        free = set.intersection(*[_free(line) for line in lines if "availability" in line])
        assert sum("availability" in line for line in lines) == people
        start = next(
            (t for t in range(8 * 60, 18 * 60) if all(t + k in free for k in range(need))), None
        )
        if start is None:
            expected = "No time slot works."
        else:
            end = start + need
            expected = f"{start // 60:02d}:{start % 60:02d} - {end // 60:02d}:{end % 60:02d}"
        assert demo.answer == expected


@pytest.mark.parametrize("size", [3, 5, 7, 9])
def test_tracking_gold_by_simulation(size: int) -> None:
    for demo in generate_examples("tracking_shuffled_objects", 30, seed=6, size=size):
        options = parse_options(demo.question)
        assert len(options) == size
        names = re.match(r"^(.*?) (?:are|is) ", demo.question).group(1)  # type: ignore[union-attr]
        people = [p.strip() for p in re.split(r",\s*(?:and\s+)?|\s+and\s+", names) if p.strip()]
        assert len(people) == size
        holder = dict(zip(people, options.values(), strict=True))  # i-th person holds option i
        swaps = re.findall(r"(?:First|Then|Finally), (\w+) and (\w+) ", demo.question)
        assert len(swaps) == size
        for a, b in swaps:
            holder[a], holder[b] = holder[b], holder[a]
        who = re.search(r"At the end of the \w+, (\w+) ", demo.question).group(1)  # type: ignore[union-attr]
        letter = next(k for k, v in options.items() if v == holder[who])
        assert demo.answer == f"({letter})"


def _brute_orders(n: int, constraints: list[tuple[str, int, int]]) -> list[list[int]]:
    found = []
    for order in itertools.permutations(range(n)):
        pos = {obj: p for p, obj in enumerate(order)}
        ok = all(
            pos[a] == b if kind == "at" else (pos[a] < pos[b]) == (kind == "before")
            for kind, a, b in constraints
        )
        if ok:
            found.append(list(order))
    return found


def test_logical_deduction_search_matches_brute_force() -> None:
    rng = random.Random(0)
    for _ in range(300):
        n = rng.randint(2, 6)
        constraints: list[tuple[str, int, int]] = []
        for _c in range(rng.randint(0, 5)):
            kind = rng.choice(["before", "after", "at"])
            a = rng.randrange(n)
            b = rng.randrange(n) if kind == "at" else rng.choice([x for x in range(n) if x != a])
            constraints.append((kind, a, b))
        brute = _brute_orders(n, constraints)
        fast = gen._count_orders(n, constraints, limit=10_000)
        assert sorted(fast) == sorted(brute)


@pytest.mark.parametrize("size", [3, 5, 7, 9])
def test_logical_deduction_generated_instances_are_unique_and_right(size: int) -> None:
    for demo in generate_examples("logical_deduction", 15, seed=7, size=size):
        assert len(parse_options(demo.question)) == size
        assert f"set of {gen._number_word(size)} objects" in demo.question
        # Solved again with the enumerating search: exactly one order, and its answer.
        assert gen.solve_logical_deduction(demo.question) == demo.answer


# --- the reference solvers reproduce the real BBH targets -------------------------------

SOLVED = {
    "word_sorting": gen.solve_word_sorting,
    "dyck_languages": gen.solve_dyck,
    "chinese_remainder_theorem": gen.solve_chinese_remainder,
    "schedule_meeting": gen.solve_schedule_meeting,
    "tracking_shuffled_objects_three_objects": gen.solve_tracking_shuffled_objects,
    "tracking_shuffled_objects_five_objects": gen.solve_tracking_shuffled_objects,
    "tracking_shuffled_objects_seven_objects": gen.solve_tracking_shuffled_objects,
    "logical_deduction_three_objects": gen.solve_logical_deduction,
    "logical_deduction_five_objects": gen.solve_logical_deduction,
    "logical_deduction_seven_objects": gen.solve_logical_deduction,
}


@pytest.mark.parametrize("task_name", sorted(SOLVED))
def test_reference_solvers_reproduce_every_bbh_target(data_dir: Path, task_name: str) -> None:
    task = load_bbh_task(task_name, data_dir=data_dir)
    demos = task.train + task.val + task.test
    assert len(demos) == 250
    for demo in demos:
        assert SOLVED[task_name](demo.question) == demo.answer


def test_dyck_solver_also_reads_the_spaced_bbh_form(bbh_dir: Path) -> None:
    examples = json.loads((bbh_dir / "dyck_languages.json").read_text())["examples"]
    for example in examples[:50]:
        assert gen.solve_dyck(example["input"]) == example["target"].replace(" ", "")


# --- generated questions follow the BBH templates --------------------------------------

_OPTS = r"\nOptions:\n(?:\([A-Z]\) [^\n]+\n)*\([A-Z]\) [^\n]+"
TEMPLATES = {
    "word_sorting": (
        r"Sort the following words alphabetically: List: \S+(?: \S+)*",
        "word_sorting",
    ),
    "dyck_languages": (
        r"Complete the rest of the sequence, making sure that the parentheses are closed "
        r"properly\. Input: [\[\](){}<>]+",
        "dyck_languages",
    ),
    "chinese_remainder_theorem": (
        r"There is a \w+ of no more than \d+ \w+\. If we divide them equally among \d+ \w+, we "
        r"have \d+ left(?:; if we divide them equally among \d+ \w+, we have \d+ left)+\. How "
        r"many \w+ are in the \w+\?",
        "chinese_remainder_theorem",
    ),
    "schedule_meeting": (
        r"A and B want to schedule a [\d.]+-hour meeting together\.\n"
        r"A's availability: \d\d:\d\d - \d\d:\d\d(?:, \d\d:\d\d - \d\d:\d\d)*\n"
        r"B's availability: \d\d:\d\d - \d\d:\d\d(?:, \d\d:\d\d - \d\d:\d\d)*\n"
        r"What time slot works best\? \(if multiple, choose the earliest one",
        "schedule_meeting",
    ),
    "tracking_shuffled_objects": (
        r"Alice, Bob, Claire, Dave, and Eve (?:are dancers at a square dance|are friends and "
        r"avid readers who occasionally trade books|are playing a game|are holding a white "
        r"elephant gift exchange|are on the same team in a soccer match)\. At the start of [^:]+: "
        r"[^\n]+\.\n[^\n]+?(?: (?:First|Then|Finally), \w+ and \w+ [a-z ]+\.){5} At the end of "
        r"the \w+, \w+ (?:is dancing with|has the|has|is playing)" + _OPTS,
        "tracking_shuffled_objects_five_objects",
    ),
    "logical_deduction": (
        r"The following paragraphs each describe a set of five objects arranged in a fixed "
        r"order\. The statements are logically consistent within each paragraph\. (?:On a branch, "
        r"there are five birds|On a shelf, there are five books|In an antique car show, there "
        r"are five vehicles|In a golf tournament, there were five golfers|A fruit stand sells "
        r"five fruits): [^\n]+" + _OPTS,
        "logical_deduction_five_objects",
    ),
}


@pytest.mark.parametrize("name", ALL)
def test_default_instances_use_the_bbh_template(data_dir: Path, name: str) -> None:
    pattern, bbh_name = TEMPLATES[name]
    regex = re.compile(pattern)
    real = load_bbh_task(bbh_name, data_dir=data_dir)
    for demo in real.train + real.val + real.test:
        assert regex.fullmatch(demo.question), demo.question[:120]  # the template is BBH's
    generated = generate_task(name, 40, seed=9)
    assert generated.name == bbh_name
    for demo in generated.test:
        assert regex.fullmatch(demo.question), demo.question[:300]


def test_logical_deduction_phrases_come_from_bbh(data_dir: Path) -> None:
    """Every statement form a generated 3/5/7-object paragraph uses also occurs in BBH."""

    def forms(question: str) -> set[str]:
        options = parse_options(question)
        body = question.split("Options:")[0].split(": ", 1)[1].split(". ", 1)[1]
        names = re.split(r",\s*(?:and\s+)?|\s+and\s+", question.split(": ", 1)[1].split(".")[0])
        names = sorted({re.sub(r"^(?:a|an) ", "", x.strip()) for x in names}, key=len, reverse=True)
        out = set()
        for sentence in [*body.rstrip(".\n").split(". "), *options.values()]:
            for name in names:
                sentence = sentence.replace(name, "X")
            out.add(sentence.strip().rstrip("."))
        return out

    seen: set[str] = set()
    for size in ("three", "five", "seven"):
        real = load_bbh_task(f"logical_deduction_{size}_objects", data_dir=data_dir)
        for demo in real.train + real.val + real.test:
            seen |= forms(demo.question)
    for size in (3, 5, 7):
        for demo in generate_examples("logical_deduction", 30, seed=8, size=size):
            assert forms(demo.question) <= seen, forms(demo.question) - seen


def test_task_naming_and_sizes() -> None:
    nine = generate_task("tracking_shuffled_objects", 2, size=9)
    assert nine.name == "tracking_shuffled_objects_nine_objects"
    assert "= 9" in nine.description and "generated" in nine.description
    alias = generate_task("logical_deduction_seven_objects", 2)
    assert alias.name == "logical_deduction_seven_objects"
    assert all(len(parse_options(d.question)) == 7 for d in alias.test)
    with pytest.raises(ValueError, match="implies size 7"):
        generate_task("logical_deduction_seven_objects", 1, size=5)
    with pytest.raises(ValueError):
        generate_task("tracking_shuffled_objects", 1, size=1)
    with pytest.raises(ValueError):
        generate_examples("word_sorting", -1)


def test_generator_refuses_to_emit_a_gold_its_solver_disagrees_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gen, "solve_word_sorting", lambda question: "wrong")
    with pytest.raises(LATMError, match="reference solver"):
        generate_examples("word_sorting", 1)
