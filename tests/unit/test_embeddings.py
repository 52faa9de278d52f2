"""Offline embeddings: MiniLM (ONNX, vendored tokenizer), hashing, hybrid, Chroma adapter."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from langchain_latm import embeddings as emb_mod
from langchain_latm.embeddings import (
    DEFAULT_EMBEDDING,
    HashingEmbeddings,
    HybridEmbeddings,
    LATMChromaEmbeddingFunction,
    MiniLMEmbeddings,
    default_embeddings,
    embedding_id_of,
    make_embeddings,
)


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbeddings:
    return MiniLMEmbeddings()


def _cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_vendored_tokenizer_ships_with_the_package() -> None:
    path = emb_mod._default_tokenizer_path()
    assert path.is_file() and path.stat().st_size > 400_000
    assert (path.parent / "README.md").read_text().count("Apache") >= 1


def test_minilm_vectors_are_unit_384d_and_semantic(minilm: MiniLMEmbeddings) -> None:
    docs = minilm.embed_documents(
        ["Sort a list of words alphabetically.", "Compute the date one week from today."]
    )
    assert len(docs) == 2 and all(len(v) == 384 for v in docs)
    assert all(abs(np.linalg.norm(v) - 1.0) < 1e-4 for v in docs)
    query = minilm.embed_query("Put these words in dictionary order: kiwi banana")
    assert _cos(query, docs[0]) > _cos(query, docs[1]) + 0.1


def test_minilm_batching_and_padding_do_not_change_vectors(minilm: MiniLMEmbeddings) -> None:
    texts = ["short", "a much longer sentence " * 20, "medium length text here", ""]
    batch = np.asarray(minilm.embed_documents(texts))
    single = np.asarray([minilm.embed_documents([t])[0] for t in texts])
    assert np.allclose(batch, single, atol=1e-4)
    queries = minilm.embed_query_array(texts)
    assert np.allclose(queries, np.asarray([minilm.embed_query(t) for t in texts]), atol=1e-4)
    # texts within the query limit embed the same as documents
    assert np.allclose(queries[[0, 2, 3]], batch[[0, 2, 3]], atol=1e-4)


def test_minilm_queries_keep_their_head_and_tail(minilm: MiniLMEmbeddings) -> None:
    """Queries are cut to ``query_max_length`` tokens: the first ones (what kind of
    question it is) and the last ``query_tail`` ones (its ask, its options)."""
    head = ("Sort the following words alphabetically and give them back separated by single "
            "spaces, keeping every word exactly as it is written in the list below. List:")
    tail = "Answer with the sorted list only."
    middle_a = " ".join(["apple", "pear", "kiwi", "plum"] * 15)
    middle_b = " ".join(["house", "river", "cloud", "stone"] * 15)
    qa, qb = f"{head} {middle_a}. {tail}", f"{head} {middle_b}. {tail}"
    other_tail = f"{head} {middle_a}. Which word comes last?"
    va, vb, vc = minilm.embed_query_array([qa, qb, other_tail])
    assert np.allclose(va, vb, atol=1e-5)  # only the middle differs: cut away
    assert float(np.dot(va, vc)) < 0.999  # the tail is kept
    da, db = minilm.embed_documents([qa, qb])
    assert float(np.dot(da, db)) < 0.999  # documents keep up to max_length tokens
    full = MiniLMEmbeddings(query_max_length=None)
    assert np.allclose(full.embed_query(qa), da, atol=1e-4)
    assert minilm.embedding_id == full.embedding_id  # stored vectors are the same
    ids = minilm._token_ids([qa], minilm.query_max_length or 0, minilm.query_tail)[0]
    assert len(ids) == minilm.query_max_length
    assert ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP]
    with pytest.raises(ValueError, match="query_tail"):
        MiniLMEmbeddings(query_max_length=16, query_tail=14)


def test_minilm_truncates_long_and_survives_odd_input(minilm: MiniLMEmbeddings) -> None:
    huge = "word " * 200_000  # ~1 MB
    odd = "caf\udce9 \x00 binary \ufffd"  # lone surrogate from a non-UTF-8 decode
    vectors = minilm.embed_documents([huge, odd])
    assert all(np.isfinite(v).all() and len(v) == 384 for v in vectors)


def test_minilm_matches_chroma_reference_pipeline(minilm: MiniLMEmbeddings) -> None:
    """Same model and tokenizer as Chroma's ONNXMiniLM_L6_V2 (which pads to 256): padding
    to the longest text must give the same mean-pooled vectors as fixed 256 padding."""
    session, tokenizer = minilm._load()
    text = "Sort the following words alphabetically: List: pear apple"
    enc = tokenizer.encode(text)
    ids = np.zeros((1, 256), dtype=np.int64)
    mask = np.zeros((1, 256), dtype=np.int64)
    ids[0, : len(enc.ids)] = enc.ids
    mask[0, : len(enc.ids)] = 1
    hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                "token_type_ids": np.zeros_like(ids)})[0]
    pooled = (hidden * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    pooled /= np.linalg.norm(pooled)
    assert np.allclose(pooled[0], minilm.embed_query(text), atol=2e-3)


def test_minilm_loads_without_network() -> None:
    """A fresh interpreter with sockets blocked still embeds (no download at run time)."""
    code = textwrap.dedent(
        """
        import socket
        def refuse(*a, **k):
            raise RuntimeError("network used")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        from langchain_latm.embeddings import default_embeddings
        print(len(default_embeddings().embed_query("hello")))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(("384", str(len(default_embeddings().embed_query("x")))))


