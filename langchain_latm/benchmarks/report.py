"""Markdown report and matplotlib plots for the accuracy and throughput benchmarks.

``write_report(reports, out_dir)`` writes, next to each other:

- ``report.md``: accuracy per task and method beside the paper's published numbers, tokens
  and dollars per role, ``C_direct`` vs ``C_LATM`` and the break-even ``n``, the
  throughput/overhead table when given;
- ``accuracy_vs_cost.png``: accuracy against dollars per question, one point per
  (task, method); LATM's making cost is amortised over the test split;
- ``cumulative_cost.png``: cumulative dollars against ``n`` for direct answering and for
  LATM, with the break-even point marked, one panel per task.

Plots use matplotlib's object API with the Agg canvas (no global backend change).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_latm.benchmarks.accuracy import AccuracyReport, MethodSummary
from langchain_latm.benchmarks.paper import PAPER_SOURCE, PAPER_TABLE, PAPER_TASKS
from langchain_latm.cost import direct_cost, latm_cost
from langchain_latm.errors import LATMError

__all__ = [
    "cost_per_question",
    "plot_accuracy_vs_cost",
    "plot_cumulative_cost",
    "render_markdown",
    "write_report",
]

_METHOD_LABEL = {
    "latm": "LATM (tool user)",
    "cot": "CoT (user model)",
    "direct": "direct (strong model)",
}
_METHOD_COLOR = {"latm": "#1f77b4", "cot": "#ff7f0e", "direct": "#2ca02c"}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _money(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"${value:.{digits}f}"


def cost_per_question(report: AccuracyReport, method: str) -> float | None:
    """Dollars per question of ``method`` on the report's test split.

    For ``latm`` the one-off making cost is amortised over the questions answered:
    ``(C_make + sum(user costs)) / n``. ``None`` when unpriced or the method did not run.

    Args:
        report: One task's accuracy report.
        method: ``"latm"``, ``"cot"`` or ``"direct"``.
    """
    summary = report.method(method)
    if summary is None or summary.n == 0 or summary.cost_usd is None:
        return None
    total = summary.cost_usd
    if method == "latm":
        making = report.tool.making_cost_usd if report.tool else None
        if making is None:
            return None
        total += making
    return total / summary.n


def _accuracy(summary: MethodSummary | None) -> str:
    if summary is None or summary.n == 0:
        return "–"
    text = f"{100 * summary.accuracy:.1f}"
    if summary.errors:
        text += f" ({summary.errors} err)"
    return text


def render_markdown(
    reports: Sequence[AccuracyReport],
    *,
    throughput: Mapping[str, Any] | None = None,
    plots: Mapping[str, str] | None = None,
    title: str = "LATM benchmark report",
) -> str:
    """Render the Markdown report.

    Args:
        reports: Accuracy reports, one per task.
        throughput: The throughput benchmark's JSON payload (``bench/results/throughput.json``).
        plots: Plot file names to embed (``{"caption": "file.png"}``).
        title: The report's title.

    Returns:
        Markdown text.
    """
    lines: list[str] = [f"# {title}", ""]
    lines.append(f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.")
    lines.append("")
    if any(r.offline for r in reports):
        lines += [
            "> **Offline plumbing run.** The tool maker is a replayed recorded session and the "
            "tool user / baseline models are scripted (the scripted user copies a use-case "
            "snippet of the tool, so it runs but may answer a different question). The "
            "accuracies below measure the harness (sandbox, scoring, resumption, cost "
            "accounting), **not** LATM or the baselines. Run `latm bench accuracy` with real "
            "models for meaningful numbers.",
            "",
        ]

    if reports:
        lines += ["## Accuracy (%)", ""]
        lines.append(
            "Same split as the paper (3 train / 3 validation / rest test) and the task's "
            "answer normaliser. Paper columns: GPT-4 tool maker; GPT-3.5 Turbo as tool user "
            "and as CoT model; GPT-4 CoT as the strong-model baseline."
        )
        lines.append("")
        lines.append(
            "| task | n | LATM | CoT | direct | paper LATM (3.5 user) | paper CoT (3.5) "
            "| paper CoT (GPT-4) |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in reports:
            paper = r.paper
            lines.append(
                f"| {r.task_key} | {r.n_test} | {_accuracy(r.method('latm'))} "
                f"| {_accuracy(r.method('cot'))} | {_accuracy(r.method('direct'))} "
                f"| {_pct(paper.get('latm (gpt-4 maker, gpt-3.5-turbo user)'))} "
                f"| {_pct(paper.get('cot (gpt-3.5-turbo)'))} "
                f"| {_pct(paper.get('cot (gpt-4)'))} |"
            )
        lines.append("")
        def distinct(key: str) -> str:
            values = sorted({str(r.models.get(key)) for r in reports if r.models.get(key)})
            if len(values) > 3:
                return f"{len(values)} different (see the JSON files)"
            return ", ".join(f"`{v}`" for v in values) or "–"

        lines.append(
            f"Models: maker {distinct('maker')}, user {distinct('user')}, strong "
            f"{distinct('strong')}; priced as: maker/strong {distinct('strong_priced_as')}, "
            f"user {distinct('user_priced_as')}."
        )
        lines.append("")

        lines += ["## Tokens and dollars per role", ""]
        lines.append(
            "| task | making (tokens / $) | user per question (tokens / $) | direct per "
            "question (tokens / $) | C_direct(n) | C_LATM(n) | break-even n |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for r in reports:
            c = r.cost
            if c is None:
                lines.append(f"| {r.task_key} | – | – | – | – | – | unpriced |")
                continue
            roles = {role.role: role for role in c.roles}
            maker = roles.get("maker")
            user = roles.get("user (per question)")
            direct = roles.get("direct (per question)")

            def cell(role: Any, digits: int = 5) -> str:
                if role is None:
                    return "–"
                est = " (est.)" if role.estimated else ""
                return f"{role.usage.total_tokens:,} / {_money(role.dollars, digits)}{est}"

            lines.append(
                f"| {r.task_key} | {cell(maker, 4)} | {cell(user)} | {cell(direct)} "
                f"| {_money(c.direct_total)} | {_money(c.latm_total)} "
                f"| {c.break_even_n if c.break_even_n is not None else 'never'} |"
            )
        lines.append("")
        lines.append(
            "`C_direct(n) = n * c_strong`, `C_LATM(n) = k * c_make + n * c_weak` (k = 1 tool "
            "per task), at n = the test split size; break-even n = first n where LATM is "
            "cheaper. \"est.\" marks usage estimated from prompt lengths (the direct method "
            "did not run) or produced by offline fakes."
        )
        lines.append("")
        notes = [n for r in reports for n in r.notes]
        if notes:
            lines += ["Notes:", ""] + [f"- {n}" for n in dict.fromkeys(notes)] + [""]

    if plots:
        lines += ["## Plots", ""]
        for caption, file in plots.items():
            lines += [f"![{caption}]({file})", ""]

    if throughput:
        lines += _throughput_markdown(throughput)

    lines += ["## The paper's published numbers", ""]
    lines.append(f"Source: {PAPER_SOURCE}.")
    lines.append("")
    header = "| user model | method | " + " | ".join(PAPER_TASKS) + " |"
    lines += [header, "|---|---|" + "---:|" * len(PAPER_TASKS)]
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for row in PAPER_TABLE:
        rows.setdefault((row.user_model, row.method), {})[row.task] = row.accuracy
    for (user_model, method), cells in rows.items():
        values = " | ".join(_pct(cells.get(t)) for t in PAPER_TASKS)
        lines.append(f"| {user_model} | {method} | {values} |")
    lines.append("")
    return "\n".join(lines)


def _throughput_markdown(payload: Mapping[str, Any]) -> list[str]:
    lines = ["## Throughput and framework overhead (offline)", ""]
    latency = payload.get("latency_s")
    lines.append(
        f"Scripted tool-user model with {latency} s simulated latency per call, replayed "
        f"makers, real sandbox and dispatcher; n = {payload.get('n')} questions per level. "
        "`graph` = the whole LATM graph; `components` = dispatcher + tool user called "
        "directly. Overhead = wall time per question minus simulated model latency."
    )
    lines.append("")
    lines.append(
        "| embedding | pipeline | concurrency | questions/s | ideal q/s | efficiency "
        "| overhead p50 (ms) "
        "| dispatch p50 | sandbox p50 | other p50 |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for level in payload.get("levels", []):
        lines.append(
            f"| {level.get('embedding', '')} | {level.get('pipeline', 'graph')} "
            f"| {level['concurrency']} "
            f"| {level['throughput_qps']:.2f} "
            f"| {level['ideal_qps']:.2f} | {100 * level['efficiency']:.1f}% "
            f"| {level['overhead_ms']['p50']:.2f} | {level['dispatch_ms']['p50']:.2f} "
            f"| {level['sandbox_ms']['p50']:.2f} | {level['other_ms']['p50']:.2f} |"
        )
    lines.append("")
    targets = payload.get("targets") or {}
    if targets:
        lines.append(
            f"Targets: efficiency at concurrency 16 >= {targets.get('efficiency_at_16')} "
            f"({'met' if targets.get('efficiency_met') else 'MISSED'}); overhead p50 <= "
            f"{targets.get('overhead_p50_ms')} ms "
            f"({'met' if targets.get('overhead_met') else 'MISSED'})."
        )
        lines.append("")
    for finding in payload.get("findings", []):
        lines.append(f"- {finding}")
    if payload.get("findings"):
        lines.append("")
    return lines


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # matplotlib is an optional (bench) dependency
        raise LATMError(
            "plots need matplotlib: pip install 'langchain-latm[bench]'"
        ) from exc
    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def plot_accuracy_vs_cost(reports: Sequence[AccuracyReport], path: str | Path) -> Path | None:
    """Scatter accuracy against dollars per question, one point per (task, method).

    Args:
        reports: Accuracy reports.
        path: PNG file to write.

    Returns:
        The path written, or ``None`` when no method has both a price and an accuracy.

    Raises:
        LATMError: matplotlib is not installed.
    """
    points: list[tuple[str, str, float, float]] = []
    for r in reports:
        for summary in r.methods:
            dollars = cost_per_question(r, summary.method)
            if dollars is not None and summary.n:
                points.append((r.task_key, summary.method, dollars, 100 * summary.accuracy))
    if not points:
        return None
    figure = _figure(7.5, 5.0)
    ax = figure.add_subplot(1, 1, 1)
    seen: set[str] = set()
    for task, method, dollars, accuracy in points:
        label = _METHOD_LABEL.get(method, method) if method not in seen else None
        seen.add(method)
        ax.scatter(
            [dollars], [accuracy], s=60, color=_METHOD_COLOR.get(method, "#7f7f7f"),
            label=label, edgecolors="black", linewidths=0.5, zorder=3,
        )
        ax.annotate(
            task.replace("_", " ")[:22], (dollars, accuracy), textcoords="offset points",
            xytext=(4, 4), fontsize=7,
        )
    if all(p[2] > 0 for p in points):
        ax.set_xscale("log")
    ax.set_xlabel("dollars per question (LATM: making cost amortised over the test split)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-5, 105)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    title = "Accuracy vs cost per method"
    if any(r.offline for r in reports):
        title += " — OFFLINE plumbing run (not a method comparison)"
    ax.set_title(title, fontsize=9)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    return out


def plot_cumulative_cost(reports: Sequence[AccuracyReport], path: str | Path) -> Path | None:
    """Cumulative dollars vs ``n`` for direct answering and for LATM, break-even marked.

    Args:
        reports: Accuracy reports (those without a cost comparison are skipped).
        path: PNG file to write.

    Returns:
        The path written, or ``None`` when no report has a cost comparison.

    Raises:
        LATMError: matplotlib is not installed.
    """
    priced = [r for r in reports if r.cost is not None]
    if not priced:
        return None
    cols = min(3, len(priced))
    rows = (len(priced) + cols - 1) // cols
    figure = _figure(4.2 * cols, 3.3 * rows)
    for i, r in enumerate(priced, start=1):
        c = r.cost
        assert c is not None
        ax = figure.add_subplot(rows, cols, i)
        horizon = max(r.n_test, 2 * (c.break_even_n or 0), 10)
        ns = list(range(0, horizon + 1))
        ax.plot(ns, [direct_cost(n, c.c_strong) for n in ns], label="C_direct(n)",
                color=_METHOD_COLOR["direct"])
        ax.plot(ns, [latm_cost(n, k=c.k, c_make=c.c_make, c_weak=c.c_weak) for n in ns],
                label="C_LATM(n)", color=_METHOD_COLOR["latm"])
        if c.break_even_n is not None:
            n0 = c.break_even_n
            y0 = latm_cost(n0, k=c.k, c_make=c.c_make, c_weak=c.c_weak)
            ax.axvline(n0, color="grey", linestyle="--", linewidth=1)
            ax.scatter([n0], [y0], color="black", zorder=3)
            ax.annotate(f"break-even n={n0}", (n0, y0), textcoords="offset points",
                        xytext=(5, -12), fontsize=7)
        ax.set_title(r.task_key.replace("_", " "), fontsize=8)
        ax.set_xlabel("questions n", fontsize=7)
        ax.set_ylabel("cumulative $", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, loc="upper left")
    figure.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    return out


def write_report(
    reports: Sequence[AccuracyReport],
    out_dir: str | Path = "bench/results",
    *,
    throughput: Mapping[str, Any] | None = None,
    plots: bool = True,
    title: str = "LATM benchmark report",
) -> Path:
    """Write ``report.md`` and the PNG plots into ``out_dir``.

    Args:
        reports: Accuracy reports, one per task.
        out_dir: Directory for ``report.md``, ``accuracy_vs_cost.png`` and
            ``cumulative_cost.png``.
        throughput: The throughput benchmark's JSON payload, to include its table.
        plots: Draw the plots (needs matplotlib; skipped with a note if it is missing).
        title: The report's title.

    Returns:
        The path of ``report.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    embedded: dict[str, str] = {}
    extra_notes: list[str] = []
    if plots and reports:
        try:
            written = plot_accuracy_vs_cost(reports, out / "accuracy_vs_cost.png")
            if written is not None:
                embedded["Accuracy vs cost per method"] = written.name
            written = plot_cumulative_cost(reports, out / "cumulative_cost.png")
            if written is not None:
                embedded["Cumulative cost vs n, break-even marked"] = written.name
        except LATMError as exc:
            extra_notes.append(f"plots skipped: {exc}")
    text = render_markdown(reports, throughput=throughput, plots=embedded, title=title)
    if extra_notes:
        text += "\n" + "\n".join(f"- {n}" for n in extra_notes) + "\n"
    path = out / "report.md"
    path.write_text(text, encoding="utf-8")
    return path
