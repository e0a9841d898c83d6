"""The HTTP API against the real app and a model trained on movielens-small: answers match the library,
bad input gets a 404 or 422 that says what was wrong, never a 500."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="fastapi is not installed")
with warnings.catch_warnings():  # starlette's notice that it would rather drive httpx2 than httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from embedrec.query.recommender import Recommender  # noqa: E402
from embedrec.show.assets import module_closure  # noqa: E402
from embedrec.web import create_app  # noqa: E402

TOY_STORY, STAR_WARS, FARGO = 1, 260, 608  # movielens ids


@pytest.fixture(scope="module")
def rec(small_model) -> Recommender:
    return Recommender(small_model)


@pytest.fixture(scope="module")
def client(small_model) -> TestClient:
    with TestClient(create_app(small_model, map_methods=["pca"]), raise_server_exceptions=False) as c:
        yield c


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def problem(response, status: int) -> str:
    assert response.status_code == status, response.text
    return json.dumps(response.json()["detail"])


# -- model and catalogue ---------------------------------------------------------------------------
def test_health_describes_the_model(client, small_model) -> None:
    body = ok(client.get("/health"))
    assert body["model"] == "DotBias" and body["status"] == "ok"
    assert body["n_items"] == small_model.n_items and body["n_users"] == small_model.n_users
    assert body["n_factors"] == 32
    assert body["scale"] == {"low": 0.5, "high": 5.0, "step": 0.5}
    assert body["map_methods"] == ["pca"] and body["version"]


def test_search_finds_toy_story_with_its_metadata(client, small_model) -> None:
    items = ok(client.get("/items", params={"q": "toy story", "limit": 5}))["items"]
    assert [it["title"] for it in items[:3]] == [
        "Toy Story (1995)",
        "Toy Story 2 (1999)",
        "Toy Story 3 (2010)",
    ]
    first = items[0]
    assert first["id"] == TOY_STORY and first["year"] == 1995 and "Animation" in first["genres"]
    counts = np.diff(small_model.seen_.tocsc().indptr)  # ratings per item, counted independently
    assert first["n_ratings"] == counts[small_model.item_ids_.index(TOY_STORY)] > 100


def test_empty_search_lists_the_most_rated(client) -> None:
    items = ok(client.get("/items", params={"limit": 20}))["items"]
    counts = [it["n_ratings"] for it in items]
    assert len(items) == 20 and counts == sorted(counts, reverse=True)


def test_get_item_and_unknown_items(client) -> None:
    assert ok(client.get(f"/items/{STAR_WARS}"))["title"].startswith("Star Wars: Episode IV")
    for raw in ("999999999", "abc", "²", "1.5", "9" * 150):
        assert "unknown item id" in problem(client.get(f"/items/{raw}"), 404)


# -- similar items and recommendations match the library ------------------------------------------
def test_similar_items_match_the_model(client, rec) -> None:
    for metric in ("cosine", "dot", "euclidean"):
        body = ok(client.get(f"/items/{TOY_STORY}/similar", params={"n": 7, "metric": metric}))
        ids, scores = rec.similar_items(TOY_STORY, n=7, metric=metric)
        assert [it["id"] for it in body["items"]] == ids.tolist()
        np.testing.assert_allclose([it["score"] for it in body["items"]], scores, rtol=1e-5)
        assert body["item"]["id"] == TOY_STORY and TOY_STORY not in ids
        distances = [it["distance"] for it in body["items"]]
        if metric == "euclidean":  # a distance: positive, smaller is closer, and the score is minus it
            np.testing.assert_allclose(distances, -scores, rtol=1e-5)
            assert min(distances) > 0 and distances == sorted(distances)
        else:
            assert distances == [None] * 7


def test_known_user_recommendations_match_the_model(client, small_model, rec) -> None:
    body = ok(client.get("/users/1/recommendations", params={"n": 10}))
    ids, scores = rec.recommend(1, n=10)
    assert body["user"] == 1 and [it["id"] for it in body["items"]] == ids.tolist()
    np.testing.assert_allclose([it["score"] for it in body["items"]], small_model.predict(1, ids), rtol=1e-5)
    seen = set(
        small_model.item_ids_.raw_ids[small_model.seen_[small_model.user_ids_.index(1)].indices].tolist()
    )
    assert not seen & set(ids.tolist())


def test_reasons_are_the_library_explanation(client, rec) -> None:
    """Each card's `because` is its own explanation's largest positive rated-item terms, in stars."""
    cards = ok(client.get("/users/1/recommendations", params={"n": 5}))["items"]
    for card in cards:
        rated = rec.explain(1, card["id"]).rated
        best = rated[rated.stars > 0].head(3)
        assert [b["id"] for b in card["because"]] == best["item"].tolist()
        np.testing.assert_allclose([b["weight"] for b in card["because"]], best["stars"], rtol=1e-4)
    assert len({tuple(b["id"] for b in c["because"]) for c in cards}) > 1  # reasons differ per card


def test_visitor_recommendations_fold_in_titles_and_ids(client, rec) -> None:
    by_title = [
        {"item": "toy story", "rating": 5},
        {"item": "Star Wars: Episode IV - A New Hope (1977)", "rating": 4.5},
        {"item": "fargo", "rating": 1},
    ]
    body = ok(client.post("/recommendations", json={"ratings": by_title, "n": 10}))
    ids, scores = rec.recommend_for_ratings([(TOY_STORY, 5), (STAR_WARS, 4.5), (FARGO, 1)], n=10)
    assert body["user"] is None and [it["id"] for it in body["items"]] == ids.tolist()
    np.testing.assert_allclose([it["score"] for it in body["items"]], scores, rtol=1e-5)
    assert not {TOY_STORY, STAR_WARS, FARGO} & set(ids.tolist())
    reasons = [b for it in body["items"] for b in it["because"]]
    # a reason is one of the visitor's movies that pulls this item's score up
    assert reasons and all(b["id"] in (TOY_STORY, STAR_WARS, FARGO) and b["weight"] > 0 for b in reasons)
    by_id = [{"item": TOY_STORY, "rating": 5}, {"item": "260", "rating": 4.5}, {"item": FARGO, "rating": 1}]
    again = ok(client.post("/recommendations", json={"ratings": by_id, "n": 10}))
    assert again["items"] == body["items"]  # the same answer, whichever way the items were named
    assert again["matched"] == []  # ids need no reading; each title says what it was taken to mean
    assert [(m["query"], m["id"], m["how"]) for m in body["matched"]] == [
        ("toy story", TOY_STORY, "exact"),
        ("Star Wars: Episode IV - A New Hope (1977)", STAR_WARS, "exact"),
        ("fargo", FARGO, "exact"),
    ]


def test_predict_matches_the_model(client, small_model) -> None:
    pairs = [{"user": 1, "item": TOY_STORY}, {"user": "2", "item": STAR_WARS}, {"user": 610, "item": "fargo"}]
    got = ok(client.post("/predict", json={"pairs": pairs}))["predictions"]
    want = small_model.predict([1, 2, 610], [TOY_STORY, STAR_WARS, FARGO])
    np.testing.assert_allclose([p["rating"] for p in got], want, rtol=1e-5)
    assert [p["user"] for p in got] == [1, 2, 610] and got[2]["item"] == FARGO
    assert "unknown user id" in problem(
        client.post("/predict", json={"pairs": [{"user": 0, "item": 1}]}), 404
    )
    assert "unknown item id" in problem(
        client.post("/predict", json={"pairs": [{"user": 1, "item": -5}]}), 404
    )


def test_map_is_cached_and_deterministic(client, small_model) -> None:
    first = client.get("/map", params={"method": "pca"})
    body = ok(first)
    assert len(body["ids"]) == len(body["x"]) == len(body["titles"]) == small_model.n_items
    assert np.isfinite(body["x"]).all() and np.std(body["x"]) > 0 and "PCA" in body["note"]
    assert client.get("/map").content == first.content  # pca is the default, and cached
    assert "pca" in problem(client.get("/map", params={"method": "tsne"}), 422)  # not offered here


# -- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/items", {"limit": 0}),
        ("/items", {"limit": 1001}),
        ("/items", {"q": "x" * 201}),
        ("/items/1/similar", {"n": 0}),
        ("/items/1/similar", {"n": 1001}),
        ("/items/1/similar", {"metric": "manhattan"}),
        ("/users/1/recommendations", {"n": -3}),
        ("/users/1/recommendations", {"n": "ten"}),
    ],
)
def test_bad_query_parameters_are_422(client, url: str, params: dict) -> None:
    problem(client.get(url, params=params), 422)


@pytest.mark.parametrize(
    "body",
    [
        {"ratings": []},
        {"ratings": [{"item": 1, "rating": 4}] * 1001},
        {"ratings": [{"item": 1, "rating": 4}], "n": 1001},
        {"ratings": [{"item": 1, "rating": 4}], "n": 0},
        {"ratings": [{"item": 1.5, "rating": 4}]},
        {"ratings": [{"item": True, "rating": 4}]},
        {"ratings": [{"item": None, "rating": 4}]},
        {"ratings": [{"item": "x" * 201, "rating": 4}]},
        {"ratings": [{"item": "", "rating": 4}]},
        {"ratings": [{"item": 1, "rating": "good"}]},
        {"ratings": [{"item": 1}]},
        {"ratings": [{"item": 1, "rating": 4, "extra": 1}]},
        {"ratings": {"item": 1, "rating": 4}},
        [1, 2, 3],
    ],
)
def test_bad_rating_bodies_are_422(client, body) -> None:
    problem(client.post("/recommendations", json=body), 422)


def test_ratings_outside_the_scale_are_422_naming_the_scale(client) -> None:
    for value in (5.5, 0.0, -1, 1e308):
        detail = problem(
            client.post("/recommendations", json={"ratings": [{"item": 1, "rating": value}]}), 422
        )
        assert "0.5..5" in detail
    for raw in (
        '{"ratings": [{"item": 1, "rating": NaN}]}',
        '{"ratings": [{"item": 1, "rating": Infinity}]}',
    ):
        problem(
            client.post("/recommendations", content=raw, headers={"content-type": "application/json"}), 422
        )


def test_malformed_json_is_422(client) -> None:
    for raw in ("{", '{"ratings": [', "not json", ""):
        problem(
            client.post("/recommendations", content=raw, headers={"content-type": "application/json"}), 422
        )


def test_unknown_and_ambiguous_titles_are_404_with_candidates(client) -> None:
    # two films called Lolita, both rated 7 times: nothing to choose between them
    detail = problem(
        client.post("/recommendations", json={"ratings": [{"item": "lolita", "rating": 5}]}), 404
    )
    assert "Lolita (1997)" in detail and "Lolita (1962)" in detail and "ambiguous" in detail
    detail = problem(
        client.post("/recommendations", json={"ratings": [{"item": "qwzx vbnm", "rating": 5}]}), 404
    )
    assert "qwzx vbnm" in detail
    assert "unknown item id 999999" in problem(
        client.post("/recommendations", json={"ratings": [{"item": 999999, "rating": 5}]}), 404
    )
    assert "unknown user id 'nobody'" in problem(client.get("/users/nobody/recommendations"), 404)


def test_a_loose_title_takes_the_most_rated_match_and_says_so(client) -> None:
    ratings = [{"item": "star wars", "rating": 5}, {"item": "Star Wars (1977)", "rating": 5}]
    body = ok(client.post("/recommendations", json={"ratings": ratings, "n": 3}))
    assert [(m["query"], m["id"], m["how"]) for m in body["matched"]] == [
        ("star wars", STAR_WARS, "words"),
        ("Star Wars (1977)", STAR_WARS, "words"),
    ]
    pairs = [{"user": 1, "item": "fargo"}, {"user": 1, "item": "toy stroy"}, {"user": 1, "item": 1}]
    body = ok(client.post("/predict", json={"pairs": pairs}))
    assert [(m["query"], m["id"], m["how"]) for m in body["matched"]] == [
        ("fargo", FARGO, "exact"),
        ("toy stroy", TOY_STORY, "fuzzy"),
    ]


def test_a_movie_rated_twice_keeps_the_last_rating(client) -> None:
    twice = ok(
        client.post(
            "/recommendations", json={"ratings": [{"item": 1, "rating": 1}, {"item": 1, "rating": 5}]}
        )
    )
    once = ok(client.post("/recommendations", json={"ratings": [{"item": 1, "rating": 5}]}))
    assert twice == once


# -- the page and the docs work offline -----------------------------------------------------------------
def test_page_and_assets_are_served_without_a_cdn(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'id="q"' in page.text and "<h1" in page.text
    modules = [f"/assets/{name}" for name in module_closure("app.js")]
    assets = [client.get(path) for path in ("/static/app.css", "/assets/map.css", *modules)]
    assert all(a.status_code == 200 for a in assets), [a.url for a in assets if a.status_code != 200]
    for text in (page.text, *(a.text for a in assets)):
        assert not re.search(
            r"""(src|href)\s*=\s*["']?(https?:)?//|url\(["']?(https?:)?//|fetch\(["']https?:""", text
        )


def test_docs_use_local_swagger_assets(client) -> None:
    html = client.get("/docs").text
    assert "swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    for ref in re.findall(r"""(?:src|href)=["']([^"']+)["']""", html):
        assert not ref.startswith(("http:", "https:", "//")), ref
        assert client.get("/" + ref.lstrip("/")).status_code == 200, ref
    schema = ok(client.get("/openapi.json"))
    assert {"/items", "/items/{item_id}/similar", "/recommendations", "/predict", "/map", "/health"} <= set(
        schema["paths"]
    )


def test_create_app_from_a_model_directory(small_model_dir, small_model) -> None:
    with TestClient(create_app(small_model_dir, map_methods=[])) as c:
        assert ok(c.get("/health"))["n_items"] == small_model.n_items
        assert ok(c.get("/items/1/similar", params={"n": 3}))["items"]


def test_an_unfitted_model_is_refused() -> None:
    from embedrec import DotBias, NotFittedError

    with pytest.raises(NotFittedError, match="not fitted"):
        create_app(DotBias())


def test_similar_items_can_skip_rarely_rated_ones(client, small_model) -> None:
    body = ok(client.get(f"/items/{TOY_STORY}/similar", params={"n": 10, "min_ratings": 20}))
    assert len(body["items"]) == 10 and all(it["n_ratings"] >= 20 for it in body["items"])
    ids, _ = Recommender(small_model, min_ratings=0).similar_items(TOY_STORY, n=small_model.n_items - 1)
    counts = np.diff(small_model.seen_.tocsc().indptr)[small_model.item_ids_.indices(ids)]
    assert [it["id"] for it in body["items"]] == ids[counts >= 20][:10].tolist()  # the dense reference


def test_reasons_can_be_left_out(client) -> None:
    body = ok(client.post("/recommendations", json={"ratings": [{"item": 1, "rating": 5}], "explain": False}))
    assert body["items"] and all(it["because"] == [] for it in body["items"])
    body = ok(client.get("/users/1/recommendations", params={"explain": "false", "n": 3}))
    assert all(it["because"] == [] for it in body["items"])
