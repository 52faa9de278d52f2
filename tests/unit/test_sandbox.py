"""SandboxExecutor: benign programs, answer semantics, verdicts, limits and lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from langchain_latm.errors import SandboxError, SandboxUnavailableError
from langchain_latm.sandbox import REQUIRED_LAYERS, IsolationReport, SandboxExecutor
from langchain_latm.schemas import ExecutionResult


@pytest.fixture(scope="module")
def ex() -> Iterator[SandboxExecutor]:
    with SandboxExecutor(timeout=5.0) as executor:
        yield executor


def call_children(ex: SandboxExecutor) -> list[int]:
    """Live children of the worker that are not idle pre-forked spares (should be none)."""
    pid = ex.worker_pid
    if pid is None:
        return []
    children = worker_children(pid)  # list first: a spare forked after this is harmless
    status = ex.worker_status()
    assert status["running"] == []
    return sorted(set(children) - set(status["spares"]) - set(status["zygote"]))


def stat_fields(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name: state, ppid, ...

    Raises:
        OSError: If the process is gone.
    """
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def worker_children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the sandbox worker's live children)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(stat_fields(entry.name)[1])
        except OSError:
            continue
        if ppid == pid:
            kids.append(int(entry.name))
    return kids


# --------------------------------------------------------------------------- benign programs
BENIGN = [
    ("itertools",
     "import itertools\ndef f(xs): return [list(p) for p in itertools.permutations(xs)]",
     "ans = f([1, 2, 3])", [[1, 2, 3], [1, 3, 2], [2, 1, 3], [2, 3, 1], [3, 1, 2], [3, 2, 1]]),
    ("datetime", "import datetime\ndef f(s):\n    d = datetime.datetime.strptime(s, '%m/%d/%Y')\n"
     "    return (d + datetime.timedelta(days=1)).strftime('%m/%d/%Y')",
     "ans = f('12/31/1999')", "01/01/2000"),
    ("re", "import re\ndef f(s): return re.findall(r'\\d+', s)", "ans = f('a1b22c333')",
     ["1", "22", "333"]),
    ("json", "import json\ndef f(s): return json.loads(s)['k'][1]", "ans = f('{\"k\": [1, 2]}')",
     2),
    ("collections", "from collections import Counter, defaultdict, deque\n"
     "def f(w):\n    c = Counter(w)\n    d = deque(sorted(c))\n    d.rotate(1)\n"
     "    return [c.most_common(1)[0][0], list(d)]",
     "ans = f('banana')", ["a", ["n", "a", "b"]]),
    ("math", "import math\ndef f(n): return [math.factorial(n), math.gcd(84, 36), math.isqrt(99)]",
     "ans = f(10)", [3628800, 12, 9]),
    ("fractions",
     "from fractions import Fraction\ndef f(): return str(Fraction(1, 3) + Fraction(1, 6))",
     "ans = f()", "1/2"),
    ("functools",
     "import functools\n@functools.lru_cache(None)\ndef fib(n): return n if n < 2 else "
     "fib(n - 1) + fib(n - 2)", "ans = functools.reduce(lambda a, b: a + b, [fib(i) for i in "
     "range(20)])", 10945),
    ("heapq", "import heapq\ndef f(xs): return heapq.nsmallest(3, xs)", "ans = f([5, 1, 4, 2, 3])",
     [1, 2, 3]),
    ("string", "import string\ndef f(): return string.ascii_lowercase[:5] + string.digits[-1]",
     "ans = f()", "abcde9"),
    ("printing", "def f(x):\n    print('computing', x)\n    return x * 2", "ans = f(21)", 42),
    ("recursion", "def depth(n): return 0 if n == 0 else 1 + depth(n - 1)", "ans = depth(500)",
     500),
    ("classes", "class Stack:\n    def __init__(self): self.items = []\n"
     "    def push(self, x): self.items.append(x); return self\n"
     "    def pop(self): return self.items.pop()",
     "s = Stack().push(1).push(2)\nans = [s.pop(), len(s.items)]", [2, 1]),
    ("generators", "def gen(n):\n    for i in range(n):\n        yield i * i",
     "ans = sum(gen(10))", 285),
    ("dataclasses",
     "from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int\n    y: int",
     "ans = P(1, 2).x + P(3, 4).y", 5),
    ("decimal_statistics", "import decimal, statistics\n",
     "ans = [str(decimal.Decimal('0.1') * 3), "
     "statistics.median([3, 1, 2])]", ["0.3", 2]),
    ("word_sorting", "def sort_words(s): return ' '.join(sorted(s.split()))",
     "ans = sort_words('syndrome therefrom')", "syndrome therefrom"),
    ("unicode", "def f(s): return s[::-1].upper()", "ans = f('héllo wörld')", "DLRÖW OLLÉH"),
    ("tmp_files", "def f():\n    with open('scratch.txt', 'w') as fh: fh.write('abc')\n"
     "    return open('scratch.txt').read()", "ans = f()", "abc"),
    ("threads", "import threading\nout = []\nts = [threading.Thread(target=out.append, args=(i,)) "
     "for i in range(4)]\nfor t in ts: t.start()\nfor t in ts: t.join()", "ans = sorted(out)",
     [0, 1, 2, 3]),
    # an event loop wakes itself through an AF_UNIX stream socketpair (the one kind allowed)
    ("asyncio", "import asyncio\nasync def double(x):\n    await asyncio.sleep(0)\n"
     "    return 2 * x", "ans = asyncio.run(double(21))", 42),
]


@pytest.mark.parametrize(("code", "snippet", "expected"), [b[1:] for b in BENIGN],
                         ids=[b[0] for b in BENIGN])
def test_benign_programs_return_the_right_answer(ex: SandboxExecutor, code: str, snippet: str,
                                                  expected: object) -> None:
    res = ex.run(code, snippet)
    assert res.ok, res.error
    assert res.answer == expected
    assert res.error_type is None
    assert res.duration_s > 0


def test_printing_is_captured(ex: SandboxExecutor) -> None:
    res = ex.run("print('hello'); print(1, 2, sep='-')", "ans = 1")
    assert res.stdout == "hello\n1-2\n"


