"""Reading what the maker model wrote: code blocks, function code, tests, wrapped use cases.

Everything here is *static*: text is split with regular expressions and Python code is
inspected with :mod:`ast` (parsed, never executed). Running code is the sandbox's job.

The parsers are deliberately lenient, because real models write in many shapes:

- proposals with prose around one or several ```` ```python ```` blocks and an
  "Example usage" tail (:func:`split_function_code` keeps the definitions only);
- unit tests at top level, inside a ``test_...()`` function that is then called, inside
  ``if __name__ == "__main__":``, in a ``unittest.TestCase``, wrapped in ``try``, as a loop
  over a literal list of cases, or as bare ``assert f(x) == y`` (:func:`split_tests`);
- answer variables named ``ans``, ``ans1``, ``ans_2``, ``answer``...;
- re-definitions of the function inside the test block (taken as the fixed function).

The maker's asserts are not trusted: :func:`split_tests` removes them and returns one
snippet per test, which the harness runs and compares with the gold answers itself.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "ParsedTests",
    "ParsedWrap",
    "TestSnippet",
    "WrappedUseCase",
    "called_names",
    "extract_code_blocks",
    "function_names",
    "is_answer_name",
    "parse_wrap",
    "pin_answer",
    "split_function_code",
    "split_tests",
]

_FENCE_RE = re.compile(
    r"(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[A-Za-z0-9_+.\-]*)[^\n]*\n"
    r"(?P<body>.*?)(?:^[ \t]*(?P=fence)[ \t]*$|\Z)",
    re.DOTALL | re.MULTILINE,
)
_PY_LANGS = {"python", "py", "python3", "py3", "ipython", "pycon"}
_ANSWER_RE = re.compile(r"^ans(?:wer)?_?\d*$")


def is_answer_name(name: str) -> bool:
    """Whether ``name`` is an answer variable in the paper's convention.

    ``ans``, ``ans1``, ``ans_2``, ``answer`` and ``answer3`` are; ``answers`` (a list of
    several) and ``ans_list`` are not.

    Args:
        name: A variable name.
    """
    return bool(_ANSWER_RE.match(name))


def pin_answer(snippet: str) -> tuple[str, str | None]:
    """Make the snippet's answer variable unambiguous for the sandbox; flag literal answers.

    The sandbox reads the *last* assigned variable whose name starts with ``ans``; a test
    that assigns ``ans = f(x)`` and then ``answer_key = "(B)"`` would hand it the maker's
    expected value. This appends ``ans = <answer variable>`` when another ``ans``-prefixed
    name is assigned after the real answer variable (``ans``, ``ans1``, ``answer``...).

    Args:
        snippet: A call snippet that parses.

    Returns:
        ``(snippet, problem)``: the (possibly extended) snippet, and ``"ConstantAnswer"``
        when the answer variable is last assigned a literal instead of a computed value
        (else ``None``). A snippet that does not parse is returned unchanged.
    """
    try:
        tree = ast.parse(snippet)
    except (SyntaxError, ValueError):
        return snippet, None
    assigned: list[tuple[int, int, str, ast.expr | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                value = node.value if isinstance(target, ast.Name) else None
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                        assigned.append((node.lineno, node.col_offset, sub.id, value))
    assigned.sort(key=lambda item: (item[0], item[1]))
    answers = [(name, value) for _, _, name, value in assigned if is_answer_name(name)]
    prefixed = [name for _, _, name, _ in assigned if name.startswith("ans")]
    if not answers:
        return snippet, None
    name, value = answers[-1]
    last_prefixed = prefixed[-1] if prefixed else None
    problem = None
    if value is not None and _is_literalish(value):
        problem = "ConstantAnswer"
    if last_prefixed is not None and last_prefixed != name:
        snippet = f"{snippet.rstrip()}\nans = {name}\n"
    return snippet, problem


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def extract_code_blocks(text: str) -> list[str]:
    """Every Python code block of a model reply, in order.

    Blocks fenced as ```` ```python ```` (or ``py``, ``python3``) are taken. When a reply
    has no such block, untagged fenced blocks that parse as Python are taken instead; an
    unterminated last block (a truncated reply) counts up to the end of the text.

    Args:
        text: The reply.

    Returns:
        The code of each block (without fences), possibly empty.
    """
    tagged: list[str] = []
    untagged: list[str] = []
    for match in _FENCE_RE.finditer(text or ""):
        lang = match.group("lang").lower()
        body = match.group("body").rstrip()
        if not body.strip():
            continue
        if lang in _PY_LANGS:
            tagged.append(body)
        elif not lang and _parses(body):
            untagged.append(body)
    return tagged or untagged


def function_names(code: str) -> list[str]:
    """Names of the top-level functions ``code`` defines, in order (``[]`` if it won't parse).

    Args:
        code: Python source.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def called_names(code: str) -> set[str]:
    """Names called anywhere in ``code`` (``f(...)``; ``x.f(...)`` counts as ``f``).

    Args:
        code: Python source (``set()`` if it won't parse).
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set()
    return _called_in(tree)


def _called_in(node: ast.AST) -> set[str]:
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            if isinstance(sub.func, ast.Name):
                names.add(sub.func.id)
            elif isinstance(sub.func, ast.Attribute):
                names.add(sub.func.attr)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            # ``map(f, xs)``, ``sorted(key=f)``: a function passed by name counts as used.
            names.add(sub.id)
    return names


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


def _assigned_names(node: ast.stmt) -> set[str]:
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    names: set[str] = set()
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
    return names


def _free_names_of_functions(defs: Sequence[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in defs:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                names.add(sub.id)
    return names


def split_function_code(code: str) -> tuple[str, str]:
    """Split proposal code into the tool's definitions and its example usage.

    Kept as definitions: imports, function and class definitions, and module-level
    constants that a definition uses (``CLOSING = {...}``), provided they do not call a
    function defined in the code. Everything else (example calls, prints, the
    ``if __name__ == "__main__":`` block) is usage.

    Args:
        code: Python source that parses.

    Returns:
        ``(definitions, usage)`` as source text (``ast.get_source_segment`` slices, so
        comments and docstrings inside definitions are kept).

    Raises:
        SyntaxError: If ``code`` does not parse.
    """
    tree = ast.parse(code)
    defs = [
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    defined = {n.name for n in defs}
    needed = _free_names_of_functions(defs)
    keep: list[ast.stmt] = []
    usage: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(
            node,
            ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
        ) or (
            isinstance(node, ast.Assign | ast.AnnAssign)
            and _assigned_names(node) & needed
            and not (_called_in(node) & defined)
        ):
            keep.append(node)
        elif (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            and node is tree.body[0]
        ):
            keep.append(node)  # module docstring
        else:
            usage.append(node)
    return _source_of(code, keep), _source_of(code, usage)


def _source_of(code: str, nodes: list[ast.stmt]) -> str:
    parts: list[str] = []
    for node in nodes:
        segment = _segment_with_decorators(code, node)
        parts.append(segment if segment is not None else ast.unparse(node))
    return "\n\n".join(p.rstrip() for p in parts).strip() + ("\n" if parts else "")


def _segment_with_decorators(code: str, node: ast.stmt) -> str | None:
    lines = code.splitlines(keepends=True)
    start = node.lineno
    decorators = getattr(node, "decorator_list", [])
    if decorators:
        start = min(start, *(d.lineno for d in decorators))
    end = getattr(node, "end_lineno", None)
    if end is None:
        return None
    return "".join(lines[start - 1 : end])


# --------------------------------------------------------------------------------------
# Unit tests -> one snippet per test
# --------------------------------------------------------------------------------------


@dataclass
class TestSnippet:
    """One test, as the harness will run it.

    Attributes:
        code: The statements of the test with every assert removed; it assigns an
            answer variable (``ans``...).
        context: Statements of the tests before this one (answers included), used when
            the test relies on names an earlier test set up.
        asserted: Source of the expected value the maker asserted, if any (shown in
            reports; never used for the verdict).
        calls: Names the test calls.
    """

    code: str
    context: str = ""
    asserted: str | None = None
    calls: set[str] = field(default_factory=set)


@dataclass
class ParsedTests:
    """What :func:`split_tests` found in a test reply.

    Attributes:
        snippets: One snippet per test, in order.
        prelude: Imports and helper definitions every snippet needs.
        redefinitions: Definitions (functions/classes, with their imports) of names the
            tool already defines: the maker's fixed version of the function.
        helpers: Other non-test function/class definitions found in the test code.
        error: Why the reply could not be used at all (no code, syntax error), or ``None``.
    """

    snippets: list[TestSnippet] = field(default_factory=list)
    prelude: str = ""
    redefinitions: str = ""
    helpers: str = ""
    error: tuple[str, str] | None = None


class _AssertStripper(ast.NodeTransformer):
    """Replace asserts (and ``self.assert*`` / ``unittest`` calls) nested in code by ``pass``."""

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        return ast.copy_location(ast.Pass(), node)

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        if _is_assert_call(node):
            return ast.copy_location(ast.Pass(), node)
        return self.generic_visit(node)

    # Test functions nested in other definitions are left alone.


def _is_assert_call(node: ast.stmt) -> bool:
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(
        func, ast.Name
    ) else ""
    return name.startswith(("assert", "fail")) and (
        isinstance(func, ast.Attribute) or name.startswith("assert_")
    )


def _is_test_case_class(node: ast.stmt) -> bool:
    if not isinstance(node, ast.ClassDef):
        return False
    for base in node.bases:
        name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
        if isinstance(name, str) and name.endswith("TestCase"):
            return True
    return node.name.startswith("Test")


def _contains_assert(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assert):
            return True
        if isinstance(sub, ast.Expr) and _is_assert_call(sub):
            return True
    return False


def _assigns_answer(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store) and is_answer_name(
            sub.id
        ):
            return True
    return False


def _bare_call_name(node: ast.stmt) -> str | None:
    """``name()`` as a statement (a call of a test function), else ``None``."""
    if (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and not node.value.args
        and not node.value.keywords
    ):
        return node.value.func.id
    return None


def _is_unittest_main(node: ast.stmt) -> bool:
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    if isinstance(func, ast.Attribute) and func.attr in {"main", "run", "TextTestRunner"}:
        base = func.value
        return isinstance(base, ast.Name) and base.id in {"unittest", "pytest"}
    return False


def _literal_len(node: ast.expr) -> int | None:
    if isinstance(node, ast.List | ast.Tuple):
        return len(node.elts)
    if isinstance(node, ast.Dict):
        return len(node.keys)
    return None


@dataclass
class _Flattened:
    stream: list[ast.stmt]
    prelude: list[ast.stmt]
    definitions: list[ast.stmt]


def _flatten(body: list[ast.stmt], tool_names: set[str]) -> _Flattened:
    """Turn a test block into one straight stream of statements.

    Test functions are inlined where they are called (or where they are defined, if
    nothing calls them); ``__main__`` guards and ``try`` blocks are opened; TestCase
    methods are inlined in order; imports go to the prelude; other definitions are kept
    aside (they are helpers or a fixed version of the tool).
    """
    test_funcs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    called: set[str] = set()

    def scan(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                positional = [a.arg for a in node.args.args if a.arg not in {"self", "cls"}]
                no_args = not positional and not node.args.vararg
                if (
                    node.name not in tool_names
                    and no_args
                    and (
                        node.name.startswith("test")
                        or _contains_assert(node)
                        or (_assigns_answer(node) and (_called_in(node) & tool_names))
                    )
                ):
                    test_funcs[node.name] = node
            elif (_is_main_guard(node) and isinstance(node, ast.If)) or isinstance(node, ast.Try):
                scan(node.body)
            name = _bare_call_name(node)
            if name is not None:
                called.add(name)

    scan(body)
    # Test functions reached only through another test function count as called too.
    for func in list(test_funcs.values()):
        for sub in func.body:
            name = _bare_call_name(sub)
            if name is not None:
                called.add(name)

    stream: list[ast.stmt] = []
    prelude: list[ast.stmt] = []
    definitions: list[ast.stmt] = []

    def emit(nodes: list[ast.stmt], depth: int) -> None:
        if depth > 8:  # mutual recursion between "test" functions: stop inlining
            return
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                prelude.append(node)
                continue
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if node.name in test_funcs:
                    if node.name not in called:
                        emit(list(node.body), depth + 1)
                    continue
                definitions.append(node)
                continue
            if isinstance(node, ast.ClassDef):
                if _is_test_case_class(node):
                    for item in node.body:
                        if isinstance(
                            item, ast.FunctionDef | ast.AsyncFunctionDef
                        ) and item.name.startswith("test"):
                            emit(list(item.body), depth + 1)
                else:
                    definitions.append(node)
                continue
            if _is_main_guard(node) and isinstance(node, ast.If):
                emit(list(node.body), depth + 1)
                continue
            if isinstance(node, ast.Try):
                emit(list(node.body) + list(node.orelse) + list(node.finalbody), depth + 1)
                continue
            if _is_unittest_main(node):
                continue
            name = _bare_call_name(node)
            if name is not None and name in test_funcs:
                emit(list(test_funcs[name].body), depth + 1)
                continue
            if isinstance(node, ast.Return):
                continue  # ``return`` at the end of an inlined test body
            stream.append(node)

    emit(body, 0)
    return _Flattened(stream=stream, prelude=prelude, definitions=definitions)


def _assert_target(node: ast.stmt) -> tuple[ast.expr | None, ast.expr | None]:
    """For ``assert A == B`` / ``self.assertEqual(A, B)``: (computed side, expected side)."""
    left: ast.expr | None = None
    right: ast.expr | None = None
    if isinstance(node, ast.Assert):
        test = node.test
        if (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq | ast.Is)
        ):
            left, right = test.left, test.comparators[0]
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        args = node.value.args
        func = node.value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in {"assertEqual", "assertEquals", "assert_equal"} and len(args) >= 2:
            left, right = args[0], args[1]
    if left is None or right is None:
        return None, None
    if _is_literalish(left) and not _is_literalish(right):
        left, right = right, left
    return left, right


def _is_literalish(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _is_assertion(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assert) or _is_assert_call(node)


def _unroll_loops(stream: list[ast.stmt], tool_names: set[str]) -> list[ast.stmt]:
    """Unroll ``for case in <literal list>:`` loops whose body computes an answer."""
    out: list[ast.stmt] = []
    literals: dict[str, ast.expr] = {}
    for node in stream:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and _literal_len(node.value) is not None:
                literals[target.id] = node.value
        if (
            isinstance(node, ast.For)
            and not node.orelse
            and (_assigns_answer(node) or _contains_assert(node))
            and (_called_in(node) & tool_names)
        ):
            source = node.iter
            items_expr: ast.expr | None = None
            is_dict_items = False
            if isinstance(source, ast.Name) and source.id in literals:
                items_expr = literals[source.id]
            elif _literal_len(source) is not None:
                items_expr = source
            elif (
                isinstance(source, ast.Call)
                and isinstance(source.func, ast.Attribute)
                and source.func.attr == "items"
                and isinstance(source.func.value, ast.Name)
                and isinstance(literals.get(source.func.value.id), ast.Dict)
            ):
                items_expr = literals[source.func.value.id]
                is_dict_items = True
            elif (
                isinstance(source, ast.Call)
                and isinstance(source.func, ast.Name)
                and source.func.id == "enumerate"
                and source.args
            ):
                inner = source.args[0]
                resolved = literals.get(inner.id) if isinstance(inner, ast.Name) else inner
                if resolved is not None and isinstance(resolved, ast.List | ast.Tuple):
                    items_expr = ast.Tuple(
                        elts=[
                            ast.Tuple(elts=[ast.Constant(i), e], ctx=ast.Load())
                            for i, e in enumerate(resolved.elts)
                        ],
                        ctx=ast.Load(),
                    )
            if items_expr is not None:
                elements: list[ast.expr]
                if isinstance(items_expr, ast.Dict):
                    if is_dict_items:
                        elements = [
                            ast.Tuple(elts=[k, v], ctx=ast.Load())
                            for k, v in zip(items_expr.keys, items_expr.values, strict=True)
                            if k is not None
                        ]
                    else:
                        elements = [k for k in items_expr.keys if k is not None]
                elif isinstance(items_expr, ast.List | ast.Tuple):
                    elements = list(items_expr.elts)
                else:
                    elements = []
                if elements:
                    for element in elements:
                        out.append(
                            ast.Assign(targets=[node.target], value=element, lineno=0)
                        )
                        out.extend(node.body)
                    continue
        out.append(node)
    return out


def split_tests(code_blocks: list[str], tool_names: set[str]) -> ParsedTests:
    """Split the maker's unit tests into one answer-computing snippet per test.

    A test ends at the assert(s) that follow its answer assignment; without asserts, at
    the answer assignment itself. ``assert f(x) == y`` without an answer variable becomes
    ``ans = f(x)``. Asserts are removed everywhere (their expected values are not trusted;
    the harness compares with the gold answers).

    Args:
        code_blocks: The Python blocks of the test reply, in order.
        tool_names: Names the tool defines (its functions); a test block that defines one
            of them again supplies a fixed version (``redefinitions``).

    Returns:
        The parsed tests; ``error`` is set when nothing usable was found.
    """
    if not code_blocks:
        return ParsedTests(error=("NoCodeBlock", "the reply contains no ```python code block"))
    body: list[ast.stmt] = []
    first_error: SyntaxError | None = None
    try:
        body = ast.parse("\n\n".join(code_blocks)).body
    except SyntaxError:
        for block in code_blocks:
            try:
                body.extend(ast.parse(block).body)
            except SyntaxError as exc:
                first_error = first_error or exc
    if first_error is not None and not body:
        return ParsedTests(
            error=("SyntaxError", f"{first_error.msg} (line {first_error.lineno})")
        )
    flat = _flatten(body, tool_names)
    redefinitions = [
        d for d in flat.definitions if getattr(d, "name", None) in tool_names
    ]
    helpers = [d for d in flat.definitions if d not in redefinitions]
    callable_names = tool_names | {str(getattr(d, "name", "")) for d in helpers}
    stream = _unroll_loops(flat.stream, callable_names)

    segments: list[tuple[list[ast.stmt], str | None]] = []
    current: list[ast.stmt] = []
    has_answer = False
    closing = False
    asserted: str | None = None

    def close() -> None:
        nonlocal current, has_answer, closing, asserted
        segments.append((current, asserted))
        current, has_answer, closing, asserted = [], False, False, None

    for index, node in enumerate(stream):
        if _is_assertion(node):
            computed, expected = _assert_target(node)
            if (
                has_answer
                and computed is not None
                and (_called_in(computed) & callable_names)
                and not _reads_answer(computed)
            ):
                close()  # ``assert f(x) == y`` right after another test: a new test
            if not has_answer and computed is not None:
                # ``assert f(x) == y`` with no answer variable: the computed side is the answer.
                current.append(
                    ast.Assign(targets=[ast.Name("ans", ast.Store())], value=computed, lineno=0)
                )
                has_answer = True
            if has_answer:
                if asserted is None and expected is not None:
                    asserted = ast.unparse(expected)
                closing = True
            continue
        if closing:
            if _is_print(node):
                current.append(node)
                continue
            close()
        stripped = _AssertStripper().visit(node)
        current.append(stripped)
        if _assigns_answer(node):
            has_answer = True
            nxt = stream[index + 1] if index + 1 < len(stream) else None
            if not _segment_has_asserts_ahead(stream, index) and (
                nxt is None or not _assigns_answer(nxt)
            ):
                closing = True
    if has_answer:
        close()

    prelude_nodes = flat.prelude + helpers
    snippets: list[TestSnippet] = []
    done: list[ast.stmt] = []
    for statements, expected_src in segments:
        module = ast.Module(body=statements, type_ignores=[])
        ast.fix_missing_locations(module)
        code = ast.unparse(module)
        context_module = ast.Module(body=list(done), type_ignores=[])
        ast.fix_missing_locations(context_module)
        snippets.append(
            TestSnippet(
                code=code,
                context=ast.unparse(context_module),
                asserted=expected_src,
                calls=_called_in(module),
            )
        )
        done.extend(statements)
    prelude_module = ast.Module(body=prelude_nodes, type_ignores=[])
    redef_module = ast.Module(body=flat.prelude + redefinitions, type_ignores=[])
    ast.fix_missing_locations(prelude_module)
    ast.fix_missing_locations(redef_module)
    helpers_module = ast.Module(body=helpers, type_ignores=[])
    ast.fix_missing_locations(helpers_module)
    parsed = ParsedTests(
        snippets=snippets,
        prelude=ast.unparse(prelude_module),
        redefinitions=ast.unparse(redef_module) if redefinitions else "",
        helpers=ast.unparse(helpers_module),
    )
    if not snippets:
        parsed.error = (
            "NoTests",
            "no test computes an answer: each test must assign the result to a variable "
            "named `ans`",
        )
    return parsed


