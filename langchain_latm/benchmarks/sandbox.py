"""Sandbox latency benchmark: the isolated executor against two baselines, side by side.

* ``sandbox``: :class:`~langchain_latm.sandbox.SandboxExecutor` with full isolation, one small
  tool call (a word-sorting tool plus its call snippet) per request, sequential.
* ``sandbox x{concurrency}``: the same calls from ``concurrency`` threads sharing one executor
  (throughput).
* ``fresh subprocess``: a new ``python -I`` per call (the baseline the issue names: isolated
  mode, ``site`` imported) that runs the same code and prints the JSON answer (what a naive
  "isolate by spawning" wrapper costs, before adding any isolation). ``python -I -S`` (no
  ``site``, faster) is measured too, as an extra row.
* CPU time per sandboxed call: user + system time of the worker, of its zygote and of all
  its children (read from ``/proc``; spares forked ahead of time included), plus the host
  process's own time, divided by the number of calls. Unlike latency it barely depends on
  other load.

Sandbox and baseline samples are taken in alternating blocks (``rounds``), so a change in the
machine's load during the run affects both sides alike.
* ``UNSAFE exec (baseline)``: ``exec`` of the same *fixed, benign* code inside one plain
  interpreter, i.e. what the paper's code does. It runs in a separate ``python -I -S`` process
  started by this benchmark (never in the host process) and reports its own timings; it is
  listed only to show the floor. Never run model-written code like this.

``run_sandbox_benchmark`` returns the numbers as a dict, writes them to JSON and prints a table.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_latm.sandbox import SandboxExecutor

__all__ = ["TARGET_P50_MS", "TARGET_SPEEDUP", "run_sandbox_benchmark"]

TARGET_P50_MS = 5.0
TARGET_SPEEDUP = 8.0

TOOL_CODE = '''import re
from collections import Counter


def sort_words(text):
    """Sort the words of a sentence alphabetically."""
    words = re.findall(r"[A-Za-z']+", text)
    counts = Counter(w.lower() for w in words)
    return " ".join(sorted(words, key=str.lower)) if counts else ""
'''
SNIPPET = 'ans = sort_words("List: syndrome therefrom oak apple zebra banana")'
EXPECTED = "apple banana List oak syndrome therefrom zebra"

# One fresh interpreter per call: read code+snippet from argv, run, print the JSON answer.
_SUBPROCESS_RUNNER = (
    "import json, sys\n"
    "ns = {'__name__': '__main__'}\n"
    "exec(compile(sys.argv[1], '<tool>', 'exec'), ns)\n"
    "exec(compile(sys.argv[2], '<snippet>', 'exec'), ns)\n"
    "print(json.dumps(ns['ans']))\n"
)

# UNSAFE baseline, fixed benign code only, run in its own plain interpreter: n exec() calls
# timed from inside, printed as JSON.
_UNSAFE_LOOP = (
    "import json, sys, time\n"
    "code, snippet, n = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
    "out = []\n"
    "for _ in range(n):\n"
    "    t = time.perf_counter()\n"
    "    ns = {'__name__': '__main__'}\n"
    "    exec(compile(code, '<tool>', 'exec'), ns)\n"
    "    exec(compile(snippet, '<snippet>', 'exec'), ns)\n"
    "    json.dumps(ns['ans'])\n"
    "    out.append(time.perf_counter() - t)\n"
    "print(json.dumps(out))\n"
)


def _stats(samples_s: Sequence[float]) -> dict[str, float]:
    ms = sorted(s * 1000.0 for s in samples_s)
    if not ms:
        return {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0, "mean_ms": 0.0, "min_ms": 0.0}

    def pct(q: float) -> float:
        return ms[min(len(ms) - 1, round(q * (len(ms) - 1)))]

    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 3),
            "p95_ms": round(pct(0.95), 3), "mean_ms": round(statistics.fmean(ms), 3),
            "min_ms": round(ms[0], 3)}


def _fresh_subprocess_samples(n: int, flags: Sequence[str] = ("-I",)) -> list[float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, *flags, "-c", _SUBPROCESS_RUNNER, TOOL_CODE, SNIPPET],
            capture_output=True, text=True, env={}, timeout=60, check=True,
        )
        samples.append(time.perf_counter() - t)
        if json.loads(proc.stdout) != EXPECTED:
            raise RuntimeError(f"subprocess baseline gave {proc.stdout!r}")
    return samples


def _unsafe_exec_samples(n: int) -> list[float]:
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _UNSAFE_LOOP, TOOL_CODE, SNIPPET, str(n)],
        capture_output=True, text=True, env={}, timeout=120, check=True,
    )
    samples: list[float] = json.loads(proc.stdout)
    return samples


def _proc_cpu_s(pid: int) -> tuple[float, float] | None:
    """(own, reaped children's) user+system CPU seconds of ``pid`` from /proc, if readable."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    ut, st, cut, cst = (int(x) for x in fields[11:15])
    return (ut + st) / tick, (cut + cst) / tick


def _host_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def _sandbox_samples(ex: SandboxExecutor, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        res = ex.run(TOOL_CODE, SNIPPET)
        samples.append(time.perf_counter() - t)
        if not res.ok or res.answer != EXPECTED:
            raise RuntimeError(f"sandbox gave {res.error or res.answer!r}")
    return samples


def _sandbox_concurrent(ex: SandboxExecutor, n: int, concurrency: int) -> tuple[float,
                                                                               list[float]]:
    per_thread = max(1, n // concurrency)
    samples: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def caller() -> None:
        mine = []
        for _ in range(per_thread):
            t = time.perf_counter()
            res = ex.run(TOOL_CODE, SNIPPET)
            mine.append(time.perf_counter() - t)
            if not res.ok or res.answer != EXPECTED:
                errors.append(res.error or repr(res.answer))
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=caller) for _ in range(concurrency)]
    started = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"concurrent sandbox calls failed: {errors[:3]}")
    return wall, samples