def test_hashing_is_stable_across_processes() -> None:
    emb = HashingEmbeddings(dimension=256)
    here = emb.embed_query("Sort the following words: pear apple")
    code = (
        "from langchain_latm.embeddings import HashingEmbeddings;"
        "print(repr(HashingEmbeddings(dimension=256).embed_query("
        "'Sort the following words: pear apple')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    assert np.allclose(eval(proc.stdout), here)


def test_hashing_vectors_are_normalised_lexical_and_fixed_size() -> None:
    emb = HashingEmbeddings(dimension=1024)
    a, b, c, empty = emb.embed_documents(
        ["sort these words alphabetically", "Sort THESE words, alphabetically!",
         "what is the date tomorrow", ""]
    )
    assert len(a) == 1024 and abs(np.linalg.norm(a) - 1) < 1e-5
    assert _cos(a, b) > 0.99  # case and punctuation do not matter
    assert _cos(a, c) < 0.2
    assert not any(empty)
    bigram_swap = emb.embed_query("words these sort alphabetically")
    assert 0.3 < _cos(a, bigram_swap) < 0.99  # same words, different bigrams


def test_hybrid_cosine_is_weighted_sum_of_parts() -> None:
    dense, lexical = HashingEmbeddings(dimension=128, ngram_range=(1, 1)), HashingEmbeddings(
        dimension=512
    )
    hybrid = HybridEmbeddings(dense, lexical, dense_weight=0.3)
    x, y = "sort the words apple banana", "alphabetize words: pear fig apple"
    expected = 0.3 * _cos(dense.embed_query(x), dense.embed_query(y)) + 0.7 * _cos(
        lexical.embed_query(x), lexical.embed_query(y)
    )
    hx, hy = hybrid.embed_documents([x, y])
    assert len(hx) == 640 and abs(np.linalg.norm(hx) - 1) < 1e-5
    assert float(np.dot(hx, hy)) == pytest.approx(expected, abs=1e-5)
    assert "0.3*" in hybrid.embedding_id and lexical.embedding_id in hybrid.embedding_id


def test_embedding_ids_distinguish_configurations() -> None:
    ids = {
        HashingEmbeddings().embedding_id,
        HashingEmbeddings(dimension=512).embedding_id,
        HashingEmbeddings(ngram_range=(1, 1)).embedding_id,
        MiniLMEmbeddings().embedding_id,
        MiniLMEmbeddings(max_length=128).embedding_id,
        HybridEmbeddings(dense_weight=0.5).embedding_id,
        HybridEmbeddings(dense_weight=0.6).embedding_id,
    }
    assert len(ids) == 7
    from langchain_core.embeddings import DeterministicFakeEmbedding

    assert embedding_id_of(DeterministicFakeEmbedding(size=8)).endswith(
        "DeterministicFakeEmbedding:size=8"
    )


def test_default_and_factory() -> None:
    assert DEFAULT_EMBEDDING in ("minilm", "hashing", "hybrid")
    assert default_embeddings() is default_embeddings()
    default_id = embedding_id_of(default_embeddings())
    assert default_id == embedding_id_of(make_embeddings(DEFAULT_EMBEDDING))
    with pytest.raises(ValueError, match="unknown embedding"):
        make_embeddings("word2vec")


def test_chroma_embedding_function_adapter(tmp_path: object) -> None:
    ef = LATMChromaEmbeddingFunction("hashing")
    vectors = ef(["sort words", "date tomorrow"])
    assert len(vectors) == 2 and len(vectors[0]) == 4096
    assert LATMChromaEmbeddingFunction.name() == "langchain_latm"
    rebuilt = LATMChromaEmbeddingFunction.build_from_config(ef.get_config())
    assert np.allclose(rebuilt(["sort words"])[0], vectors[0])
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(str(tmp_path), settings=Settings(anonymized_telemetry=False))
    try:
        col = client.create_collection("ef_test", embedding_function=ef,
                                       configuration={"hnsw": {"space": "cosine"}})
        col.add(ids=["a", "b"], documents=["sort these words alphabetically", "what is the date"])
        assert col.query(query_texts=["please sort words"], n_results=1)["ids"] == [["a"]]
    finally:
        client.close()