# --------------------------------------------------------------------------- answer semantics
@pytest.mark.parametrize(("code", "snippet", "expected"), [
    ("", "ans = 1\nans1 = 2", 2),
    ("", "ans1 = 2\nans = 1", 1),
    ("", "answer = 'x'\nans = 'y'\nanswer = 'z'", "z"),
    ("ans = 'from code'", "x = 5", "from code"),
    ("ans = 'from code'", "ans2 = 'from snippet'", "from snippet"),
    ("", "ret = 3\nans = ret * 2\nassert ans == 6", 6),
    ("", "if True:\n    ans = 'taken'\nelse:\n    ans2 = 'not taken'", "taken"),
    ("", "for i in range(3):\n    ans = i", 2),
    ("", "ans, other = 1, 2", 1),
    ("", "(ans := 9)", 9),
    ("", "ans = 1\nans += 4", 5),
    ("", "ans = (1, 2)", [1, 2]),
    ("", "ans = {'a': [1, None, True, 1.5]}", {"a": [1, None, True, 1.5]}),
    ("", "ans = None", None),
    ("def f():\n    ans = 'local'\n    return ans", "ans = f()", "local"),
    ("def f():\n    ans_inner = 1", "f()\nans = 'outer'", "outer"),
])
def test_answer_is_last_ans_assigned(ex: SandboxExecutor, code: str, snippet: str,
                                     expected: object) -> None:
    res = ex.run(code, snippet)
    assert res.ok, res.error
    assert res.answer == expected


def test_missing_answer(ex: SandboxExecutor) -> None:
    res = ex.run("def f(): return 1", "x = f()")
    assert not res.ok
    assert res.error_type == "MissingAnswer"
    assert "ans" in (res.error_message or "")


def test_missing_answer_when_only_a_function_local(ex: SandboxExecutor) -> None:
    res = ex.run("def f():\n    ans = 1\n    return ans", "f()")
    assert res.error_type == "MissingAnswer"


@pytest.mark.parametrize("value", ["{1, 2}", "object()", "float('nan')", "float('inf')",
                                   "b'bytes'", "lambda: 1", "[1, {2}]"])
def test_non_json_answer(ex: SandboxExecutor, value: str) -> None:
    res = ex.run("", f"ans = {value}")
    assert not res.ok
    assert res.error_type == "NonJSONAnswer"
    assert "JSON" in (res.error_message or "")


def test_require_answer_false_runs_whole_block(ex: SandboxExecutor) -> None:
    res = ex.run("def f(x): return x + 1\nprint(f(1))", require_answer=False)
    assert res.ok and res.answer is None and res.stdout == "2\n"
    bad = ex.run("def f(x): return x + 1\nprint(f('a'))", require_answer=False)
    assert not bad.ok and bad.error_type == "TypeError"


def test_exception_reports_class_message_and_traceback(ex: SandboxExecutor) -> None:
    res = ex.run("def f(x):\n    return {}[x]", "ans = f('missing')")
    assert not res.ok
    assert res.error_type == "KeyError"
    assert "missing" in (res.error_message or "")
    assert "<tool>" in (res.error_message or "") and "<snippet>" in (res.error_message or "")
    assert res.error == f"KeyError: {res.error_message}"


@pytest.mark.parametrize(("code", "snippet"), [("def f(:\n  pass", "ans = 1"),
                                               ("", "ans = = 1"), ("if x:\nans = 1", "")])
def test_syntax_errors(ex: SandboxExecutor, code: str, snippet: str) -> None:
    res = ex.run(code, snippet)
    assert not res.ok
    assert res.error_type == "SyntaxError"
    assert "line" in (res.error_message or "")


def test_stdout_printed_before_an_error_is_kept(ex: SandboxExecutor) -> None:
    res = ex.run("print('before')\nraise ValueError('x')")
    assert res.error_type == "ValueError" and res.stdout == "before\n"


def test_timeout_is_enforced_and_reported(ex: SandboxExecutor) -> None:
    t0 = time.monotonic()
    res = ex.run("while True:\n    pass", timeout=0.5)
    elapsed = time.monotonic() - t0
    assert not res.ok and res.error_type == "Timeout"
    assert elapsed < 4.0
    assert call_children(ex) == []


def test_memory_limit(ex: SandboxExecutor) -> None:
    res = ex.run("x = bytearray(4 * 1024 ** 3)", "ans = len(x)")
    assert not res.ok and res.error_type == "MemoryError"


def test_output_is_truncated_with_marker_not_failed() -> None:
    with SandboxExecutor(max_output_bytes=1000) as small:
        res = small.run("print('x' * 5000)", "ans = 'done'")
    assert res.ok and res.answer == "done"
    assert res.stdout.startswith("x" * 1000)
    assert "output truncated" in res.stdout
    assert len(res.stdout) < 1100


def test_huge_answer_is_output_limit() -> None:
    with SandboxExecutor(max_answer_bytes=1000) as small:
        res = small.run("", "ans = 'y' * 5000")
    assert not res.ok and res.error_type == "OutputLimit"


def test_limits_hold_when_the_program_lifts_them_in_its_own_process() -> None:
    """The child enforces the limits, but the program runs in that very process: the host
    enforces them again on what it receives."""
    with SandboxExecutor(max_output_bytes=1000, max_answer_bytes=1000) as small:
        lifted_output = small.run("import sys\nsys.stdout.limit = 10 ** 9\nprint('x' * 50_000)",
                                  "ans = 'done'")
        assert lifted_output.ok and lifted_output.answer == "done"
        assert len(lifted_output.stdout) < 1200 and "output truncated" in lifted_output.stdout
        lifted_answer = small.run("import sys\n"
                                  "sys.modules['_worker'].CONFIG.max_answer_bytes = 10 ** 9",
                                  "ans = 'y' * 5000")
        assert not lifted_answer.ok and lifted_answer.error_type == "OutputLimit"
        infinite = small.run("import sys\nW = sys.modules['_worker']\nplain = W._dumps\n"
                             "W._dumps = lambda v, **k: ('1e999' if k.get('allow_nan') is False "
                             "else plain(v, **k))", "ans = 1")
        assert not infinite.ok and infinite.error_type == "NonJSONAnswer"


def test_a_tree_too_deep_to_remove_recursively_does_not_stop_the_worker(
    ex: SandboxExecutor,
) -> None:
    worker = ex.worker_pid
    res = ex.run("import os\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')",
                 "ans = len(os.getcwd())", timeout=10)
    assert res.ok and res.answer > 3000
    after = ex.run("import os", "ans = os.listdir('.')")
    assert after.ok and after.answer == []
    assert ex.worker_pid == worker