def _reads_answer(node: ast.AST) -> bool:
    return any(
        isinstance(sub, ast.Name) and is_answer_name(sub.id) for sub in ast.walk(node)
    )


def _is_print(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "print"
    )


def _segment_has_asserts_ahead(stream: list[ast.stmt], index: int) -> bool:
    """True if an assert follows before the next answer-assigning statement."""
    for node in stream[index + 1 :]:
        if _is_assertion(node):
            return True
        if _assigns_answer(node):
            return False
    return False


# --------------------------------------------------------------------------------------
# Wrap output
# --------------------------------------------------------------------------------------


@dataclass
class WrappedUseCase:
    """One use case as the maker wrote it: question text and call snippet."""

    question: str
    snippet: str


@dataclass
class ParsedWrap:
    """What :func:`parse_wrap` found in the wrap reply.

    Attributes:
        function_code: The function (definitions only), or ``""``.
        use_cases: Use cases in order.
        description: Prose before the function block, if any.
        error: Why the reply is unusable, or ``None``.
    """

    function_code: str = ""
    use_cases: list[WrappedUseCase] = field(default_factory=list)
    description: str = ""
    error: str | None = None


_BLOCK_SPAN_RE = re.compile(
    r"(?P<fence>`{3,})[ \t]*(?P<lang>[A-Za-z0-9_+.\-]*)[^\n]*\n"
    r"(?P<body>.*?)(?:^[ \t]*(?P=fence)[ \t]*$|\Z)",
    re.DOTALL | re.MULTILINE,
)
_QUESTION_RE = re.compile(r"^\s*(?:\*\*)?Question(?:\s*\d+)?(?:\*\*)?\s*[:：](?:\*\*)?\s*", re.M)
_SOLUTION_RE = re.compile(r"^\s*(?:\*\*)?(?:Solution|Answer)\b.*$", re.M)


