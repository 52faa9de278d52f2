"""The LATM paper's published accuracies, so a live run can print its own numbers beside them.

Source: Cai et al., *Large Language Models as Tool Makers*, ICLR 2024 (arXiv:2305.17126),
the accuracy table comparing LATM with chain-of-thought (Table 3 in arXiv v1, Table 2 in the
ICLR version): the tool is made by GPT-4 and used by GPT-3.5 Turbo or GPT-4; 240 test
instances per task (the split ``load_bbh_task`` reproduces: 3 train, 3 validation, the rest
test). The CoT rows use the few-shot CoT prompts of Suzgun et al. (2022) for the first four
tasks and direct few-shot prompts (no rationale) for Chinese remainder theorem and schedule
meeting, exactly as in ``shared/data/bbh-cot``.

How the numbers were checked (no number here is estimated or recomputed): the full table was
read from a translation of the ICLR 2024 paper stored in the public code index the project's
lookup tool searches; the GPT-3.5 Turbo Dyck-language pair (CoT 20.4, LATM 92.2, +71.8) is
also quoted in an independent summary (papers.lunadong.com/paper/8434). Every row's
LATM-minus-CoT delta printed in the paper (e.g. ``79.7 (+13.3)``) agrees with its two cells.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "PAPER_SOURCE",
    "PAPER_TABLE",
    "PAPER_TASKS",
    "PAPER_TOOL_USER_TABLE",
    "PaperResult",
    "paper_accuracy",
]

PAPER_SOURCE = (
    "Cai et al., Large Language Models as Tool Makers, ICLR 2024 (arXiv:2305.17126), "
    "accuracy table LATM vs CoT (tool made by GPT-4)"
)

PAPER_TASKS: tuple[str, ...] = (
    "logical_deduction_five_objects",
    "tracking_shuffled_objects_five_objects",
    "dyck_languages",
    "word_sorting",
    "chinese_remainder_theorem",
    "schedule_meeting",
)
"""The six tasks of the paper, in the paper's column order."""

Method = Literal["cot", "latm"]


class PaperResult(BaseModel):
    """One published accuracy (percent) of the paper.

    Attributes:
        task: Task name (the BBH file stem).
        user_model: The model answering the questions (CoT) or using the tool (LATM).
        method: ``"cot"`` (few-shot chain-of-thought) or ``"latm"`` (GPT-4-made tool).
        accuracy: Accuracy in percent on the paper's test split.
    """

    model_config = ConfigDict(frozen=True)

    task: str
    user_model: str
    method: Method
    accuracy: float


def _rows(user_model: str, method: Method, values: tuple[float, ...]) -> list[PaperResult]:
    return [
        PaperResult(task=task, user_model=user_model, method=method, accuracy=value)
        for task, value in zip(PAPER_TASKS, values, strict=True)
    ]


PAPER_TABLE: tuple[PaperResult, ...] = tuple(
    _rows("gpt-3.5-turbo", "cot", (66.4, 61.6, 20.4, 59.2, 0.0, 18.9))
    + _rows("gpt-3.5-turbo", "latm", (79.7, 99.6, 92.2, 98.3, 100.0, 100.0))
    + _rows("gpt-4", "cot", (88.8, 100.0, 63.6, 90.9, 0.0, 55.6))
    + _rows("gpt-4", "latm", (86.6, 100.0, 87.5, 99.1, 100.0, 100.0))
)
"""The paper's LATM-vs-CoT accuracy table (percent), tool maker GPT-4 throughout."""

PAPER_TOOL_USER_TABLE: dict[str, dict[str, float]] = {
    "gpt-3.5-turbo": dict(zip(PAPER_TASKS, (79.7, 99.6, 92.2, 98.3, 100.0, 100.0), strict=True)),
    "text-davinci-002": dict(
        zip(PAPER_TASKS, (58.2, 100.0, 35.8, 60.8, 100.0, 100.0), strict=True)
    ),
}
"""LATM accuracy (percent) with other tool users, same GPT-4-made tool (the paper's tool-user
ablation table; only the two rows used in comparisons here)."""


def paper_accuracy(
    task: str, method: Method = "latm", user_model: str = "gpt-3.5-turbo"
) -> float | None:
    """Return the paper's published accuracy (percent) for one cell, if the paper has it.

    Args:
        task: Task name, e.g. ``"word_sorting"``.
        method: ``"latm"`` or ``"cot"``.
        user_model: ``"gpt-3.5-turbo"`` or ``"gpt-4"``.

    Returns:
        The accuracy in percent, or ``None`` for tasks or models the paper did not report.
    """
    for row in PAPER_TABLE:
        if row.task == task and row.method == method and row.user_model == user_model:
            return row.accuracy
    return None
