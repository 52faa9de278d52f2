"""``latm bench dispatch``: routing accuracy, unknown detection and latency of the dispatcher.

Accuracy (no LLM, offline default embedding):

* Every BBH task file becomes a tool built like a real LATM tool: description = the task's
  one-line description, use cases = validation examples 5-7 (the maker's wrap step).
* ``splits`` random splits index ``n_known`` tasks (the rest are *unknown*: a new tool must be
  made). Near neighbours (logical deduction / tracking shuffled objects with 3, 5, 7 objects)
  land on both sides.
* Queries are test-split questions ``10 + query_offset`` onwards (``n`` per task). The
  re-ranker's weights were chosen by hand on test questions 10-39, so the default offset of
  30 keeps those out of the reported numbers.
* The threshold for split *i* is calibrated on the other splits only (leave-one-split-out),
  so no split is scored with a threshold fitted on it. The shipped default threshold is
  reported separately.
* Baselines side by side: dense search only (what the repository returns), dense + lexical,
  and the full dispatcher (dense + lexical + shape + cohesion).
* Hand-written paraphrases (:mod:`~langchain_latm.benchmarks.dispatch_paraphrases`) are
  routed in every split too.

Latency: synthetic tools (plus the BBH tools) in one repository grown 100 -> 1,000 -> 10,000
tools; per route: query embedding time and the rest (search + re-rank), p50 / p95.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_latm.benchmarks.dispatch_paraphrases import PARAPHRASES
from langchain_latm.dispatcher import (
    Dispatcher,
    RoutingScorer,
    _shipped_threshold,
    best_threshold,
)
from langchain_latm.embeddings import (
    _as_array,
    _as_query_array,
    default_embeddings,
    embedding_id_of,
)
from langchain_latm.schemas import UseCase, WrappedTool

__all__ = [
    "TARGET_ROUTE_P50_MS",
    "TARGET_TOP1",
    "TARGET_UNKNOWN",
    "CachedEmbeddings",
    "bbh_tool",
    "run_dispatch_benchmark",
    "synthetic_tools",
]

TARGET_TOP1 = 0.98
TARGET_UNKNOWN = 0.96
TARGET_ROUTE_P50_MS = 20.0
FAST_EXACT_ROWS_LIMIT = 20_000
"""``ToolRepository(exact_rows_limit=...)`` used for the two-stage latency column."""

_TOOL_CODE = "def solve(question):\n    return question\n"

VARIANTS: dict[str, RoutingScorer] = {
    "dense only (repository search)": RoutingScorer(
        dense_weight=1.0, shape_weight=0.0, cohesion_power=0.0
    ),
    "dense + lexical": RoutingScorer(dense_weight=0.5, shape_weight=0.0, cohesion_power=0.0),
    "dispatcher (dense+lexical+shape+cohesion)": RoutingScorer(),
}
_MAIN = "dispatcher (dense+lexical+shape+cohesion)"


class CachedEmbeddings(Embeddings):
    """Memoises another embedding (benchmark helper: each text is embedded once).

    Args:
        base: The embedding to wrap; its ``embedding_id`` is reported unchanged.
    """

    def __init__(self, base: Embeddings) -> None:
        self.base = base
        self.embedding_id = embedding_id_of(base)
        self._docs: dict[str, list[float]] = {}
        self._queries: dict[str, list[float]] = {}
        self.seconds = 0.0
        self.embedded = 0

    def _cached(self, texts: Sequence[str], cache: dict[str, list[float]],
                embed: Callable[[Embeddings, Sequence[str]], Any]) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            start = time.perf_counter()
            vectors = embed(self.base, missing)
            self.seconds += time.perf_counter() - start
            self.embedded += len(missing)
            for text, vector in zip(missing, vectors, strict=True):
                cache[text] = [float(x) for x in vector]
        return [cache[t] for t in texts]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents, computing only the ones not seen before."""
        return self._cached(texts, self._docs, _as_array)

    def embed_query_array(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        """Embed queries (the base's query path), computing only the ones not seen before."""
        return np.asarray(self._cached(texts, self._queries, _as_query_array),
                          dtype=np.float32)

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (cached)."""
        return self._cached([text], self._queries, _as_query_array)[0]


def bbh_tool(task: Any, description: str, n_use_cases: int = 3) -> WrappedTool:
    """A tool for a BBH task, shaped like one the maker wraps (use cases = val examples).

    Args:
        task: A :class:`~langchain_latm.schemas.TaskSpec`.
        description: One-line description of the task.
        n_use_cases: How many validation examples become use cases (paper: 3).
    """
    return WrappedTool(
        name=task.name,
        task=task.name,
        description=description,
        code=_TOOL_CODE,
        use_cases=[
            UseCase(question=d.question, snippet="ans = solve(question)", answer=d.answer)
            for d in task.val[:n_use_cases]
        ],
    )


def synthetic_tools(n: int, vocabulary: Sequence[str], *, seed: int = 0, start: int = 0
                    ) -> list[WrappedTool]:
    """``n`` distinct synthetic tools (random descriptions and 3 use-case questions each)."""
    rng = random.Random(seed * 1_000_003 + start)
    words = list(vocabulary)
    tools = []
    for i in range(start, start + n):
        def sentence(lo: int, hi: int) -> str:
            return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))

        tools.append(
            WrappedTool(
                name=f"synthetic_{i}",
                task=f"synthetic_{i}",
                description=f"Tool {i}: {sentence(6, 12)}.",
                code=_TOOL_CODE,
                use_cases=[
                    UseCase(question=f"{sentence(12, 30)}? ({rng.randint(1, 999)})",
                            snippet="ans = solve(question)")
                    for _ in range(3)
                ],
            )
        )
    return tools


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0


def _metrics(rows: Sequence[dict[str, Any]], threshold: float) -> dict[str, float]:
    known = [r for r in rows if r["known"]]
    unknown = [r for r in rows if not r["known"]]
    top1 = sum(r["pred"] == r["task"] for r in known) / max(1, len(known))
    accepted = sum(r["pred"] == r["task"] and r["score"] >= threshold for r in known) / max(
        1, len(known)
    )
    detected = sum(r["score"] < threshold for r in unknown) / max(1, len(unknown))
    return {
        "top1": top1,
        "known_accepted": accepted,
        "unknown_detected": detected,
        "balanced": 0.5 * (accepted + detected),
        "n_known": float(len(known)),
        "n_unknown": float(len(unknown)),
    }


def _calibrate(rows: Sequence[dict[str, Any]]) -> float:
    known = [(r["pred"] == r["task"], r["score"]) for r in rows if r["known"]]
    unknown = [r["score"] for r in rows if not r["known"]]
    return best_threshold(known, unknown)[0]


def _evaluate(per_split: list[list[dict[str, Any]]]) -> dict[str, Any]:
    thresholds = []
    all_rows: list[dict[str, Any]] = []
    for i, rows in enumerate(per_split):
        others = [r for j, rs in enumerate(per_split) if j != i for r in rs]
        thr = _calibrate(others) if len(per_split) > 1 else _calibrate(rows)
        thresholds.append(thr)
        all_rows += [dict(r, threshold=thr) for r in rows]
    known = [r for r in all_rows if r["known"]]
    unknown = [r for r in all_rows if not r["known"]]
    top1 = sum(r["pred"] == r["task"] for r in known) / max(1, len(known))
    accepted = sum(r["pred"] == r["task"] and r["score"] >= r["threshold"] for r in known) / max(
        1, len(known))
    detected = sum(r["score"] < r["threshold"] for r in unknown) / max(1, len(unknown))
    return {
        "top1": top1,
        "known_accepted": accepted,
        "unknown_detected": detected,
        "balanced": 0.5 * (accepted + detected),
        "thresholds": thresholds,
        "threshold_all_splits": _calibrate(all_rows),
        "n_known": len(known),
        "n_unknown": len(unknown),
        "rows": all_rows,
    }


def _confusion(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {}
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
    for task, rs in sorted(by_task.items()):
        known = [r for r in rs if r["known"]]
        unknown = [r for r in rs if not r["known"]]
        dest: Counter[str] = Counter()
        for r in rs:
            dest[r["pred"] if r["score"] >= r["threshold"] else "UNKNOWN"] += 1
        table[task] = {
            "as_known": len(known),
            "as_unknown": len(unknown),
            "known_correct": sum(
                r["pred"] == task and r["score"] >= r["threshold"] for r in known),
            "unknown_detected": sum(r["score"] < r["threshold"] for r in unknown),
            "routed_to": dict(dest.most_common()),
        }
    return table


def _accuracy(
    data_dir: Any, *, n: int, splits: int, n_known: int, seed: int, query_offset: int,
    embeddings: CachedEmbeddings, workdir: Path, console: Any,
) -> dict[str, Any]:
    from langchain_latm.repository import ToolRepository
    from langchain_latm.tasks import list_bbh_tasks, load_bbh_task
    from langchain_latm.tasks.bbh import bbh_task_description

    names = sorted(list_bbh_tasks(data_dir))
    tasks = {name: load_bbh_task(name, data_dir) for name in names}
    tools = {name: bbh_tool(t, bbh_task_description(name, data_dir)) for name, t in tasks.items()}
    queries = [
        (name, d.question)
        for name, t in tasks.items()
        for d in t.test[query_offset: query_offset + n]
    ]
    paraphrases = [(t, q) for t, q in PARAPHRASES if t in tools]
    rng = random.Random(seed)
    per_variant: dict[str, list[list[dict[str, Any]]]] = {v: [] for v in VARIANTS}
    para_variant: dict[str, list[list[dict[str, Any]]]] = {v: [] for v in VARIANTS}
    split_known: list[list[str]] = []
    for s in range(splits):
        known = sorted(rng.sample(names, min(n_known, len(names) - 1)))
        split_known.append(known)
        repo = ToolRepository(path=workdir / f"split{s}", embeddings=embeddings)
        repo.add_many([tools[name] for name in known])
        texts = [q for _, q in queries] + [q for _, q in paraphrases]
        hits = repo.search_many(texts, k=10)
        labels = queries + paraphrases
        for variant, scorer in VARIANTS.items():
            rows: list[dict[str, Any]] = []
            for (task, question), cands in zip(labels, hits, strict=True):
                ranked = scorer.rerank(question, cands)
                rows.append({
                    "task": task, "known": task in known,
                    "pred": ranked[0][0].task if ranked else None,
                    "score": float(ranked[0][1]) if ranked else -1.0,
                })
            per_variant[variant].append(rows[: len(queries)])
            para_variant[variant].append(rows[len(queries):])
        if console is not None:
            console.print(f"split {s + 1}/{splits}: {len(known)} tools indexed, "
                          f"{len(queries)} questions routed")
    results: dict[str, Any] = {"variants": {}, "paraphrases": {}}
    for variant in VARIANTS:
        ev = _evaluate(per_variant[variant])
        rows = ev.pop("rows")
        # paraphrases: scored with each split's held-out threshold
        para_rows = [
            dict(r, threshold=ev["thresholds"][i])
            for i, rs in enumerate(para_variant[variant]) for r in rs
        ]
        pk = [r for r in para_rows if r["known"]]
        pu = [r for r in para_rows if not r["known"]]
        results["paraphrases"][variant] = {
            "top1": sum(r["pred"] == r["task"] for r in pk) / max(1, len(pk)),
            "known_accepted": sum(
                r["pred"] == r["task"] and r["score"] >= r["threshold"] for r in pk
            ) / max(1, len(pk)),
            "unknown_detected": sum(r["score"] < r["threshold"] for r in pu) / max(1, len(pu)),
            "n_known": len(pk), "n_unknown": len(pu),
            "misses": sorted({r["task"] for r in pk
                              if not (r["pred"] == r["task"] and r["score"] >= r["threshold"])}),
        }
        if variant == _MAIN:
            results["confusion"] = _confusion(rows)
            thr = _shipped_threshold(embeddings.embedding_id)
            shipped = [dict(r, threshold=thr) for r in rows]
            results["shipped_threshold"] = {
                "threshold": thr,
                **{k: v for k, v in _metrics(shipped, thr).items()},
            }
        results["variants"][variant] = ev
    results["splits"] = split_known
    results["n_queries_per_split"] = len(queries)
    results["n_paraphrases"] = len(paraphrases)
    return results


def _latency(
    data_dir: Any, *, sizes: Sequence[int], n_queries: int, embeddings: Embeddings,
    workdir: Path, console: Any,
) -> list[dict[str, Any]]:
    from langchain_latm.repository import ToolRepository
    from langchain_latm.tasks import list_bbh_tasks, load_bbh_task
    from langchain_latm.tasks.bbh import bbh_task_description

    names = sorted(list_bbh_tasks(data_dir))
    tasks = [load_bbh_task(name, data_dir) for name in names]
    real = [bbh_tool(t, bbh_task_description(t.name, data_dir)) for t in tasks]
    vocab = sorted({w for t in tasks for d in t.train for w in d.question.split() if w.isalpha()})
    repo = ToolRepository(path=workdir / "latency", embeddings=embeddings)
    repo.add_many(real)
    # the search path is what is measured: no template fast path (it would skip the search
    # for most of these templated questions)
    dispatcher = Dispatcher(repo, templates=0)
    pool = [d.question for t in tasks for d in t.test[150:]]
    random.Random(1).shuffle(pool)
    curve: list[dict[str, Any]] = []
    have = len(real)
    used = 0
    for size in sizes:
        add = max(0, size - have)
        start = time.perf_counter()
        for chunk in range(0, add, 500):
            repo.add_many(synthetic_tools(min(500, add - chunk), vocab, start=have + chunk))
        index_s = time.perf_counter() - start
        have += add
        dispatcher.route(pool[used])  # warm the in-memory index after the writes
        used += 1
        # the same store opened with the repository's opt-in two-stage search (centroid
        # prefilter, exact max-sim on the best candidates) and a 1 s freshness window
        fast_repo = ToolRepository(path=workdir / "latency", embeddings=embeddings,
                                   exact_rows_limit=FAST_EXACT_ROWS_LIMIT, refresh_interval=1.0)
        fast = Dispatcher(fast_repo, templates=0)
        fast.route(pool[used - 1])
        embed_ms: list[float] = []
        rest_ms: list[float] = []
        fast_ms: list[float] = []
        for question in pool[used: used + n_queries]:
            t0 = time.perf_counter()
            repo.embed_query(question)  # fills the repository's query cache
            t1 = time.perf_counter()
            dispatcher.route(question)  # search + re-rank (embedding now cached)
            t2 = time.perf_counter()
            fast_repo.embed_query(question)  # untimed: fills its own query cache
            t3 = time.perf_counter()
            fast.route(question)
            t4 = time.perf_counter()
            embed_ms.append((t1 - t0) * 1000)
            rest_ms.append((t2 - t1) * 1000)
            fast_ms.append((t4 - t3) * 1000)
        used += n_queries
        total = [a + b for a, b in zip(embed_ms, rest_ms, strict=True)]
        point = {
            "tools": len(repo),
            "index_seconds": round(index_s, 2),
            "route_p50_ms": round(_pct(total, 50), 2),
            "route_p95_ms": round(_pct(total, 95), 2),
            "embed_p50_ms": round(_pct(embed_ms, 50), 2),
            "search_rerank_p50_ms": round(_pct(rest_ms, 50), 2),
            "search_rerank_p95_ms": round(_pct(rest_ms, 95), 2),
            "fast_search_rerank_p50_ms": round(_pct(fast_ms, 50), 2),
            "fast_route_p50_ms": round(_pct([a + b for a, b in zip(embed_ms, fast_ms,
                                                                    strict=True)], 50), 2),
            "queries": len(total),
        }
        curve.append(point)
        if console is not None:
            console.print(f"latency @ {point['tools']} tools: route p50 "
                          f"{point['route_p50_ms']} ms (embed {point['embed_p50_ms']} ms, "
                          f"search+rerank {point['search_rerank_p50_ms']} ms)")
    return curve


def _print(results: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    acc = results["accuracy"]
    table = Table(title="Dispatcher routing on BBH (threshold calibrated on the other splits)")
    for col in ("method", "top-1 (known)", "known routed+accepted", "unknown detected",
                "balanced", "paraphrase top-1", "paraphrase accepted", "thresholds"):
        table.add_column(col)
    for variant, ev in acc["variants"].items():
        para = acc["paraphrases"][variant]
        table.add_row(
            variant, f"{ev['top1']:.3f}", f"{ev['known_accepted']:.3f}",
            f"{ev['unknown_detected']:.3f}", f"{ev['balanced']:.3f}", f"{para['top1']:.3f}",
            f"{para['known_accepted']:.3f}",
            ", ".join(f"{t:.3f}" for t in ev["thresholds"]),
        )
    console.print(table)
    shipped = acc["shipped_threshold"]
    console.print(
        f"shipped threshold {shipped['threshold']:.3f}: known accepted "
        f"{shipped['known_accepted']:.3f}, unknown detected {shipped['unknown_detected']:.3f}"
    )
    conf = Table(title="Per-task confusion (dispatcher)")
    for col in ("task", "known q", "correct", "unknown q", "detected", "routed to (top 3)"):
        conf.add_column(col)
    for task, row in acc["confusion"].items():
        top = ", ".join(f"{k}:{v}" for k, v in list(row["routed_to"].items())[:3])
        conf.add_row(task, str(row["as_known"]), str(row["known_correct"]),
                     str(row["as_unknown"]), str(row["unknown_detected"]), top)
    console.print(conf)
    if results.get("latency"):
        lat = Table(title="Route latency vs repository size (p50 / p95 ms)")
        for col in ("tools", "route p50", "route p95", "embed p50", "search+rerank p50",
                    "search+rerank p95", "two-stage search+rerank p50", "index s"):
            lat.add_column(col)
        for p in results["latency"]:
            lat.add_row(str(p["tools"]), str(p["route_p50_ms"]), str(p["route_p95_ms"]),
                        str(p["embed_p50_ms"]), str(p["search_rerank_p50_ms"]),
                        str(p["search_rerank_p95_ms"]), str(p["fast_search_rerank_p50_ms"]),
                        str(p["index_seconds"]))
        console.print(lat)


def run_dispatch_benchmark(
    data_dir: str | Path | None = None,
    *,
    n: int | None = None,
    quick: bool = False,
    splits: int | None = None,
    n_known: int = 20,
    seed: int = 0,
    query_offset: int = 30,
    latency_sizes: Sequence[int] | None = None,
    latency_queries: int | None = None,
    embeddings: Embeddings | None = None,
    out: str | Path | None = None,
    console: Any = None,
    workdir: str | Path | None = None,
) -> dict[str, Any]:
    """Run the dispatcher benchmark, print the tables and write the JSON results.

    Args:
        data_dir: Data root (``../shared/data``) or the ``bbh`` directory.
        n: Test questions per task (default 80, quick 6).
        quick: Small, CI-sized run (3 splits, latency up to 500 tools).
        splits: Random indexed/held-out splits (default 5, quick 3).
        n_known: Tasks indexed per split (the rest are unknown).
        seed: Seed of the splits.
        query_offset: Skip this many test questions per task (the ones used to choose the
            re-ranker's weights).
        latency_sizes: Repository sizes of the latency curve (default 100, 1,000, 10,000).
        latency_queries: Routed questions per size (default 60, quick 15).
        embeddings: Embedding to benchmark (default: the offline default).
        out: JSON path (default ``bench/results/dispatch.json``).
        console: A ``rich`` console to print to (``None``: silent).
        workdir: Where the temporary repositories go (default: a temporary directory).

    Returns:
        The results (also written to ``out``).
    """
    n = n if n is not None else (6 if quick else 80)
    splits = splits if splits is not None else (3 if quick else 5)
    sizes = tuple(latency_sizes) if latency_sizes is not None else (
        (100, 500) if quick else (100, 1000, 10_000))
    n_lat = latency_queries if latency_queries is not None else (15 if quick else 60)
    base = embeddings if embeddings is not None else default_embeddings()
    cached = CachedEmbeddings(base)
    out_path = Path(out) if out is not None else Path("bench/results/dispatch.json")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="latm-dispatch-",
                                     dir=str(workdir) if workdir else None) as tmp:
        accuracy = _accuracy(
            data_dir, n=n, splits=splits, n_known=n_known, seed=seed, query_offset=query_offset,
            embeddings=cached, workdir=Path(tmp), console=console,
        )
        latency = _latency(data_dir, sizes=sizes, n_queries=n_lat, embeddings=base,
                           workdir=Path(tmp), console=console) if sizes else []
    main = accuracy["variants"][_MAIN]
    biggest = latency[-1] if latency else None
    results: dict[str, Any] = {
        "benchmark": "dispatch",
        "mode": "quick" if quick else "full",
        "embedding": cached.embedding_id,
        "llm": None,
        "config": {
            "questions_per_task": n, "splits": splits, "tasks_indexed_per_split": n_known,
            "seed": seed, "query_offset": query_offset, "use_cases": "val examples 5-7",
            "threshold_protocol": "leave-one-split-out (split i scored with the threshold "
                                  "that maximises balanced accuracy on the other splits)",
        },
        "targets": {
            "top1": TARGET_TOP1, "unknown_detected": TARGET_UNKNOWN,
            "route_p50_ms_at_10k": TARGET_ROUTE_P50_MS,
        },
        "summary": {
            "top1": round(main["top1"], 4),
            "known_accepted": round(main["known_accepted"], 4),
            "unknown_detected": round(main["unknown_detected"], 4),
            "balanced": round(main["balanced"], 4),
            "paraphrase_top1": round(accuracy["paraphrases"][_MAIN]["top1"], 4),
            "paraphrase_accepted": round(accuracy["paraphrases"][_MAIN]["known_accepted"], 4),
            "top1_target_met": main["top1"] >= TARGET_TOP1,
            "unknown_target_met": main["unknown_detected"] >= TARGET_UNKNOWN,
            "largest_repository": biggest["tools"] if biggest else None,
            "route_p50_ms_largest": biggest["route_p50_ms"] if biggest else None,
            "search_rerank_p50_ms_largest": biggest["search_rerank_p50_ms"] if biggest else None,
            "two_stage_search_rerank_p50_ms_largest": (
                biggest["fast_search_rerank_p50_ms"] if biggest else None),
        },
        "accuracy": accuracy,
        "latency": latency,
        "embedding_seconds": round(cached.seconds, 2),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if console is not None:
        _print(results, console)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2, default=float), encoding="utf-8")
    if console is not None:
        console.print(f"wrote {out_path}")
    return results
