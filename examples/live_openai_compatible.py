"""The full LATM loop against a real model endpoint (skipped without a key or base URL).

- OpenAI: ``OPENAI_API_KEY=... python examples/live_openai_compatible.py``
  (models: ``$LATM_MAKER_MODEL`` default ``openai:gpt-4o``, ``$LATM_USER_MODEL`` default
  ``openai:gpt-4o-mini``).
- Any OpenAI-compatible server (vLLM, Ollama, llama.cpp server):
  ``LATM_BASE_URL=http://127.0.0.1:8000/v1 LATM_MAKER_MODEL=my-model python examples/...``
  (the key, if the server needs one, comes from ``OPENAI_API_KEY``).

The strong model makes a word-sorting tool from the BBH demonstrations (verified by the
harness against the gold answers), the weak model answers test questions with it, and the
cost report compares that with answering every question with the strong model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from langchain_latm import LATM, ToolRepository
from langchain_latm.models import load_chat_model
from langchain_latm.tasks import answers_match, load_bbh_task


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="word_sorting")
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    base_url = os.environ.get("LATM_BASE_URL")
    if not base_url and not os.environ.get("OPENAI_API_KEY"):
        print("skipped: set OPENAI_API_KEY or LATM_BASE_URL to run against a real model")
        return 0
    default_maker = "openai:gpt-4o" if not base_url else "default"
    maker_name = os.environ.get("LATM_MAKER_MODEL", default_maker)
    user_name = os.environ.get("LATM_USER_MODEL",
                               "openai:gpt-4o-mini" if not base_url else maker_name)
    maker = load_chat_model(maker_name, base_url=base_url, temperature=0.0, max_tokens=2048)
    user = load_chat_model(user_name, base_url=base_url, temperature=0.0, max_tokens=512)
    task = load_bbh_task(args.task, args.data_dir)

    with tempfile.TemporaryDirectory() as tmp:
        latm = LATM(maker, user, repository=ToolRepository(path=f"{tmp}/tools"))
        correct = 0
        for demo in task.test[: args.questions]:
            answer = latm.solve(demo.question, task=task)
            ok = answer.ok and answers_match(answer.answer, demo.answer, question=demo.question,
                                             task=task.name)
            correct += ok
            print(f"[{answer.metadata.get('outcome')}] {'OK ' if ok else 'BAD'} "
                  f"{answer.answer!r} (gold {demo.answer!r}) {answer.error or ''}")
        print(f"accuracy {correct}/{args.questions}")
        report = latm.cost_report(n=1000)
        print(f"n=1000: direct ${report.direct_total:.2f} vs LATM ${report.latm_total:.2f}, "
              f"break-even n = {report.break_even_n} "
              f"(prices: {report.strong_model} / {report.weak_model}; direct cost estimated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
