"""Static parsing of maker replies: code blocks, function code, test splitting, wrap output."""

from __future__ import annotations

import ast

from langchain_latm.maker.harness import merge_definitions
from langchain_latm.maker.parsing import (
    extract_code_blocks,
    is_answer_name,
    parse_wrap,
    split_function_code,
    split_tests,
)

TOOL = {"solve"}


def _answers(snippet_code: str) -> list[str]:
    tree = ast.parse(snippet_code)
    return [
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and is_answer_name(t.id)
    ]


def test_code_blocks_with_prose_and_several_blocks() -> None:
    text = (
        "Sure! First the helper:\n```python\ndef helper(x):\n    return x\n```\n"
        "and then\n```py\ndef solve(q):\n    return helper(q)\n```\nHope it helps.\n"
        "```bash\npip install nothing\n```"
    )
    blocks = extract_code_blocks(text)
    assert len(blocks) == 2
    assert "def helper" in blocks[0] and "def solve" in blocks[1]


def test_unterminated_and_untagged_blocks() -> None:
    assert extract_code_blocks("```python\ndef solve(q):\n    return 1\n") == [
        "def solve(q):\n    return 1"
    ]
    assert extract_code_blocks("```\nx = 1\n```") == ["x = 1"]
    assert extract_code_blocks("no code at all") == []
    assert extract_code_blocks("") == []


def test_split_function_code_drops_example_usage_keeps_constants() -> None:
    code = (
        "import re\nPAIRS = {'(': ')'}\n\ndef solve(q):\n    return PAIRS.get(q)\n\n"
        "# Example usage:\nresult = solve('(')\nprint(result)\n"
        "if __name__ == '__main__':\n    print(solve('('))\n"
    )
    defs, usage = split_function_code(code)
    assert "import re" in defs and "PAIRS" in defs and "def solve" in defs
    assert "print(result)" not in defs and "__main__" not in defs
    assert "result = solve('(')" in usage


def test_answer_names() -> None:
    for name in ("ans", "ans1", "ans_2", "answer", "answer3"):
        assert is_answer_name(name)
    for name in ("answers", "ans_list", "ret", "expected_ans"):
        assert not is_answer_name(name)


def test_top_level_tests_split_per_assert_and_asserts_removed() -> None:
    code = (
        "# Test 1\nq = 'a'\nret = solve(q)\nans = ret\nassert ans == 'WRONG-1'\n\n"
        "# Test 2\nq = 'b'\nret = solve(q)\nans = ret\nassert ans == 'WRONG-2'\n"
        "print('All tests passed!')\n"
    )
    parsed = split_tests([code], TOOL)
    assert parsed.error is None
    assert len(parsed.snippets) == 2
    for snippet, expected in zip(parsed.snippets, ("'WRONG-1'", "'WRONG-2'"), strict=True):
        assert "assert" not in snippet.code
        assert snippet.asserted == expected
        assert "solve" in snippet.calls
    assert "q = 'b'" in parsed.snippets[1].code and "q = 'a'" not in parsed.snippets[1].code


def test_tests_inside_a_called_function_are_inlined() -> None:
    code = (
        "def test_solve():\n"
        "    w1 = 'x'\n    ret1 = solve(w1)\n    ans1 = ret1\n    assert ans1 == 'X'\n"
        "    w2 = 'y'\n    ret2 = solve(w2)\n    ans2 = ret2\n    assert ans2 == 'Y'\n\n"
        "test_solve()\n"
    )
    parsed = split_tests([code], TOOL)
    assert [_answers(s.code) for s in parsed.snippets] == [["ans1"], ["ans2"]]
    assert "test_solve" not in "".join(s.code for s in parsed.snippets)


def test_unittest_testcase_and_main_guard() -> None:
    code = (
        "import unittest\n\nclass TestSolve(unittest.TestCase):\n"
        "    def test_one(self):\n        ans = solve('a')\n        self.assertEqual(ans, 'A')\n"
        "    def test_two(self):\n        ans = solve('b')\n        self.assertEqual(ans, 'B')\n\n"
        "if __name__ == '__main__':\n    unittest.main()\n"
    )
    parsed = split_tests([code], TOOL)
    assert len(parsed.snippets) == 2
    assert "import unittest" in parsed.prelude
    assert all("assertEqual" not in s.code for s in parsed.snippets)


