"""Prompts of the dispatcher's optional cheap-LLM confirmation step (the only place they live).

The confirmation step is used only for close calls (a best score near the threshold, or two
candidates too close to tell apart). The model sees the question and a short card per
candidate tool and must answer with one tool name or ``NONE``.
"""

from __future__ import annotations

__all__ = ["CANDIDATE_CARD", "CONFIRM_SYSTEM", "CONFIRM_USER", "NONE_TOKEN"]

NONE_TOKEN = "NONE"
"""What the model answers when no candidate tool fits the question."""

CONFIRM_SYSTEM = (
    "You route questions to cached Python tools. A tool fits only if it solves exactly the "
    "kind of question asked, with the same structure (for example the same number of "
    "objects or options as its examples). Reply with the tool's name only, or "
    f"{NONE_TOKEN} if no tool fits."
)

CONFIRM_USER = """Question:
{question}

Candidate tools:
{cards}

Which tool fits the question? Answer with exactly one of: {names}, {none}."""

CANDIDATE_CARD = """- name: {name}
  description: {description}
  example question: {example}"""
