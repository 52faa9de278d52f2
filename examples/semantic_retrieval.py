"""Find cached tools by meaning, and let the dispatcher say when none fits (offline).

A repository on disk holds two hand-written tools. The dispatcher routes three questions:
one per tool, worded differently from the tools' use cases, and one that no tool covers
(*unknown*: in LATM that triggers tool making). The repository is also a LangChain
retriever. Uses the offline default embedding (no download, no API key).

Run: ``python examples/semantic_retrieval.py``.
"""

from __future__ import annotations

import tempfile

from langchain_latm import Dispatcher, ToolRepository, UseCase, WrappedTool


def hand_written_tools() -> list[WrappedTool]:
    """Two small tools written by hand (no maker model involved)."""
    sort_words = WrappedTool(
        name="sort_words",
        task="word_sorting",
        description="Sort a list of words alphabetically.",
        code=(
            "def sort_words(words: str) -> str:\n"
            '    """Sort space-separated words alphabetically."""\n'
            "    return ' '.join(sorted(words.split()))\n"
        ),
        use_cases=[
            UseCase(question="Sort the following words alphabetically: List: pear apple fig",
                    snippet="ans = sort_words('pear apple fig')", answer="apple fig pear"),
            UseCase(question="Sort the following words alphabetically: List: zebra mango kiwi",
                    snippet="ans = sort_words('zebra mango kiwi')", answer="kiwi mango zebra"),
        ],
    )
    count_days = WrappedTool(
        name="days_between",
        task="date_arithmetic",
        description="Count the days between two dates given as YYYY-MM-DD.",
        code=(
            "import datetime\n"
            "def days_between(start: str, end: str) -> int:\n"
            '    """Days from start to end (ISO dates)."""\n'
            "    d = datetime.date.fromisoformat\n"
            "    return (d(end) - d(start)).days\n"
        ),
        use_cases=[
            UseCase(question="How many days are there between 2024-01-01 and 2024-03-01?",
                    snippet="ans = days_between('2024-01-01', '2024-03-01')", answer="60"),
            UseCase(question="How many days are there between 2023-05-10 and 2023-06-01?",
                    snippet="ans = days_between('2023-05-10', '2023-06-01')", answer="22"),
        ],
    )
    return [sort_words, count_days]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = ToolRepository(path=f"{tmp}/.latm")
        for tool in hand_written_tools():
            repo.add(tool)
        dispatcher = Dispatcher(repo)
        questions = [
            "Please put these words in alphabetical order: List: tomato banana cherry",
            "How many days are there between 2022-02-01 and 2022-02-20?",
            "Who painted the ceiling of the Sistine Chapel?",
        ]
        for question in questions:
            route = dispatcher.route(question)
            target = route.tool.name if route.tool else "UNKNOWN (make a new tool)"
            print(f"route: {question[:60]!r} -> {target} (score {route.score:.2f})")
        retriever = repo.as_retriever(k=1)
        doc = retriever.invoke("alphabetical order of some words")[0]
        print(f"retriever: {doc.metadata['name']} v{doc.metadata['version']} "
              f"(score {doc.metadata['score']:.2f})")


if __name__ == "__main__":
    main()