def run_sandbox_benchmark(
    n: int = 300,
    concurrency: int = 4,
    *,
    subprocess_n: int | None = None,
    rounds: int = 5,
    out: str | Path | None = "bench/results/sandbox.json",
    console: Any | None = None,
) -> dict[str, Any]:
    """Measure sandboxed tool calls against a fresh subprocess and unsafe ``exec``.

    Args:
        n: Calls per sandbox measurement (and for the unsafe baseline).
        concurrency: Threads sharing one executor for the throughput measurement.
        subprocess_n: Calls for each fresh-subprocess baseline (default ``min(n, 150)``; each
            costs tens of milliseconds).
        rounds: Alternating sandbox / baseline blocks the samples are split into.
        out: Where to write the JSON results (None: don't write).
        console: A ``rich.console.Console`` to print the table on (default: a new one).

    Returns:
        The results: per-approach latency stats, throughput, speedup, targets, isolation.
    """
    from rich.console import Console
    from rich.table import Table

    sub_n = subprocess_n if subprocess_n is not None else min(n, 150)
    rounds = max(1, min(rounds, n, sub_n))
    seq: list[float] = []
    fresh: list[float] = []
    fresh_s: list[float] = []
    loads: list[float] = [_loadavg()]
    cpu_ms: float | None = None
    with SandboxExecutor(timeout=10.0) as ex:
        report = ex.isolation_report()
        _sandbox_samples(ex, 10)  # warm-up
        time.sleep(0.2)  # let the replacement spares finish their setup
        worker_pid = ex.worker_pid
        # the zygote forks the spares; it is reaped only when the worker closes, so its CPU
        # is read from its own /proc entry
        zygote = ex.worker_status()["zygote"]
        before = _proc_cpu_s(worker_pid) if worker_pid else None
        z_before = [_proc_cpu_s(z) for z in zygote]
        host_cpu = 0.0
        for r in range(rounds):
            h0 = _host_cpu_s()
            seq += _sandbox_samples(ex, n // rounds + (1 if r < n % rounds else 0))
            host_cpu += _host_cpu_s() - h0
            per = sub_n // rounds + (1 if r < sub_n % rounds else 0)
            fresh += _fresh_subprocess_samples(per, ("-I",))
            fresh_s += _fresh_subprocess_samples(per, ("-I", "-S"))
            loads.append(_loadavg())
        after = _proc_cpu_s(worker_pid) if worker_pid else None
        z_after = [_proc_cpu_s(z) for z in zygote]
        z_deltas = [za[0] - zb[0] for za, zb in zip(z_after, z_before, strict=True)
                    if za is not None and zb is not None]
        if (before is not None and after is not None and worker_pid == ex.worker_pid
                and len(z_deltas) == len(zygote)):
            # spares forked during the last block are counted once they are reaped (at close)
            # or not at all; both ends hold the same number of idle spares, so this evens out
            z_cpu = sum(z_deltas)
            cpu_ms = round(((after[0] - before[0]) + (after[1] - before[1]) + z_cpu
                            + host_cpu) / len(seq) * 1000.0, 3)
            worker_ms = round((after[0] - before[0]) / len(seq) * 1000.0, 3)
            zygote_ms = round(z_cpu / len(seq) * 1000.0, 3)
            children_ms = round((after[1] - before[1]) / len(seq) * 1000.0, 3)
            host_ms = round(host_cpu / len(seq) * 1000.0, 3)
        seq_wall = sum(seq)
        conc_wall, conc = _sandbox_concurrent(ex, n, concurrency)
    unsafe = _unsafe_exec_samples(n)

    s_seq, s_conc, s_unsafe = _stats(seq), _stats(conc), _stats(unsafe)
    s_fresh, s_fresh_s = _stats(fresh), _stats(fresh_s)
    speedup = s_fresh["p50_ms"] / s_seq["p50_ms"] if s_seq["p50_ms"] else 0.0
    speedup_s = s_fresh_s["p50_ms"] / s_seq["p50_ms"] if s_seq["p50_ms"] else 0.0
    cpu: dict[str, Any] = {"total_ms": cpu_ms}
    if cpu_ms is not None:
        cpu.update(worker_ms=worker_ms, zygote_ms=zygote_ms, children_ms=children_ms,
                   host_ms=host_ms)
    cpu["note"] = ("user+system CPU per sequential call: worker + its zygote + the spares "
                   "(/proc, clock-tick resolution) + this host process")
    results: dict[str, Any] = {
        "benchmark": "sandbox",
        "workload": "word-sorting tool definition + one call snippet per request",
        "machine": {"cpus": _cpu_count(), "python": sys.version.split()[0],
                    "load_avg_1m": _loadavg(), "load_avg_1m_during": loads},
        "isolation": {"fully_isolated": report.fully_isolated,
                      "active_layers": [lay.name for lay in report.layers if lay.active],
                      "missing": report.missing},
        "sandbox": {**s_seq, "throughput_per_s": round(len(seq) / seq_wall, 1),
                    "cpu_per_call": cpu},
        "sandbox_concurrent": {**s_conc, "concurrency": concurrency,
                               "throughput_per_s": round(len(conc) / conc_wall, 1)},
        "fresh_subprocess": {**s_fresh, "command": "python -I -c ...",
                             "throughput_per_s": round(len(fresh) / sum(fresh), 1)},
        "fresh_subprocess_no_site": {**s_fresh_s, "command": "python -I -S -c ...",
                                     "throughput_per_s": round(len(fresh_s) / sum(fresh_s),
                                                               1)},
        "unsafe_exec_baseline": {**s_unsafe, "note": "UNSAFE: exec of fixed benign code in "
                                 "one plain interpreter (what the paper does); floor only"},
        "speedup_vs_fresh_subprocess": round(speedup, 2),
        "speedup_vs_fresh_subprocess_no_site": round(speedup_s, 2),
        "targets": {"p50_ms": TARGET_P50_MS, "speedup_vs_fresh_subprocess": TARGET_SPEEDUP},
        "meets_targets": {"p50": s_seq["p50_ms"] <= TARGET_P50_MS,
                          "speedup": speedup >= TARGET_SPEEDUP},
    }

    table = Table(title=f"Sandbox: one small tool call (n={n}, subprocess n={sub_n})")
    for col in ("approach", "isolated", "p50 ms", "p95 ms", "mean ms", "calls/s"):
        table.add_column(col, justify="left" if col in ("approach", "isolated") else "right")
    rows = [
        ("SandboxExecutor", "yes", s_seq, results["sandbox"]["throughput_per_s"]),
        (f"SandboxExecutor x{concurrency} threads", "yes", s_conc,
         results["sandbox_concurrent"]["throughput_per_s"]),
        ("fresh python -I per call", "no*", s_fresh,
         results["fresh_subprocess"]["throughput_per_s"]),
        ("fresh python -I -S per call", "no*", s_fresh_s,
         results["fresh_subprocess_no_site"]["throughput_per_s"]),
        ("UNSAFE exec in-process (baseline)", "NO", s_unsafe,
         round(1000.0 / s_unsafe["mean_ms"], 1) if s_unsafe["mean_ms"] else 0.0),
    ]
    for name, iso, st, tput in rows:
        table.add_row(name, iso, f"{st['p50_ms']:.2f}", f"{st['p95_ms']:.2f}",
                      f"{st['mean_ms']:.2f}", f"{tput:.1f}")
    con = console or Console()
    con.print(table)
    con.print(f"speedup vs fresh python -I (p50): {speedup:.1f}x (target >= "
              f"{TARGET_SPEEDUP:g}x); vs python -I -S: {speedup_s:.1f}x; sandbox p50 "
              f"{s_seq['p50_ms']:.2f} ms (target <= {TARGET_P50_MS:g} ms); CPU per call "
              f"{cpu_ms if cpu_ms is not None else '?'} ms; load avg (1 min) during the run "
              f"{loads}")
    con.print("* a fresh subprocess alone is not isolated; isolation would add to its cost")
    if out is not None:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _cpu_count() -> int:
    return os.cpu_count() or 0


def _loadavg() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return -1.0
