"""The words app: search, neighbours and the map page of a words model, with our errors as 4xx."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from embedrec import EmbeddingTable, Word2Vec
from embedrec.cli.serve import _is_words
from embedrec.web.words import create_words_app

WORDS = ["hotel", "motel", "inn", "hostel", "apple", "pear", "plum", "house"]


@pytest.fixture(scope="module")
def table() -> EmbeddingTable:
    rng = np.random.default_rng(0)
    lodging, fruit = rng.normal(size=8), rng.normal(size=8)
    vectors = [lodging + 0.1 * rng.normal(size=8) for _ in range(4)] + [
        fruit + 0.1 * rng.normal(size=8) for _ in range(3)
    ]
    vectors.append(rng.normal(size=8))
    return EmbeddingTable(np.array(vectors, np.float32), WORDS, kind="word", counts=np.arange(8, 0, -1),
                          name="toy words")  # fmt: skip


@pytest.fixture(scope="module")
def client(table: EmbeddingTable) -> TestClient:
    return TestClient(create_words_app(table))


def test_search_lists_words_by_prefix_most_frequent_first(client: TestClient) -> None:
    assert [w["word"] for w in client.get("/words", params={"q": "HO"}).json()["words"]] == [
        "hotel", "hostel", "house"
    ]  # fmt: skip
    assert client.get("/words", params={"limit": 2}).json()["words"][0] == {"word": "hotel", "count": 8}


def test_similar_words_and_unknown_words(client: TestClient) -> None:
    body = client.get("/words/Hotel/similar", params={"n": 3}).json()
    assert body["word"]["word"] == "hotel"
    assert {w["word"] for w in body["similar"]} == {"motel", "inn", "hostel"}
    missing = client.get("/words/unicorn/similar")
    assert missing.status_code == 404 and "unicorn" in missing.json()["detail"]
    assert client.get("/words/hotel/similar", params={"n": 0}).status_code == 422


def test_page_and_health(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "toy words" in page.text and "<script" in page.text
    assert client.get("/health").json()["n_words"] == 8
    assert client.get("/docs").status_code == 200


def test_serve_tells_word_models_from_recommenders(tmp_path: Path, table: EmbeddingTable) -> None:
    model = Word2Vec(vector_size=4, min_count=1, epochs=1, workers=1, verbose=False).fit([WORDS] * 5)
    assert _is_words(model.save(tmp_path / "w2v")) and _is_words(table)
    vectors = tmp_path / "v.txt"
    vectors.write_text("1 2\nhotel 1 0\n")
    assert _is_words(vectors) and not _is_words(tmp_path / "nothing")
    app = create_words_app(tmp_path / "w2v")
    assert TestClient(app).get("/health").json()["n_words"] == 8