def parse_wrap(text: str) -> ParsedWrap:
    """Parse the wrap reply: the function block, then ``Question:``/``Solution:`` pairs.

    Lenient: use cases are located by ``Question:`` markers (the question runs until a
    ``Solution:``/``Answer:`` line or the next code block); without markers, every block
    after the function block is taken as a use-case snippet with an empty question. When
    the first block holds the function *and* an answer-assigning call, it is split.

    Args:
        text: The wrap reply.

    Returns:
        The parsed wrap; ``error`` says what is missing.
    """
    blocks: list[tuple[int, int, str]] = []
    for match in _BLOCK_SPAN_RE.finditer(text or ""):
        lang = match.group("lang").lower()
        body = match.group("body").rstrip()
        if lang and lang not in _PY_LANGS:
            continue
        if not body.strip():
            continue
        blocks.append((match.start(), match.end(), body))
    if not blocks:
        return ParsedWrap(error="the reply contains no ```python code block")
    func_index = next(
        (i for i, (_, _, body) in enumerate(blocks) if function_names(body)), None
    )
    if func_index is None:
        return ParsedWrap(error="no code block defines the function")
    start, end, func_body = blocks[func_index]
    try:
        definitions, usage = split_function_code(func_body)
    except SyntaxError as exc:
        return ParsedWrap(error=f"the function block does not parse: {exc.msg} (line {exc.lineno})")
    description = text[:start]
    use_cases: list[WrappedUseCase] = []
    rest = blocks[func_index + 1 :]
    if not rest and usage.strip() and _assigns_answer(ast.parse(usage)):
        use_cases.append(WrappedUseCase(question="", snippet=usage))
    cursor = end
    for b_start, b_end, body in rest:
        between = text[cursor:b_start]
        question = ""
        markers = list(_QUESTION_RE.finditer(between))
        if markers:
            q_text = between[markers[-1].end() :]
            solution = _SOLUTION_RE.search(q_text)
            if solution is not None:
                q_text = q_text[: solution.start()]
            question = q_text.strip()
        if function_names(body) and not _assigns_answer_src(body):
            cursor = b_end
            continue  # another helper block, not a use case
        use_cases.append(WrappedUseCase(question=question, snippet=body))
        cursor = b_end
    parsed = ParsedWrap(
        function_code=definitions, use_cases=use_cases, description=description.strip()
    )
    if not use_cases:
        parsed.error = "no use case (Question / Solution with a ```python snippet) was found"
    return parsed


def _assigns_answer_src(code: str) -> bool:
    try:
        return _assigns_answer(ast.parse(code))
    except SyntaxError:
        return False
