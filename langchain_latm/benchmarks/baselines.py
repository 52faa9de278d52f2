"""Baselines the paper compares LATM with: few-shot CoT and direct strong-model answers.

Both use the 3-shot prompts of ``shared/data/bbh-cot/<task>.txt`` (Suzgun et al. 2022 for the
BBH tasks; direct few-shot prompts without rationale for Chinese remainder theorem and
schedule meeting, as in the paper). The model's final answer is read from the last
``"So the answer is ..."`` sentence, or, for prompts whose examples answer directly, from the
first line of the completion. Scoring (answer normalisation) is the benchmark's job, not
the baseline's: a baseline returns the raw extracted answer.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from pydantic import BaseModel, ConfigDict, Field

from langchain_latm.errors import DataNotFoundError, LATMError, ModelCallError
from langchain_latm.models import message_text as _message_text
from langchain_latm.models import model_name
from langchain_latm.schemas import Usage

__all__ = [
    "BaselineAnswer",
    "CoTBaseline",
    "CoTPrompt",
    "DirectBaseline",
    "build_prompt",
    "extract_answer",
    "find_cot_prompt",
    "load_cot_prompt",
    "parse_cot_prompt",
]

_CANARY_SEPARATOR = re.compile(r"^-{3,}\s*$", re.MULTILINE)
_SO_THE_ANSWER = re.compile(r"So the answer is\s*(.+?)\s*(?:\n|$)", re.IGNORECASE)
_COT_TRIGGER = "Let's think step by step."


class CoTPrompt(BaseModel):
    """A parsed few-shot prompt file.

    Attributes:
        task: Task name (the file stem).
        text: The prompt text without the canary header: description plus Q/A examples.
        chain_of_thought: True when the examples reason step by step (``"So the answer
            is"``); False for direct few-shot prompts.
        path: Where the prompt was read from.
    """

    model_config = ConfigDict(frozen=True)

    task: str
    text: str
    chain_of_thought: bool
    path: str | None = None

    @property
    def answer_only_text(self) -> str:
        """The same examples with each rationale replaced by its final answer alone."""
        if not self.chain_of_thought:
            return self.text
        blocks = re.split(r"\n(?=Q: )", self.text)
        out: list[str] = []
        for block in blocks:
            if not block.startswith("Q: ") or "\nA:" not in block:
                out.append(block)
                continue
            question, _, answer = block.partition("\nA:")
            final = extract_answer(answer, chain_of_thought=True)
            out.append(f"{question}\nA: {final}\n" if final is not None else block)
        return "\n".join(out)


class BaselineAnswer(BaseModel):
    """What a baseline returns for one question.

    Attributes:
        answer: The extracted final answer (not normalised), ``None`` if none was found.
        completion: The model's full reply.
        usage: Token usage of the call.
        latency_s: Wall-clock duration of the model call.
    """

    answer: str | None = None
    completion: str = ""
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0


def load_cot_prompt(task: str, data_dir: str | Path | None = None) -> CoTPrompt:
    """Read the 3-shot prompt of ``task`` from ``bbh-cot/<task>.txt``.

    Args:
        task: Task name, e.g. ``"dyck_languages"``.
        data_dir: The data root (holding ``bbh-cot/``) or the ``bbh-cot`` directory itself;
            ``None`` uses the project's data lookup
            (:func:`langchain_latm.tasks.find_data_dir`).

    Returns:
        The parsed prompt.

    Raises:
        DataNotFoundError: When no prompt directory, or no prompt file for ``task``, exists.
    """
    from langchain_latm.tasks import find_data_dir

    directory = find_data_dir(data_dir, kind="bbh-cot")
    path = directory / f"{task}.txt"
    if not path.is_file():
        available = ", ".join(sorted(p.stem for p in directory.glob("*.txt"))) or "none"
        raise DataNotFoundError(
            f"no few-shot prompt for task {task!r} in {directory}; available: {available}",
            looked_in=[str(path)],
        )
    return parse_cot_prompt(path.read_text(encoding="utf-8"), task=task, path=path)


_SIZED = re.compile(r"^(?P<family>.+?)_(?P<size>[a-z]+)_objects$")


def find_cot_prompt(task: str, data_dir: str | Path | None = None) -> CoTPrompt:
    """The few-shot prompt for ``task``, falling back to a sibling of the same family.

    Generated tasks are named after the matching BBH task, also for sizes BBH does not have
    (``tracking_shuffled_objects_nine_objects``); those use the prompt of the largest
    available size of the family (the examples show the same reasoning, on fewer objects).

    Args:
        task: Task name.
        data_dir: See :func:`load_cot_prompt`.

    Returns:
        The prompt; ``prompt.task`` names the file actually used.

    Raises:
        DataNotFoundError: Neither the task nor its family has a prompt.
    """
    try:
        return load_cot_prompt(task, data_dir)
    except DataNotFoundError as missing:
        match = _SIZED.match(task)
        if match is None:
            raise
        from langchain_latm.tasks import find_data_dir

        directory = find_data_dir(data_dir, kind="bbh-cot")
        family = match.group("family")
        order = ["three", "four", "five", "six", "seven", "eight", "nine", "ten"]
        siblings = []
        for path in directory.glob(f"{family}_*_objects.txt"):
            sized = _SIZED.match(path.stem)
            if sized is not None and sized.group("size") in order:
                siblings.append((order.index(sized.group("size")), path.stem))
        if not siblings:
            raise missing
        return load_cot_prompt(max(siblings)[1], data_dir)


def parse_cot_prompt(raw: str, *, task: str, path: str | Path | None = None) -> CoTPrompt:
    """Parse the text of a ``bbh-cot`` prompt file (canary line, ``-----``, examples).

    Args:
        raw: File content.
        task: Task name to record.
        path: Source path to record.

    Returns:
        The parsed prompt.
    """
    parts = _CANARY_SEPARATOR.split(raw, maxsplit=1)
    text = parts[1] if len(parts) == 2 and "canary" in parts[0].lower() else raw
    text = text.strip("\n") + "\n"
    return CoTPrompt(
        task=task,
        text=text,
        chain_of_thought=_SO_THE_ANSWER.search(text) is not None,
        path=str(path) if path is not None else None,
    )


def build_prompt(prompt: CoTPrompt, question: str, *, answer_only: bool = False) -> str:
    """Append ``question`` to the few-shot examples the way the examples are written.

    Args:
        prompt: The parsed few-shot prompt.
        question: The new question.
        answer_only: Use the examples without rationales and ask for the answer directly.

    Returns:
        The prompt text, ending with ``"A: Let's think step by step."`` for CoT prompts and
        ``"A:"`` otherwise.
    """
    examples = prompt.answer_only_text if answer_only else prompt.text
    lead = " " + _COT_TRIGGER if prompt.chain_of_thought and not answer_only else ""
    return f"{examples.rstrip()}\n\nQ: {question.strip()}\nA:{lead}"


def extract_answer(completion: str, *, chain_of_thought: bool = True) -> str | None:
    """Extract the final answer from a model's reply.

    For chain-of-thought replies the last ``"So the answer is X."`` wins (the trailing
    sentence period is dropped). Otherwise, and as a fallback, the first non-empty line of
    the reply is the answer, cut before any further ``Q:`` the model went on to invent.

    Args:
        completion: The model's reply.
        chain_of_thought: Whether the prompt asked for a rationale.

    Returns:
        The answer text, or ``None`` if the reply is empty or a CoT reply has no final answer.
    """
    text = completion.strip()
    if not text:
        return None
    matches = _SO_THE_ANSWER.findall(text)
    if matches:
        answer = matches[-1].strip()
        if answer.endswith("."):
            answer = answer[:-1].rstrip()
        return answer or None
    if chain_of_thought:
        return None
    text = re.split(r"\n\s*Q:", text, maxsplit=1)[0]
    if text.startswith("A:"):
        text = text[2:]
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None



class _FewShotBaseline:
    """Shared machinery: one model call per question on a few-shot prompt."""

    role: str = "user"

    def __init__(
        self,
        llm: BaseChatModel,
        task: str,
        *,
        data_dir: str | Path | None = None,
        prompt: CoTPrompt | None = None,
        answer_only: bool = False,
    ) -> None:
        self.llm = llm
        self.task = task
        self.prompt = prompt if prompt is not None else load_cot_prompt(task, data_dir)
        self.answer_only = answer_only
        self.model = model_name(llm)

    def render(self, question: str) -> str:
        """The exact prompt sent for ``question``."""
        return build_prompt(self.prompt, question, answer_only=self.answer_only)

    def _finish(self, message: BaseMessage, started: float) -> BaselineAnswer:
        text = _message_text(message)
        cot = self.prompt.chain_of_thought and not self.answer_only
        return BaselineAnswer(
            answer=extract_answer(text, chain_of_thought=cot),
            completion=text,
            usage=Usage.from_message(message, model=self.model),
            latency_s=time.perf_counter() - started,
        )

    def _error(self, exc: Exception) -> ModelCallError:
        return ModelCallError(
            f"{type(self).__name__} model call failed on task {self.task!r}: "
            f"{type(exc).__name__}: {exc}",
            role=self.role,
            model=self.model,
            cause=exc,
        )

    def answer(self, question: str) -> BaselineAnswer:
        """Answer one question with one model call.

        Raises:
            ModelCallError: The model call failed (after the client's own retries).
        """
        started = time.perf_counter()
        try:
            message = self.llm.invoke([HumanMessage(self.render(question))])
        except LATMError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc
        return self._finish(message, started)

    async def aanswer(self, question: str) -> BaselineAnswer:
        """Async :meth:`answer`.

        Raises:
            ModelCallError: The model call failed (after the client's own retries).
        """
        started = time.perf_counter()
        try:
            message = await self.llm.ainvoke([HumanMessage(self.render(question))])
        except LATMError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc
        return self._finish(message, started)


class CoTBaseline(_FewShotBaseline):
    """The paper's CoT baseline: the (cheap) model answers with the 3-shot CoT prompt.

    Args:
        llm: The model answering (the paper: GPT-3.5 Turbo, the tool user's model).
        task: Task name; selects ``bbh-cot/<task>.txt``.
        data_dir: Where the data lives (see :func:`load_cot_prompt`).
        prompt: A pre-parsed prompt, instead of reading the file.
    """

    role = "user"

    def __init__(
        self,
        llm: BaseChatModel,
        task: str,
        *,
        data_dir: str | Path | None = None,
        prompt: CoTPrompt | None = None,
    ) -> None:
        super().__init__(llm, task, data_dir=data_dir, prompt=prompt, answer_only=False)


class DirectBaseline(_FewShotBaseline):
    """Direct answering with the strong model: ``C_direct = n * c_strong``.

    By default the strong model gets the same 3-shot CoT prompt (the paper's "GPT-4 CoT"
    row); ``style="answer_only"`` strips the rationales and asks for the answer alone.

    Args:
        llm: The strong model (the paper: GPT-4, the tool maker's model).
        task: Task name; selects ``bbh-cot/<task>.txt``.
        data_dir: Where the data lives (see :func:`load_cot_prompt`).
        style: ``"cot"`` (default) or ``"answer_only"``.
        prompt: A pre-parsed prompt, instead of reading the file.
    """

    role = "maker"

    def __init__(
        self,
        llm: BaseChatModel,
        task: str,
        *,
        data_dir: str | Path | None = None,
        style: Literal["cot", "answer_only"] = "cot",
        prompt: CoTPrompt | None = None,
    ) -> None:
        super().__init__(
            llm, task, data_dir=data_dir, prompt=prompt, answer_only=style == "answer_only"
        )
        self.style = style
