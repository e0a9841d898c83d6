"""Title lookup (exact > every word > fuzzy, the most rated within a tier) and the indexed title search,
on a small catalogue with known answers and on the bundled movielens-small titles."""

from __future__ import annotations

import numpy as np
import pytest

import embedrec
from embedrec.data.catalogue import Catalogue
from embedrec.data.titles import (
    ACCEPT,
    TitleError,
    TitleIndex,
    _bare,
    split_title,
    title_similarity,
)
from embedrec.errors import UnknownIdError

CATALOGUE = [  # (title, ratings)
    ("Star Wars: Episode IV - A New Hope (1977)", 250),
    ("Star Wars: Episode V - The Empire Strikes Back (1980)", 210),
    ("Star Wars: Episode I - The Phantom Menace (1999)", 140),
    ("Empire of Dreams: The Story of the 'Star Wars' Trilogy (2004)", 3),
    ("Star Maps (1997)", 5),
    ("Usual Suspects, The (1995)", 200),
    ("Hamlet (1990)", 10),
    ("Hamlet (1996)", 30),
    ("Emma (1996)", 12),
    ("Emma (1996)", 12),
    ("Schindler's List (1993)", 220),
    ("Rocky III (1982)", 40),
    ("Rocky II (1979)", 50),
]


@pytest.fixture(scope="module")
def index() -> TitleIndex:
    titles, counts = zip(*CATALOGUE, strict=True)
    return TitleIndex(list(titles), np.array(counts), ids=[100 + i for i in range(len(titles))])


@pytest.mark.parametrize(
    ("query", "title", "how"),
    [
        ("Star Wars", "Star Wars: Episode IV - A New Hope (1977)", "words"),  # most rated of 4
        ("star wars episode iv", "Star Wars: Episode IV - A New Hope (1977)", "words"),
        ("Star Wars: Episode IV", "Star Wars: Episode IV - A New Hope (1977)", "words"),
        ("Star Wars (1977)", "Star Wars: Episode IV - A New Hope (1977)", "words"),
        ("Star Wars (1980)", "Star Wars: Episode V - The Empire Strikes Back (1980)", "words"),  # the year
        ("star wars episode 1", "Star Wars: Episode I - The Phantom Menace (1999)", "words"),  # numerals
        ("empire", "Star Wars: Episode V - The Empire Strikes Back (1980)", "words"),
        ("the usual suspects", "Usual Suspects, The (1995)", "exact"),
        ("USUAL SUSPECTS", "Usual Suspects, The (1995)", "exact"),
        ("hamlet", "Hamlet (1996)", "exact"),  # the more rated Hamlet
        ("Hamlet (1990)", "Hamlet (1990)", "exact"),  # unless the year says otherwise
        ("schindlers list", "Schindler's List (1993)", "words"),
        ("rocky 2", "Rocky II (1979)", "words"),
        ("usual suspcts", "Usual Suspects, The (1995)", "fuzzy"),
        ("star wars episod", "Star Wars: Episode IV - A New Hope (1977)", "fuzzy"),  # 3 as close: most rated
    ],
)
def test_lookup_tiers(index: TitleIndex, query: str, title: str, how: str) -> None:
    match = index.match(query)
    assert (match.title, match.how) == (title, how)
    assert index.lookup(query) == match.index and index.titles[match.index] == title
    assert match.title in match.describe() and repr(query) in match.describe()


def test_match_counts_the_rivals_it_ruled_out(index: TitleIndex) -> None:
    match = index.match("star wars")
    assert match.rivals == 3  # IV over V, I and the documentary
    assert "the most rated of 4" in match.describe()
    assert index.match("usual suspects").rivals == 0
    fuzzy = index.match("usual suspcts")
    assert ACCEPT <= fuzzy.score < 100 and "closest spelling" in fuzzy.describe()


def test_equal_candidates_are_ambiguous_and_named_by_id(index: TitleIndex) -> None:
    with pytest.raises(TitleError, match="ambiguous") as err:
        index.lookup("emma")
    assert err.value.candidates == ["Emma (1996) [id 108]", "Emma (1996) [id 109]"]
    assert isinstance(err.value, UnknownIdError)


