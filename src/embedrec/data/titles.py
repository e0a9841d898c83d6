"""Find an item by its title: case-insensitive, forgiving of articles, years and typos ("toy story").

MovieLens writes "Usual Suspects, The (1995)"; people type "the usual suspects" or "star wars". Titles
are normalised (lower case, trailing article moved to the front, year split off) and looked up in three
tiers: the exact title, else the titles containing every query word, else the closest spellings
(rapidfuzz). Within a tier the most-rated title wins; a title is ambiguous only when two candidates tie on
both. `TitleIndex.match` says which title it took and why, so the CLI and the API can echo it.

Search and fuzzy lookup use a prebuilt index: character trigrams pick a few hundred candidates, which
are then scored exactly by `title_similarity` (rapidfuzz's batch scorers), so a query costs about a
millisecond on a MovieLens catalogue instead of scoring every title.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from embedrec.errors import UnknownIdError

_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_ARTICLE = re.compile(r"^(.*), (the|a|an|il|la|le|les|l'|el|los|las|der|die|das|lo)$")
_LEADING = re.compile(r"^(the|a|an|il|la|le|les|l'|el|los|las|der|die|das|lo) ")
_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s']+")
# Roman numerals and digits are the same word for the every-word tier ("episode 4" finds "Episode IV").
_NUMERALS = dict(zip("i ii iii iv v vi vii viii ix x".split(), map(str, range(1, 11)), strict=True))

ACCEPT = 88.0  # a fuzzy match is taken when it scores at least this (0..100)
TIE = 1.0  # fuzzy scores this close to the best are a tie, which the rating count breaks
PARTIAL = 0.9  # a query found inside a longer title (a prefix typed) counts a little less than all of it
CANDIDATES = 400  # titles the trigram index hands to the exact scorer per search (at least)
SHOWN = 8  # candidates named by an ambiguous-title error


class TitleError(UnknownIdError):
    """A title that matches no item, or several equally well; `candidates` holds the closest titles."""

    def __init__(self, query: str, candidates: Sequence[str], reason: str) -> None:
        self.candidates = list(candidates)
        hint = reason + (": " + "; ".join(self.candidates) if self.candidates else "")
        super().__init__("item", query, hint)
        self.args = (f"unknown item {query!r}: {hint}",)


@dataclass(frozen=True)
class TitleMatch:
    """Which item a query was taken to mean, and by which rule: "id" (a raw id), "exact" (the title),
    "words" (a title containing every query word) or "fuzzy" (the closest spelling, `score` 0..100).
    `rivals` counts the other candidates of that tier that the rating count ruled out."""

    query: Any
    index: int
    title: str
    how: str
    score: float = 100.0
    rivals: int = 0

    def describe(self) -> str:
        """One line for a person: 'star wars' -> Star Wars: Episode IV ... (every word; most rated of 9)."""
        why = {"id": "raw id", "exact": "exact title", "words": "contains every word"}.get(
            self.how, f"closest spelling, {self.score:.0f}/100"
        )
        if self.rivals:
            why += f"; the most rated of {self.rivals + 1}"
        return f"{str(self.query)!r} → {self.title} ({why})"


def split_title(title: str) -> tuple[str, str | None]:
    """(normalised name, year or None): "Usual Suspects, The (1995)" -> ("the usual suspects", "1995")."""
    text = _SPACES.sub(" ", str(title).strip().lower())
    year = None
    m = _YEAR.search(text)
    if m:
        year, text = m.group(1), text[: m.start()].strip()
    m = _ARTICLE.match(text)
    if m:
        text = f"{m.group(2)} {m.group(1)}" if not m.group(2).endswith("'") else f"{m.group(2)}{m.group(1)}"
    return _SPACES.sub(" ", _PUNCT.sub(" ", text)).strip(), year


def _bare(name: str) -> str:
    """The name without a leading article, so "godfather" finds "Godfather, The"."""
    return _LEADING.sub("", name)


def title_words(name: str) -> set[str]:
    """The words of a normalised name for the every-word tier: apostrophes dropped, numerals as digits."""
    return {_NUMERALS.get(w, w) for w in name.replace("'", "").split()}


def _trigrams(text: str, padded: bool = True) -> set[str]:
    """Character trigrams; padded ones also mark where the text starts and ends."""
    if padded:
        text = f" {text} "
    return {text[k : k + 3] for k in range(len(text) - 2)}


class _Postings:
    """An inverted index, token -> item indices (ascending), kept as one CSR array pair."""

    def __init__(self, tokens: Sequence[Iterable[str]]) -> None:
        lists = [list(t) for t in tokens]
        self.sizes = np.array([len(t) for t in lists], np.int64)  # distinct tokens per item
        codes, uniques = pd.factorize(np.array(list(chain.from_iterable(lists)), dtype=object))
        owners = np.repeat(np.arange(len(lists), dtype=np.int64), self.sizes)
        self.items = owners[np.argsort(codes, kind="stable")]
        self.ptr = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(uniques)))])
        self.code = {str(t): k for k, t in enumerate(uniques)}

    def get(self, token: str) -> np.ndarray | None:
        """The items holding `token`, or None."""
        k = self.code.get(token)
        return None if k is None else self.items[self.ptr[k] : self.ptr[k + 1]]


def title_similarity(query: str, title: str) -> float:
    """The fuzzy score (0..100) of a normalised query against a normalised title: the whole-title ratio,
    or `PARTIAL` × the best partial match when the query (4+ characters) fits inside the title."""
    partial = PARTIAL * fuzz.partial_ratio(query, title) if 4 <= len(query) <= len(title) else 0.0
    return max(fuzz.ratio(query, title), partial)


class TitleIndex:
    """Title -> item index lookups over one catalogue's titles (aligned to item indices).

    `counts` (ratings per item) breaks ties between candidates; `ids` (raw ids) tell apart identical
    titles in an error message.
    """

    def __init__(
        self,
        titles: Sequence[str] | np.ndarray,
        counts: np.ndarray | None = None,
        ids: Sequence[Any] | None = None,
    ) -> None:
        self.titles = ["" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t) for t in titles]
        n = len(self.titles)
        self.counts = np.zeros(n, np.int64) if counts is None else np.asarray(counts, np.int64)
        if self.counts.shape != (n,):
            raise ValueError(f"counts must have one entry per title ({n}), got shape {self.counts.shape}")
        self._ids = list(ids) if ids is not None else None
        self._full: dict[str, list[int]] = {}
        self._name: dict[str, list[int]] = {}
        self._keys: list[str] = []  # "name year" per item, for fuzzy matching with a year
        self._bares: list[str] = []  # "name" per item, for fuzzy matching without one
        self._years: list[str | None] = []
        for i, title in enumerate(self.titles):
            name, year = split_title(title)
            key = _bare(name)
            full = f"{key} {year}" if year else key
            self._keys.append(full)
            self._bares.append(key)
            self._years.append(year)
            self._full.setdefault(full, []).append(i)
            self._name.setdefault(key, []).append(i)
        self._words = _Postings([title_words(b) for b in self._bares])
        self._key_lengths = np.array([len(k) for k in self._keys], np.int64)
        self._bare_lengths = np.array([len(k) for k in self._bares], np.int64)
        # candidates sharing as many trigrams go to the more rated first: a bonus below one trigram
        self._popularity = 0.5 * np.log1p(self.counts) / max(float(np.log1p(self.counts.max(initial=0))), 1.0)

    def __len__(self) -> int:
        return len(self.titles)

    def prepare(self) -> TitleIndex:
        """Build the search index now rather than on the first search (a server does this at start)."""
        _ = self._grams
        return self

    @cached_property
    def _grams(self) -> _Postings:
        """Padded trigrams of each bare name: built on the first search (an exact lookup needs none)."""
        return _Postings([_trigrams(b) for b in self._bares])

    # -- lookup -------------------------------------------------------------------------------------
    def lookup(self, query: str) -> int:
        """The item index for a title; raises TitleError (an UnknownIdError) when none or several fit."""
        return self.match(query).index

    def match(self, query: str) -> TitleMatch:
        """The item a title means: the exact title, else a title containing every query word, else the
        closest spelling; the most rated within a tier. Raises TitleError when none fits or two tie."""
        name, year = split_title(query)
        key = _bare(name)
        if not key:
            raise TitleError(query, [], "an empty title")
        hits = self._full.get(f"{key} {year}", []) if year else []
        if not hits:
            hits = self._prefer_year(self._name.get(key, []), year)
        if hits:
            return self._pick(query, hits, "exact")
        hits = self._prefer_year(self._every_word(key), year)
        if hits:
            return self._pick(query, hits, "words")
        found = self.search(query, limit=20)
        if found and found[0][2] >= ACCEPT:
            best = found[0][2]
            tied = [i for i, _, s in found if s >= best - TIE]
            return self._pick(query, tied, "fuzzy", best)
        close = [t for _, t, s in found[:5] if s >= 50]
        raise TitleError(query, close, "no such title" + ("; closest" if close else ""))

    def _prefer_year(self, hits: Sequence[int], year: str | None) -> list[int]:
        """The hits from that year when the query names one and some match it, else all of them."""
        if not year:
            return list(hits)
        return [i for i in hits if self._years[i] == year] or list(hits)

    def _every_word(self, key: str) -> list[int]:
        """Items whose title contains every word of the query (as whole words)."""
        postings = []
        for w in title_words(key):
            hit = self._words.get(w)
            if hit is None:
                return []
            postings.append(hit)
        if not postings:  # a query of punctuation only ("'") has no words to contain
            return []
        postings.sort(key=len)
        found = postings[0]
        for other in postings[1:]:
            found = np.intersect1d(found, other, assume_unique=True)
        return found.tolist()

    def _pick(self, query: str, hits: Sequence[int], how: str, score: float = 100.0) -> TitleMatch:
        """The most rated of a tier's candidates; two with the same count are a real ambiguity."""
        ranked = sorted(hits, key=lambda i: (-self.counts[i], i))
        top = ranked[0]
        if len(ranked) > 1 and self.counts[ranked[1]] == self.counts[top]:
            tied = [i for i in ranked if self.counts[i] == self.counts[top]]
            raise TitleError(
                query,
                [self._label(i) for i in tied[:SHOWN]],
                f"ambiguous title: {len(tied)} titles fit equally well and have as many ratings",
            )
        return TitleMatch(query, int(top), self.titles[top], how, float(score), len(ranked) - 1)

    def _label(self, i: int) -> str:
        same = len(self._full.get(self._keys[i], ())) > 1
        return f"{self.titles[i]} [id {self._ids[i]}]" if same and self._ids is not None else self.titles[i]

    # -- search -------------------------------------------------------------------------------------
    def search(self, query: str, limit: int = 10) -> list[tuple[int, str, float]]:
        """The `limit` closest titles as (item index, title, score 0..100), best first, ties to the more
        rated.

        Scores are `title_similarity` of the normalised query (with its year when it names one) and
        each title; only the titles sharing the most character trigrams with the query are scored.
        """
        name, year = split_title(query)
        bare = _bare(name)
        probe = f"{bare} {year}" if year else bare
        rows = self._candidates(bare, max(CANDIDATES, 5 * limit))
        if not probe or rows.size == 0:
            return []
        choices, lengths = (self._keys, self._key_lengths) if year else (self._bares, self._bare_lengths)
        texts = [choices[i] for i in rows]
        scores = process.cdist([probe], texts, scorer=fuzz.ratio, dtype=np.float64, workers=1)[0]
        if len(probe) >= 4:
            fits = np.flatnonzero(lengths[rows] >= len(probe))
            if fits.size:
                partial = process.cdist(
                    [probe], [texts[k] for k in fits], scorer=fuzz.partial_ratio, dtype=np.float64, workers=1
                )[0]
                scores[fits] = np.maximum(scores[fits], PARTIAL * partial)
        order = np.lexsort((rows, -self.counts[rows], -scores))[:limit]
        return [(int(rows[k]), self.titles[rows[k]], float(scores[k])) for k in order]

    def _candidates(self, bare: str, k: int) -> np.ndarray:
        """Up to about `k` item indices worth scoring, the more rated first within each third: titles
        containing the query verbatim, titles sharing the most of its trigrams (it is inside them, maybe
        misspelled), and titles with the highest Dice overlap of trigrams (spelled like it)."""
        grams = self._grams
        inner = _trigrams(bare, padded=False)  # a title containing the query verbatim has all of these
        edges = _trigrams(bare) - inner
        inner_hits = [p for p in map(grams.get, inner) if p is not None]
        edge_hits = [p for p in map(grams.get, edges) if p is not None]
        if not inner_hits and not edge_hits:
            return np.empty(0, np.int64)
        n = len(self)
        within = np.bincount(np.concatenate(inner_hits), minlength=n) if inner_hits else np.zeros(n, np.int64)
        shared = within + (np.bincount(np.concatenate(edge_hits), minlength=n) if edge_hits else 0)
        rows = np.flatnonzero(shared)
        if rows.size <= k:
            return rows
        third = k // 3
        pop = self._popularity[rows]
        contain = shared[rows] + pop
        dice = shared[rows] / (len(inner) + len(edges) + grams.sizes[rows]) + 1e-3 * pop
        picked = [rows[_top(contain, third)], rows[_top(dice, third)]]
        if len(bare) >= 4 and len(inner_hits) == len(inner):  # the partial score rewards a verbatim match
            inside = np.flatnonzero(within == len(inner))
            if inside.size > third:
                inside = np.array([i for i in inside if bare in self._bares[i]], np.int64)
            picked.append(inside[_top(self._popularity[inside], third)])
        return np.unique(np.concatenate(picked))


def _top(key: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` largest values of `key` (all of them when there are fewer)."""
    if len(key) <= k:
        return np.arange(len(key))
    return np.argpartition(-key, k - 1)[:k]