def test_input_validation(ex: SandboxExecutor) -> None:
    with pytest.raises(TypeError):
        ex.run(b"ans = 1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ex.run("ans = 1", timeout=0)
    for huge in (3e6, 1e10, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            ex.run("ans = 1", timeout=huge)
    with pytest.raises(ValueError):
        SandboxExecutor(timeout=1e10)
    with pytest.raises(ValueError):
        SandboxExecutor(memory_mb=0)


# --------------------------------------------------------------------------- isolation report
def test_isolation_report_lists_every_required_layer(ex: SandboxExecutor) -> None:
    report = ex.isolation_report()
    assert isinstance(report, IsolationReport)
    names = {layer.name for layer in report.layers if layer.required}
    assert names == set(REQUIRED_LAYERS)
    assert report.fully_isolated, report.missing
    assert report.worker_pid == ex.worker_pid


def test_fails_closed_when_a_layer_is_missing() -> None:
    weak = SandboxExecutor(network_namespace=False)
    with pytest.raises(SandboxUnavailableError) as info:
        weak.run("ans = 1")
    assert info.value.missing == ["network_namespace"]
    assert "network_namespace" in str(info.value)
    weak.close()


def test_allow_weaker_isolation_runs_and_reports() -> None:
    with SandboxExecutor(network_namespace=False, allow_weaker_isolation=True) as weak:
        report = weak.isolation_report()
        assert report.missing == ["network_namespace"]
        res = weak.run("import socket\nsocket.socket()")
        assert res.error_type == "PermissionError"  # seccomp still blocks sockets
        assert weak.run("", "ans = 2").answer == 2


# --------------------------------------------------------------------------- lifecycle
def test_concurrent_threads_share_one_executor(ex: SandboxExecutor) -> None:
    results: dict[int, ExecutionResult] = {}
    lock = threading.Lock()

    def call(i: int) -> None:
        res = ex.run("import time\ndef f(x):\n    time.sleep(0.05)\n    return x * x",
                     f"ans = f({i})")
        with lock:
            results[i] = res

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: r.answer for i, r in results.items()} == {i: i * i for i in range(16)}
    assert all(r.ok for r in results.values())


async def test_arun_concurrently(ex: SandboxExecutor) -> None:
    t0 = time.monotonic()
    results = await asyncio.gather(*(
        ex.arun("import time\ntime.sleep(0.5)", f"ans = {i}") for i in range(8)))
    assert [r.answer for r in results] == list(range(8))
    assert time.monotonic() - t0 < 3.0  # ran concurrently, not 8 x 0.5 s in a row


async def test_sequential_async_calls_do_not_wait_for_the_pump(ex: SandboxExecutor) -> None:
    """The pump thread lingers between async calls; a new call must wake it at once."""
    await ex.arun("", "ans = 0")
    t0 = time.monotonic()
    for i in range(10):
        await asyncio.sleep(0.01)  # the pump is lingering, waiting for the next call
        assert (await ex.arun("", f"ans = {i}")).answer == i
    assert time.monotonic() - t0 < 2.0


async def test_sync_and_async_callers_mixed_on_one_executor(ex: SandboxExecutor) -> None:
    """Threads read replies themselves (one at a time, for everybody) while async callers
    are served by the pump thread: every caller gets its own answer, none waits for another's
    slow call, and the pump thread ends once nothing is pending."""
    sync_results: dict[int, object] = {}

    def sync_call(i: int) -> None:
        sync_results[i] = ex.run(f"import time\ntime.sleep(0.05 * {i % 3})",
                                 f"ans = -{i}").answer

    threads = [threading.Thread(target=sync_call, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    slow = asyncio.ensure_future(ex.arun("import time\ntime.sleep(4.0)", "ans = 'slow'",
                                         timeout=15.0))
    fast = await asyncio.gather(*(ex.arun("", f"ans = {i}") for i in range(10)))
    # generous for a loaded CI machine; waiting for the slow call would take 4 s
    assert time.monotonic() - t0 < 3.0, "a fast call waited for the slow one"
    assert [r.answer for r in fast] == list(range(10))
    for t in threads:
        t.join(30)
    assert sync_results == {i: -i for i in range(6)}
    assert (await slow).answer == "slow"
    deadline = time.monotonic() + 10
    while any(t.name == "latm-sandbox-pump" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the pump thread did not end"
        await asyncio.sleep(0.1)
    assert ex.run("", "ans = 'after'").answer == "after"  # sync reading takes over again


def test_calls_run_at_normal_priority(ex: SandboxExecutor) -> None:
    """Spares isolate themselves at idle priority, but the call itself never runs at it."""
    for _ in range(3):
        res = ex.run("import os", "ans = [os.sched_getscheduler(0), os.getpriority("
                     "os.PRIO_PROCESS, 0)]")
        assert res.ok, res.error
        assert res.answer == [os.SCHED_OTHER, 0]


def test_spare_pool_is_refilled_after_a_burst(ex: SandboxExecutor) -> None:
    ex.run_many([("", f"ans = {i}") for i in range(6)])
    deadline = time.monotonic() + 10
    while len(ex.worker_status()["spares"]) < 2:
        assert time.monotonic() < deadline, ex.worker_status()
        time.sleep(0.05)


def _wait_for_lent_spare(ex: SandboxExecutor) -> list[int]:
    """Pids of spares the worker has lent to this host (it lends them once isolated)."""
    worker = ex._worker
    assert worker is not None
    deadline = time.monotonic() + 10
    while True:
        spare = worker._take_lent()
        if spare is not None:
            with worker._lent_lock:
                worker._lent.appendleft(spare)
                return [pid for pid, _fd in worker._lent]
        assert time.monotonic() < deadline, "the worker lent no spare"
        time.sleep(0.02)


def test_calls_are_written_straight_into_lent_spares() -> None:
    """Ready spares' request pipes are lent to the host, which writes a call straight into
    the isolated child; the worker still watches, times out and reaps it."""
    with SandboxExecutor(timeout=2.0) as fresh:
        fresh.start()
        lent = _wait_for_lent_spare(fresh)
        probe = fresh.run("import os", "ans = os.getpid()")
        assert probe.ok and probe.answer == lent[0]
        with pytest.raises(ProcessLookupError):
            os.kill(probe.answer, 0)  # reaped before run() returned
        _wait_for_lent_spare(fresh)
        slow = fresh.run("import time", "time.sleep(30)\nans = 1", timeout=0.5)
        assert slow.error_type == "Timeout"
        assert call_children(fresh) == []


def test_a_forked_host_does_not_hold_up_calls() -> None:
    """A copy of a lent request pipe in a forked host process (multiprocessing's fork) must
    not keep the call waiting for the end of the pipe."""
    with SandboxExecutor(timeout=3.0) as fresh:
        fresh.start()
        _wait_for_lent_spare(fresh)
        pid = os.fork()
        if pid == 0:  # holds every inherited descriptor for a while, then leaves quietly
            time.sleep(4)
            os._exit(0)
        try:
            t0 = time.monotonic()
            res = fresh.run("", "ans = 'not held up'")
            assert res.ok and res.answer == "not held up", res.error
            assert time.monotonic() - t0 < 2.0
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def test_a_lent_spare_that_died_is_replaced() -> None:
    with SandboxExecutor() as fresh:
        fresh.start()
        for pid in _wait_for_lent_spare(fresh):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
        for i in range(4):
            res = fresh.run("", f"ans = {i}")
            assert res.ok and res.answer == i, res.error
        assert fresh.restarts == 0
        assert call_children(fresh) == []


def test_restarts_leave_no_descriptors_behind() -> None:
    """Each restart replaces the worker's pipes; a leak would keep >= 1 fd per restart.

    The whole test process is counted, and other threads (finalizers of earlier tests'
    objects, Chroma's background threads) may open or close a descriptor meanwhile, so
    six restarts must leave fewer than six extra descriptors, not exactly none.
    """
    restarts = 6

    def open_fds() -> int:
        gc.collect()
        return len(os.listdir("/proc/self/fd"))

    with SandboxExecutor() as fresh:
        fresh.run("", "ans = 0")
        _wait_for_lent_spare(fresh)
        before = open_fds()
        for i in range(restarts):
            pid = fresh.worker_pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
            assert fresh.run("", f"ans = {i}").answer == i
            _wait_for_lent_spare(fresh)
        assert fresh.restarts == restarts
        assert open_fds() - before < restarts


def test_worker_source_is_neither_on_the_path_nor_readable(ex: SandboxExecutor) -> None:
    """The worker is imported from its directory, which leaves ``sys.path`` before the
    children's read-only paths are derived from it."""
    sandbox_dir = str(Path(__file__).parents[2] / "langchain_latm" / "sandbox")
    res = ex.run("import sys", f"""
try:
    open({sandbox_dir + '/_worker.py'!r}).read(10)
    readable = True
except OSError:
    readable = False
ans = [readable, [p for p in sys.path if 'langchain_latm' in p]]
""")
    assert res.ok, res.error
    assert res.answer == [False, []]


def test_run_many(ex: SandboxExecutor) -> None:
    res = ex.run_many([("", f"ans = {i} + 1") for i in range(5)])
    assert [r.answer for r in res] == [1, 2, 3, 4, 5]


def test_calls_wait_for_spares_when_none_are_kept() -> None:
    """With no spares kept ahead, every call asks the worker to lend it one and waits."""
    with SandboxExecutor(spares=0) as lean:
        assert [lean.run("", f"ans = {i}").answer for i in range(3)] == [0, 1, 2]
        together = lean.run_many([("", f"ans = {i}") for i in range(8)])
        assert [r.answer for r in together] == list(range(8))

        async def many() -> list[ExecutionResult]:
            return await asyncio.gather(*(lean.arun("", f"ans = {i}") for i in range(8)))

        assert [r.answer for r in asyncio.run(many())] == list(range(8))
        worker = lean.worker_pid
        threading.Timer(0.05, os.kill, args=(worker, signal.SIGKILL)).start()
        after = [lean.run("", "import time\ntime.sleep(0.02)\nans = 1") for _ in range(8)]
        assert all(r.ok and r.answer == 1 for r in after), after


def test_worker_killed_is_restarted_transparently() -> None:
    with SandboxExecutor() as fresh:
        assert fresh.run("", "ans = 1").answer == 1
        old = fresh.worker_pid
        assert old is not None
        os.kill(old, signal.SIGKILL)
        time.sleep(0.2)
        res = fresh.run("", "ans = 2")
        assert res.ok and res.answer == 2
        assert fresh.worker_pid not in (None, old)
        assert fresh.restarts == 1


def test_worker_killed_during_a_call_retries() -> None:
    with SandboxExecutor() as fresh:
        fresh.start()
        pid = fresh.worker_pid
        assert pid is not None
        threading.Timer(0.3, os.kill, args=(pid, signal.SIGKILL)).start()
        res = fresh.run("import time\ntime.sleep(0.6)", "ans = 'second try'")
        assert res.ok and res.answer == "second try"
        assert fresh.worker_pid != pid


def _alive(pid: int) -> bool:
    """Running (or stopped), as opposed to gone or a zombie awaiting its reaper."""
    try:
        state = stat_fields(pid)[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_call_dies_with_its_worker_even_if_it_tries_not_to() -> None:
    """A program cannot clear its parent-death signal and outlive a worker that died."""
    with SandboxExecutor(timeout=10) as fresh:
        fresh.start()
        worker = fresh.worker_pid
        assert worker is not None
        code = ("import ctypes, time\nctypes.CDLL(None).prctl(1, 0, 0, 0, 0)\n"
                "time.sleep(30)\nans = 1")
        t = threading.Thread(target=fresh.run, args=("", code), kwargs={"timeout": 3})
        t.start()
        deadline = time.monotonic() + 5
        running: list[int] = []
        while not running and time.monotonic() < deadline:
            time.sleep(0.05)
            running = fresh.worker_status()["running"]
        assert running, "the call should be running"
        time.sleep(0.2)  # past the prctl
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _alive(running[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(running[0]), "the call outlived its worker"
        t.join(15)


def test_close_stops_worker_and_rejects_calls() -> None:
    executor = SandboxExecutor()
    executor.run("", "ans = 1")
    pid = executor.worker_pid
    assert pid is not None
    executor.close()
    executor.close()  # idempotent
    assert executor.closed
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(SandboxError):
        executor.run("", "ans = 1")


def test_close_kills_running_calls() -> None:
    executor = SandboxExecutor()
    executor.start()
    pid = executor.worker_pid
    assert pid is not None
    out: list[ExecutionResult | BaseException] = []

    def call() -> None:
        try:
            out.append(executor.run("import time\ntime.sleep(30)", timeout=30))
        except SandboxError as exc:
            out.append(exc)

    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.5)
    kids = executor.worker_status()["running"]
    assert kids, "the call should be running in a child"
    status = executor.worker_status()
    assert status["zygote"], "spares should come from the zygote on x86_64"
    kids += status["spares"] + status["zygote"]
    executor.close()
    t.join(10)
    assert not t.is_alive()
    for kid in kids:
        with pytest.raises(ProcessLookupError):
            os.kill(kid, 0)
    assert out and isinstance(out[0], SandboxError | ExecutionResult)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the zygote is x86_64 only")
def test_spares_come_from_the_zygote_but_stay_the_workers_children(
        ex: SandboxExecutor) -> None:
    """The zygote forks the spares with CLONE_PARENT: the worker still reaps and kills them."""
    assert ex.run("", "ans = 1").answer == 1
    status = ex.worker_status()
    worker = ex.worker_pid
    assert worker is not None and len(status["zygote"]) == 1
    assert int(stat_fields(status["zygote"][0])[1]) == worker
    assert status["spares"] and all(int(stat_fields(pid)[1]) == worker
                                    for pid in status["spares"])
    res = ex.run("import os", "ans = os.getppid()")
    assert res.ok and res.answer == worker


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the zygote is x86_64 only")
def test_a_call_cannot_signal_the_zygote(ex: SandboxExecutor) -> None:
    zygote = ex.worker_status()["zygote"][0]
    for sig in ("SIGKILL", "SIGSTOP"):
        res = ex.run("import os, signal", f"os.kill({zygote}, signal.{sig})\nans = 'sent'")
        assert not res.ok and res.error_type == "PermissionError", res
    assert ex.worker_status()["zygote"] == [zygote]
    assert stat_fields(zygote)[0] != "T"
    assert ex.run("", "ans = 2").answer == 2


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the zygote is x86_64 only")
def test_worker_forks_spares_itself_once_the_zygote_is_gone() -> None:
    with SandboxExecutor(timeout=5.0) as fresh:
        assert fresh.run("", "ans = 0").answer == 0
        (zygote,) = fresh.worker_status()["zygote"]
        os.kill(zygote, signal.SIGKILL)
        worker = fresh.worker_pid
        answers = [fresh.run("import os", f"ans = [{i}, os.getppid()]").answer
                   for i in range(8)]
        assert answers == [[i, worker] for i in range(8)]
        assert fresh.worker_pid == worker and fresh.restarts == 0
        assert fresh.worker_status()["zygote"] == []
        assert call_children(fresh) == []
        with pytest.raises(ProcessLookupError):
            os.kill(zygote, 0)  # reaped, not left a zombie


def test_pthread_calls_on_the_main_thread_reach_the_call_itself(ex: SandboxExecutor) -> None:
    """glibc's record of the main thread's id is the child's own, as after a real fork()."""
    code = (
        "import signal, threading, time, concurrent.futures as cf\n"
        "got = []\n"
        "signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))\n"
        "def other():\n"
        "    signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)\n"
        "    return 'sent'\n"
        "with cf.ThreadPoolExecutor(1) as pool:\n"
        "    sent = pool.submit(other).result()\n"
        "deadline = time.monotonic() + 2\n"
        "while not got and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "clock = time.pthread_getcpuclockid(threading.get_ident())\n"
    )
    res = ex.run(code, "ans = [sent, got, time.clock_gettime(clock) > 0]")
    assert res.ok, res.error_message
    assert res.answer == ["sent", [int(signal.SIGUSR1)], True]


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the zygote is x86_64 only")
def test_a_stopped_zygote_makes_the_worker_fork_spares_itself() -> None:
    with SandboxExecutor(timeout=5.0) as fresh:
        assert fresh.run("", "ans = 0").answer == 0
        (zygote,) = fresh.worker_status()["zygote"]
        worker = fresh.worker_pid
        os.kill(zygote, signal.SIGSTOP)
        try:
            results = [fresh.run("", f"ans = {i}") for i in range(6)]
            deadline = time.monotonic() + 10
            while fresh.worker_status()["zygote"]:
                assert time.monotonic() < deadline, "the worker kept waiting for the zygote"
                fresh.run("", "ans = 'more'")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(zygote, signal.SIGCONT)
        assert [r.answer for r in results] == list(range(6))
        assert fresh.worker_pid == worker and fresh.restarts == 0
        assert fresh.run("", "ans = 'after'").answer == "after"
        assert call_children(fresh) == []


@pytest.mark.skipif(os.uname().machine != "x86_64" or not shutil.which("strace")
                    or os.geteuid() != 0, reason="needs x86_64, strace and root")
def test_a_spare_forked_just_before_the_zygote_died_is_reaped() -> None:
    """The zygote cloned a spare but never told the worker its pid: it must not linger."""
    with SandboxExecutor(timeout=8.0) as fresh:
        assert fresh.run("", "ans = 0").answer == 0
        time.sleep(0.3)  # the pool is full again
        (zygote,) = fresh.worker_status()["zygote"]
        worker = fresh.worker_pid
        assert worker is not None
        before = set(worker_children(worker))
        # hold the zygote's answers (not its clones) for longer than the worker waits (2 s)
        tracer = subprocess.Popen(
            ["strace", "-q", "-p", str(zygote), "-e", "trace=sendto,sendmsg",
             "-e", "inject=sendto,sendmsg:delay_enter=20000000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results: list[ExecutionResult] = []
        try:
            time.sleep(0.5)  # attached
            caller = threading.Thread(target=lambda: results.append(fresh.run("", "ans = 1")))
            caller.start()  # the worker refills its pool through the zygote
            time.sleep(1.0)
            strays = set(worker_children(worker)) - before
            assert strays, "the zygote should have cloned a spare the worker does not know"
            time.sleep(2.0)  # the worker gave up on the zygote and killed it
        finally:
            tracer.kill()  # a traced zygote is reaped once its tracer lets go
            tracer.wait(10)
        caller.join(20)
        assert [r.answer for r in results] == [1]
        assert fresh.worker_status()["zygote"] == []
        assert fresh.run("", "ans = 2").answer == 2 and fresh.restarts == 0
        assert call_children(fresh) == []  # no stray spare, alive or a zombie
        for pid in strays:
            assert not Path(f"/proc/{pid}").exists()


def test_lazy_start_and_context_manager() -> None:
    executor = SandboxExecutor()
    assert executor.worker_pid is None
    with executor as same:
        assert same is executor
        assert same.run("", "ans = 'x'").answer == "x"
    assert executor.closed


class _WorkerDriver:
    """Speaks the host's protocol to a standalone worker process (for tests that start one).

    A call: ask for a spare (``lend``), write the call into the request pipe it lends over
    the channel, report it (``started``), read the result line and the raw report after it.
    """

    def __init__(self, argv: list[str], config: dict[str, object]) -> None:
        import json

        self._json = json
        self.ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env={}, cwd="/",
                                     pass_fds=(theirs.fileno(),))
        channel = theirs.fileno()  # pass_fds keeps the number
        theirs.close()
        self.watchdog = threading.Timer(60, self.proc.kill)  # never hang the suite
        self.watchdog.start()
        self.send({"config": {**config, "spare_channel": channel}})
        self.ready = self.receive()

    def send(self, msg: dict[str, object]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(self._json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:  # skip "lent" notices
            msg: dict[str, Any] = self._json.loads(self.proc.stdout.readline() or b"null")
            if msg.get("raw_bytes"):
                msg["raw"] = self.proc.stdout.read(msg["raw_bytes"]).decode()
            if msg.get("kind") != "lent":
                return msg

    def call(self, cid: str, code: str, snippet: str) -> dict[str, Any]:
        self.send({"op": "lend", "id": cid + "-lend", "timeout": 5})
        data, fds, _flags, _addr = socket.recv_fds(self.ours, 256, 1)
        pid = self._json.loads(data)["pid"]
        os.write(fds[0], self._json.dumps({"code": code, "snippet": snippet,
                                           "require_answer": True,
                                           "timeout": 5}).encode() + b"\n")
        os.close(fds[0])
        self.send({"op": "started", "id": cid, "pid": pid, "timeout": 5})
        return self.receive()

    def close(self) -> int:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            return self.proc.wait(30)
        finally:
            self.watchdog.cancel()
            self.ours.close()


# --------------------------------------------------------------------------- non-root path
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv")
                    or not Path("/usr/bin/python3").exists(),
                    reason="needs root, setpriv and a world-readable /usr/bin/python3 to "
                           "impersonate an ordinary user")
def test_worker_as_ordinary_user() -> None:
    """The standalone worker, run as uid 65534, still applies every layer it can."""
    import json
    import tempfile

    def traversable(d: str) -> bool:
        parts = Path(d).resolve().parts
        return all(os.stat(Path(*parts[:i])).st_mode & 0o001 for i in range(1, len(parts) + 1))

    base = next((d for d in ("/var/tmp", "/dev/shm", tempfile.gettempdir())
                 if os.path.isdir(d) and traversable(d)), None)
    if base is None:
        pytest.skip("no world-traversable temporary directory to place the worker script in")
    tmp = Path(tempfile.mkdtemp(prefix="latm-nonroot-", dir=base))
    try:
        tmp.chmod(0o755)
        worker = tmp / "worker.py"
        worker.write_text(
            (Path(__file__).parents[2] / "langchain_latm/sandbox/_worker.py").read_text())
        worker.chmod(0o644)
        driver = _WorkerDriver(["setpriv", "--reuid", "65534", "--regid", "65534",
                                "--clear-groups", "/usr/bin/python3", "-I", "-S", str(worker)],
                               {})
        try:
            ready = driver.ready
            replies = {"a": driver.call("a", "import os", "ans = os.getuid()"),
                       "b": driver.call("b", "", "ans = open('/etc/passwd').read()")}
            driver.send({"op": "status", "id": "s"})
            status = driver.receive()
        finally:
            assert driver.close() == 0
    finally:
        shutil.rmtree(tmp)
    assert ready["kind"] == "ready" and ready["uid"] == 65534
    layers = ready["layers"]
    for name in ("uid_drop", "no_new_privs", "landlock_fs", "seccomp", "rlimits"):
        assert layers[name] == "ok", (name, layers[name])
    # the user-namespace route to a private network namespace, where the kernel permits it
    assert layers["network_namespace"] == "ok" or "unshare" in layers["network_namespace"]
    assert replies["a"]["id"] == "a" and replies["b"]["id"] == "b"
    raw_a = replies["a"]["raw"]
    assert json.loads(json.loads(raw_a)["answer_json"]) == 65534
    assert json.loads(replies["b"]["raw"])["error_type"] == "PermissionError"
    # the zygote works without root too (x86_64): the calls above came from it
    assert status["kind"] == "status"
    assert len(status["zygote"]) == (1 if os.uname().machine == "x86_64" else 0)


def test_worker_script_imports_only_the_standard_library() -> None:
    worker_path = str(Path(__file__).parents[2] / "langchain_latm/sandbox/_worker.py")
    src = Path(worker_path).read_text()
    for forbidden in ("langchain", "pydantic", "import typer", "import rich"):
        assert f"import {forbidden}" not in src and f"from {forbidden}" not in src
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c",
         "import runpy, sys; sys.argv=['w']; "
         f"m = runpy.run_path({worker_path!r}, run_name='not_main'); "
         "print(sorted(k for k in sys.modules if k.split('.')[0] in "
         "('langchain_latm', 'pydantic', 'langchain_core')))"],
        capture_output=True, text=True, env={}, timeout=60, check=True,
    )
    assert proc.stdout.strip() == "[]"


def test_cleanup_never_changes_host_tmp_permissions() -> None:
    """Removing a call's directory must not loosen or tighten anything outside it."""
    import stat as stat_mod
    import tempfile

    host_tmp = tempfile.gettempdir()
    before = stat_mod.S_IMODE(os.stat(host_tmp).st_mode)
    snippet = (
        "import os\n"
        "os.makedirs('locked/inner', exist_ok=True)\n"
        "open('locked/inner/f', 'w').write('x')\n"
        "os.chmod('locked/inner', 0)\n"
        "os.chmod('locked', 0o500)\n"
        "ans = 'made'\n"
    )
    with SandboxExecutor(timeout=5) as ex:
        for _ in range(3):
            ex.run("", snippet)
        assert ex.run("", "ans = 1").answer == 1
    assert stat_mod.S_IMODE(os.stat(host_tmp).st_mode) == before


# ------------------------------------------------------- per-call directories (slot reuse)
def test_a_call_cannot_reach_an_earlier_calls_directory(ex: SandboxExecutor) -> None:
    """Slots are reused: the directory of a finished call must be gone, and its parent
    (the slot) must not reveal or accept anything."""
    first = ex.run("import os\nopen('left.txt', 'w').write('secret-left-behind')\n"
                   "os.mkdir('sub')", "ans = os.getcwd()")
    assert first.ok, first.error
    old_dir = first.answer
    probe = (
        "import os\nout = {}\n"
        f"old = {old_dir!r}\n"
        "for name, fn in (('old_list', lambda: os.listdir(old)),\n"
        "                 ('old_read', lambda: open(os.path.join(old, 'left.txt')).read()),\n"
        "                 ('slot_list', lambda: os.listdir(os.path.dirname(old))),\n"
        "                 ('slot_write', lambda: open(os.path.join(os.path.dirname(old),\n"
        "                                                      'x'), 'w').write('x'))):\n"
        "    try:\n        out[name] = repr(fn())\n"
        "    except OSError as exc:\n        out[name] = type(exc).__name__\n"
        "out['cwd_empty'] = os.listdir('.') == []\n"
        "ans = out"
    )
    for _ in range(4):  # enough calls to cycle through the pooled slots
        res = ex.run("", probe)
        assert res.ok, res.error
        assert res.answer["cwd_empty"] is True
        assert "secret-left-behind" not in str(res.answer)
        assert res.answer["old_list"] in ("FileNotFoundError", "PermissionError")
        assert res.answer["old_read"] in ("FileNotFoundError", "PermissionError")
        assert res.answer["slot_write"] in ("PermissionError", "FileNotFoundError")
        assert res.answer["slot_list"] in ("PermissionError", "FileNotFoundError", "[]")


def test_concurrent_calls_cannot_read_each_others_directory(ex: SandboxExecutor) -> None:
    holder_code = "import os, time\nopen('mine.txt', 'w').write('held-secret')\n"
    box: dict[str, ExecutionResult] = {}

    def holder() -> None:
        box["holder"] = ex.run(holder_code, "import os, time\npath = os.getcwd()\n"
                               "time.sleep(1.5)\nans = path")

    t = threading.Thread(target=holder)
    t.start()
    time.sleep(0.5)
    # the other call does not know the path; it searches every sibling slot it can name
    res = ex.run("", (
        "import os\nfound = []\nhere = os.getcwd()\nbase = os.path.dirname("
        "os.path.dirname(here))\nscheme_matches = False\n"
        "for i in range(1, 40):\n"
        "    slot = os.path.join(base, f's{i}')\n"
        "    me = int(os.path.basename(here)[1:])\n"
        "    for j in range(max(1, me - 300), me + 300):\n"
        "        d = os.path.join(slot, f'c{j}')\n"
        "        if d == here:\n            scheme_matches = True\n            continue\n"
        "        try:\n            found.append(open(os.path.join(d, 'mine.txt')).read())\n"
        "        except OSError:\n            pass\n"
        "ans = [found, scheme_matches]"), timeout=10)
    t.join()
    assert box["holder"].ok, box["holder"].error
    assert res.ok, res.error
    found, scheme_matches = res.answer
    assert found == []
    # the search used the real naming scheme (else it would prove nothing)
    assert scheme_matches, "the directory naming scheme changed: update this test"


@pytest.fixture()
def own_tmpfs() -> Iterator[SandboxExecutor]:
    """A fresh executor whose calls each get a tmpfs of their own (needs mounts)."""
    with SandboxExecutor(timeout=20) as own:
        if not any(lay.name == "private_tmp" and lay.active
                   for lay in own.isolation_report().layers):
            pytest.skip("this machine gives the worker no private /tmp (no mounts)")
        yield own


def test_a_call_filling_its_disk_space_leaves_other_calls_theirs(
    own_tmpfs: SandboxExecutor,
) -> None:
    """Where the worker can mount, each call's directory is a small tmpfs of its own."""
    fill = ("import os\nwritten = 0\ntry:\n    for i in range(64):\n"
            "        with open(f'f{i}', 'wb') as fh:\n            fh.write(b'x' * (8 << 20))\n"
            "        written += 8\nexcept OSError as exc:\n    err = exc.errno\n"
            "import time\ntime.sleep(1.0)")
    out: list[ExecutionResult] = []
    filler = threading.Thread(
        target=lambda: out.append(own_tmpfs.run(fill, "ans = [written, err]")))
    filler.start()
    time.sleep(0.5)  # the filler has hit its limit and holds its space
    other = own_tmpfs.run("", "open('small', 'wb').write(b'y' * (4 << 20))\nans = 'fine'")
    filler.join(30)
    assert other.ok and other.answer == "fine", other.error
    assert out and out[0].ok, out
    written, err = out[0].answer
    assert err == 28 and written <= 64  # ENOSPC at its own 32 MiB, not the shared 256 MiB


def test_a_call_cannot_leave_millions_of_links_for_the_worker_to_remove(
    own_tmpfs: SandboxExecutor,
) -> None:
    """Empty files and hard links cost no space; a slot's tmpfs caps their number (tmpfs
    counts each link as an inode), so emptying a slot never blocks the worker for seconds
    and a short call right after is served at once."""
    links = ("import os\nopen('a', 'w').close()\nn = 0\ntry:\n"
             "    while n < 200_000:\n        os.link('a', f'l{n}'); n += 1\n"
             "except OSError as exc:\n    err = exc.errno\n")
    res = own_tmpfs.run(links, "ans = [n, err]")
    assert res.ok, res.error
    made, err = res.answer
    assert err == 28 and made < 4096  # ENOSPC at the slot's inode cap
    # the 1 s timeout covers the wait for the worker too (cleaning up after the call)
    after = own_tmpfs.run("", "ans = 'fine'", timeout=1.0)
    assert after.ok and after.answer == "fine", after.error
    assert own_tmpfs.restarts == 0


def test_tempfile_in_a_call_uses_its_private_directory(ex: SandboxExecutor) -> None:
    res = ex.run("import os, tempfile", "ans = [tempfile.gettempdir() == os.getcwd(), "
                 "os.path.dirname(tempfile.mkstemp()[1]) == os.getcwd()]")
    assert res.ok, res.error
    assert res.answer == [True, True]


def test_worker_stays_lean_for_fast_forks() -> None:
    """Modules with at-fork hooks (threading, random) make every fork slower: the worker
    must not import them (the children still can, on demand)."""
    worker_path = str(Path(__file__).parents[2] / "langchain_latm/sandbox/_worker.py")
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c",
         "import runpy, sys; sys.argv=['w']; "
         f"m = runpy.run_path({worker_path!r}, run_name='not_main'); "
         "[__import__(n) for n in m['PRELOAD']]; "
         "print(sorted(k for k in ('threading', 'random', 'subprocess', 'tempfile') "
         "if k in sys.modules))"],
        capture_output=True, text=True, env={}, timeout=60, check=True,
    )
    assert proc.stdout.strip() == "[]"
    res_threads = SandboxExecutor(timeout=5.0)
    with res_threads as ex2:
        res = ex2.run("import threading, random", "ans = [threading.active_count(), "
                      "random.Random(1).randint(1, 6)]")
    assert res.ok, res.error
    assert res.answer == [1, 2]


@pytest.mark.parametrize("warm_up", [True, False, "auto"])
def test_worker_warm_up_modes_leave_no_trace(warm_up: object) -> None:
    """Spares may pre-run a fixed warm-up program (always, never, or only while CPUs are
    idle); the real call must see neither its output nor its names."""
    import json

    worker = str(Path(__file__).parents[2] / "langchain_latm/sandbox/_worker.py")
    snippet = ("import sys\nprint('mine')\n"
               "ans = [sorted(k for k in globals() if not k.startswith('__')), "
               "sys.modules['__main__'].__dict__ is globals()]")
    driver = _WorkerDriver([sys.executable, "-I", "-S", worker], {"warm_up": warm_up})
    try:
        ready = driver.ready
        replies = [driver.call(str(i), "", snippet) for i in range(3)]
    finally:
        assert driver.close() == 0
    assert ready["kind"] == "ready"
    for reply in replies:
        child = json.loads(reply["raw"])
        assert child["stdout"] == "mine\n"
        assert json.loads(child["answer_json"]) == [["sys"], True]
        assert reply["cpu"] > 0


def test_worker_configured_without_zygote_forks_spares_itself() -> None:
    import json

    worker = str(Path(__file__).parents[2] / "langchain_latm/sandbox/_worker.py")
    driver = _WorkerDriver([sys.executable, "-I", "-S", worker], {"zygote": False})
    try:
        replies = [driver.call(str(i), "import os", f"ans = [{i}, os.getppid()]")
                   for i in range(3)]
        driver.send({"op": "status", "id": "s"})
        status = driver.receive()
    finally:
        assert driver.close() == 0
    pid = driver.ready["pid"]
    assert [json.loads(json.loads(r["raw"])["answer_json"]) for r in replies] == [
        [i, pid] for i in range(3)]
    assert status["zygote"] == [] and status["spares"]


def test_lone_surrogates_come_back_as_valid_text(ex: SandboxExecutor) -> None:
    """An undecodable file name gives Python a lone surrogate; results must stay valid text."""
    res = ex.run("import os\nopen(b'\\xff.txt', 'w').close()\nprint('\\udcff')",
                 "ans = os.listdir('.')")
    assert res.ok, res.error
    assert res.answer == ["\\udcff.txt"] and res.stdout == "\\udcff\n"
    assert json.loads(res.model_dump_json())["answer"] == ["\\udcff.txt"]
    err = ex.run("", "raise ValueError('bad byte: \\udcff')")
    assert err.error_type == "ValueError" and "bad byte: \\udcff" in err.error_message
    err.model_dump_json()


def test_a_very_long_exception_name_is_cut_not_called_a_forgery(ex: SandboxExecutor) -> None:
    res = ex.run(f"class {'E' * 300}(Exception): pass", f"raise {'E' * 300}('x')")
    assert res.error_type == "E" * 200, res.error


def _wait_for_running(executor: SandboxExecutor, count: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while len(executor.worker_status()["running"]) != count:
        assert time.monotonic() < deadline, executor.worker_status()
        time.sleep(0.02)


@pytest.mark.parametrize("spares", [2, 0], ids=["lent_spare", "waiting_for_a_spare"])
async def test_cancelling_arun_stops_the_call(spares: int) -> None:
    """A cancelled caller takes its call with it, also when it was cancelled while the call
    was still being started (with no spares the start waits in a thread)."""
    with SandboxExecutor(spares=spares) as own:
        await own.arun("", "ans = 0")
        long = "import time\ntime.sleep(60)"
        task = asyncio.ensure_future(own.arun(long, "ans = 1", timeout=120))
        await asyncio.to_thread(_wait_for_running, own, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.to_thread(_wait_for_running, own, 0, 5.0)
        # cancelled at once, before the call could have started
        early = asyncio.ensure_future(own.arun(long, "ans = 2", timeout=120))
        await asyncio.sleep(0)
        early.cancel()
        with pytest.raises(asyncio.CancelledError):
            await early
        await asyncio.sleep(0.5)  # time for a start that was still under way
        await asyncio.to_thread(_wait_for_running, own, 0, 5.0)
        assert (await own.arun("", "ans = 3")).answer == 3
        assert own.restarts == 0


def test_closing_under_a_running_call_is_a_sandbox_error_not_a_verdict() -> None:
    own = SandboxExecutor()
    own.start()
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(own.run("import time\ntime.sleep(30)", "ans = 1", timeout=60))
        except SandboxError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    _wait_for_running(own, 1)
    own.close()
    caller.join(10)
    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], SandboxError), outcome
    assert "closed" in str(outcome[0])


def test_concurrent_calls_run_as_different_uids_so_one_cannot_use_up_anothers_threads(
) -> None:
    """Threads count against a uid (RLIMIT_NPROC): as root each slot has a uid of its own,
    so a call holding every thread it may start leaves a concurrent call its own."""
    if os.geteuid() != 0:
        pytest.skip("the uid drop (and so a uid per slot) needs a root host")
    hog = ("import threading, time\nthreading.stack_size(65536)\nheld = 0\ntry:\n"
           "    while True:\n        threading.Thread(target=time.sleep, args=(3,),"
           " daemon=True).start(); held += 1\nexcept RuntimeError:\n    pass\n"
           "time.sleep(2)")
    victim = ("import os, threading\nt = threading.Thread(target=print)\nt.start()\nt.join()\n"
              "ans = os.getuid()")
    with SandboxExecutor() as own:
        hogs: list[ExecutionResult] = []
        hogging = threading.Thread(
            target=lambda: hogs.append(own.run(hog, "import os\nans = [held, os.getuid()]",
                                               timeout=20)))
        hogging.start()
        _wait_for_running(own, 1)
        time.sleep(0.5)  # the hog has reached its thread limit and holds it
        res = own.run("", victim)
        hogging.join(30)
    assert hogs and hogs[0].ok, hogs
    held, hog_uid = hogs[0].answer
    assert held >= 32  # it really used up its limit
    assert res.ok, res.error
    assert res.answer != hog_uid and res.answer != 65534
