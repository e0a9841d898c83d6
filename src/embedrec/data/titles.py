"""Find an item by its title: case-insensitive, forgiving of articles, years and typos ("toy story").

MovieLens writes "Usual Suspects, The (1995)"; people type "the usual suspects". Titles are
normalised (lower case, trailing article moved to the front, year split off) and looked up exactly
first, then fuzzily with rapidfuzz. An unknown or ambiguous title raises `TitleError` listing the
closest candidates, so the user can pick one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from rapidfuzz import fuzz, process

from embedrec.errors import UnknownIdError

_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_ARTICLE = re.compile(r"^(.*), (the|a|an|il|la|le|les|l'|el|los|las|der|die|das|lo)$")
_LEADING = re.compile(r"^(the|a|an|il|la|le|les|l'|el|los|las|der|die|das|lo) ")
_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s']+")

ACCEPT = 88.0  # a fuzzy best match is taken when it scores at least this (0..100) ...
MARGIN = 6.0  # ... and beats the runner-up by this much; otherwise the title is ambiguous


class TitleError(UnknownIdError):
    """A title that matches no item, or several equally well; `candidates` holds the closest titles."""

    def __init__(self, query: str, candidates: Sequence[str], reason: str) -> None:
        self.candidates = list(candidates)
        hint = reason + (": " + "; ".join(self.candidates) if self.candidates else "")
        super().__init__("item", query, hint)
        self.args = (f"unknown item {query!r}: {hint}",)


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


class TitleIndex:
    """Title -> item index lookups over one catalogue's titles (aligned to item indices)."""

    def __init__(self, titles: Sequence[str] | np.ndarray, counts: np.ndarray | None = None) -> None:
        self.counts = np.zeros(len(titles), np.int64) if counts is None else np.asarray(counts, np.int64)
        self.titles = ["" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t) for t in titles]
        self._full: dict[str, list[int]] = {}
        self._name: dict[str, list[int]] = {}
        self._keys: list[str] = []  # "name year" per item, for fuzzy matching with a year
        self._bares: list[str] = []  # "name" per item, for fuzzy matching without one
        for i, title in enumerate(self.titles):
            name, year = split_title(title)
            key = _bare(name)
            self._keys.append(f"{key} {year}" if year else key)
            self._bares.append(key)
            self._full.setdefault(f"{key} {year}" if year else key, []).append(i)
            self._name.setdefault(key, []).append(i)

    def __len__(self) -> int:
        return len(self.titles)

    def lookup(self, query: str) -> int:
        """The item index for a title; raises TitleError (an UnknownIdError) when none or several fit."""
        name, year = split_title(query)
        key = _bare(name)
        if not key:
            raise TitleError(query, [], "an empty title")
        for table, probe in ((self._full, f"{key} {year}" if year else None), (self._name, key)):
            hits = table.get(probe, []) if probe else []
            if year and table is self._name:
                hits = [i for i in hits if split_title(self.titles[i])[1] == year] or hits
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise TitleError(query, [self.titles[i] for i in hits[:8]], "several items have this title")
        found = self.search(query, limit=5)
        if found and found[0][2] >= ACCEPT and (len(found) == 1 or found[0][2] - found[1][2] >= MARGIN):
            return found[0][0]
        close = [t for _, t, s in found if s >= 50]
        reason = (
            "ambiguous title, did you mean one of" if close and found[0][2] >= ACCEPT else "no such title"
        )
        if close and reason == "no such title":
            reason += "; closest"
        raise TitleError(query, close, reason)

    def search(self, query: str, limit: int = 10) -> list[tuple[int, str, float]]:
        """The `limit` closest titles as (item index, title, score 0..100), best first."""
        name, year = split_title(query)
        probe = f"{_bare(name)} {year}" if year else _bare(name)
        choices = self._keys if year else self._bares
        hits = process.extract(probe, choices, scorer=_score, limit=limit)
        return [(int(i), self.titles[i], float(s)) for _, s, i in hits]


def _score(a: str, b: str, **kwargs: object) -> float:
    """Whole-title similarity, with a partial match (a prefix typed) counting a little less."""
    partial = 0.9 * fuzz.partial_ratio(a, b) if 4 <= len(a) <= len(b) else 0.0
    return max(fuzz.ratio(a, b), partial)