@pytest.mark.parametrize("query", ["no such film whatsoever", "", "   ", "(1999)", "'", "-"])
def test_unknown_titles(index: TitleIndex, query: str) -> None:
    with pytest.raises(TitleError, match="no such title|empty title"):
        index.lookup(query)


def test_unknown_title_lists_the_closest(index: TitleIndex) -> None:
    with pytest.raises(TitleError, match="no such title; closest") as err:
        index.lookup("sta mops")
    assert "Star Maps (1997)" in err.value.candidates


def test_split_title() -> None:
    assert split_title("Usual Suspects, The (1995)") == ("the usual suspects", "1995")
    assert split_title("  Star Wars:   Episode IV (1977) ") == ("star wars episode iv", "1977")
    assert split_title("Amelie") == ("amelie", None)


# -- movielens-small: the README's model --------------------------------------------------------------
@pytest.fixture(scope="module")
def ml_small() -> Catalogue:
    return Catalogue.from_interactions(embedrec.load_dataset("movielens-small"))


@pytest.mark.parametrize(
    "query", ["Star Wars", "Star Wars: Episode IV", "star wars episode iv", "Star Wars (1977)"]
)
def test_star_wars_on_movielens_small(ml_small: Catalogue, query: str) -> None:
    assert ml_small.match(query).title == "Star Wars: Episode IV - A New Hope (1977)"


def test_catalogue_match_prefers_a_raw_id(ml_small: Catalogue) -> None:
    match = ml_small.match(260)
    assert (match.how, match.title) == ("id", "Star Wars: Episode IV - A New Hope (1977)")
    assert ml_small.index("260") == ml_small.index(260) == match.index
    with pytest.raises(UnknownIdError):
        ml_small.match(10**9)


def _reference_search(index: TitleIndex, query: str, limit: int) -> list[tuple[int, float]]:
    """Every title scored with `title_similarity`: the slow, obvious search the index must agree with."""
    name, year = split_title(query)
    probe = f"{_bare(name)} {year}" if year else _bare(name)
    choices = index._keys if year else index._bares
    scores = np.array([title_similarity(probe, c) for c in choices])
    order = np.lexsort((np.arange(len(scores)), -index.counts, -scores))[:limit]
    return [(int(i), float(scores[i])) for i in order]


def _queries(index: TitleIndex, n: int, seed: int) -> list[str]:
    """Whole titles, prefixes, one-letter typos and single words of random catalogue titles."""
    rng = np.random.default_rng(seed)
    out = ["star", "star wars", "matrx", "godfathr", "the usual suspects", "toy story 2 (1999)", "x"]
    for i in rng.choice(len(index), n):
        name = index._bares[i]
        kind = int(rng.integers(4))
        if kind == 0:
            out.append(name)
        elif kind == 1:
            out.append(name[: max(3, len(name) // 2)])
        elif kind == 2 and len(name) > 4:
            k = int(rng.integers(len(name) - 1))
            out.append(name[:k] + name[k + 1 :])
        else:
            words = name.split()
            out.append(words[int(rng.integers(len(words)))])
    return out


def test_indexed_search_finds_every_good_match_the_full_scan_finds(ml_small: Catalogue) -> None:
    """Every title the full scan scores at least ACCEPT (what lookup would take) is in the indexed search
    with the same score, and the best one comes first."""
    index = ml_small.title_index
    for query in _queries(index, 100, seed=3):
        fast = {i: s for i, _, s in index.search(query, 30)}
        slow = _reference_search(index, query, 30)
        good = [(i, s) for i, s in slow if s >= ACCEPT]
        if len(good) == len(slow):  # more good matches than the limit: only the scores must agree
            assert sorted(fast.values(), reverse=True) == pytest.approx([s for _, s in slow]), query
            continue
        for i, s in good:
            assert fast.get(i) == pytest.approx(s), (query, index.titles[i])
        if slow and slow[0][1] >= ACCEPT:
            assert index.search(query, 1)[0][0] == slow[0][0], query