def test_bare_assert_on_a_call_becomes_the_answer() -> None:
    parsed = split_tests(["assert solve('a') == 'A'\nassert 'B' == solve('b')\n"], TOOL)
    assert [s.code for s in parsed.snippets] == ["ans = solve('a')", "ans = solve('b')"]


def test_loop_over_literal_cases_is_unrolled() -> None:
    code = (
        "cases = [('a', 'A'), ('b', 'B'), ('c', 'C')]\n"
        "for q, expected in cases:\n    ret = solve(q)\n    ans = ret\n    assert ans == expected\n"
    )
    parsed = split_tests([code], TOOL)
    assert len(parsed.snippets) == 3
    assert "('c', 'C')" in parsed.snippets[2].code


def test_redefinition_of_the_function_inside_tests() -> None:
    code = (
        "def solve(q):\n    return q.upper()\n\n"
        "ans = solve('a')\nassert ans == 'A'\nans = solve('b')\nassert ans == 'B'\n"
    )
    parsed = split_tests([code], TOOL)
    assert "def solve" in parsed.redefinitions
    merged = merge_definitions("import os\n\ndef solve(q):\n    return q\n", parsed.redefinitions)
    assert merged.count("def solve") == 1 and "upper()" in merged and "import os" in merged


def test_tests_without_asserts_split_at_answers() -> None:
    parsed = split_tests(["ans1 = solve('a')\nprint(ans1)\nans2 = solve('b')\nprint(ans2)\n"], TOOL)
    assert [_answers(s.code) for s in parsed.snippets] == [["ans1"], ["ans2"]]


def test_unusable_test_replies_report_an_error() -> None:
    assert split_tests([], TOOL).error == (
        "NoCodeBlock", "the reply contains no ```python code block"
    )
    err = split_tests(["def broken(:\n"], TOOL).error
    assert err is not None and err[0] == "SyntaxError"
    err = split_tests(["print('All tests passed!')\n"], TOOL).error
    assert err is not None and err[0] == "NoTests"


def test_parse_wrap_reads_function_and_use_cases() -> None:
    text = (
        "Here is a function to solve a class of problems:\n```python\nimport math\n\n"
        "def solve(q):\n    return q\n\nprint(solve('x'))\n```\n\nUse cases:\n\n"
        "Question: What is a?\nOptions:\n(A) a\nAnswer: (A)\n\nSolution:\n```python\n"
        "ret = solve('a')\nans = ret\n```\n\nQuestion: What is b?\nSolution:\n```python\n"
        "ans = solve('b')\n```\n"
    )
    parsed = parse_wrap(text)
    assert parsed.error is None
    assert "def solve" in parsed.function_code and "print(" not in parsed.function_code
    assert [u.question for u in parsed.use_cases] == ["What is a?\nOptions:\n(A) a", "What is b?"]
    assert parsed.use_cases[1].snippet == "ans = solve('b')"


def test_parse_wrap_malformed() -> None:
    assert parse_wrap("I cannot do that.").error is not None
    assert parse_wrap("```python\nans = 1\n```").error is not None
    only_function = parse_wrap("```python\ndef solve(q):\n    return q\n```")
    assert only_function.function_code and only_function.error is not None


def test_pin_answer_guards_against_ans_prefixed_expected_values() -> None:
    from langchain_latm.maker.parsing import pin_answer

    pinned, problem = pin_answer("ret = solve('a')\nans = ret\nanswer_key = '(B)'\n")
    assert problem is None and pinned.rstrip().endswith("ans = ans")
    untouched, _ = pin_answer("ret = solve('a')\nans1 = ret\n")
    assert untouched == "ret = solve('a')\nans1 = ret\n"
    _, problem = pin_answer("ret = solve('a')\nans = '(B)'\n")
    assert problem == "ConstantAnswer"
