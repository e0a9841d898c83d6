"""Which column of a ratings file is the user, the item, the rating, the count and the time.

Given columns win; then names (`userId`, `reviewerID`, `asin`, `stars`, `unixReviewTime`, ...); then, for
the rating and the time, the values themselves. A rating must look like a rating scale (within -10..10,
or a 0..100 scale) and never like an id (many distinct integers, a running counter); a time must be epoch
seconds or milliseconds or a date, never a counter. When two columns could each be the rating (or the
time) the file is refused with a message that lists them and shows how to choose, so that nothing is
misread silently. `ColumnChoice` records what was taken and why, for `embedrec info`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from embedrec.data.profile import Profile
from embedrec.errors import Arg, DataError

ROLES = ("user", "item", "rating", "count", "timestamp")
SYNONYMS = {"time": "timestamp", "date": "timestamp", "value": "rating", "user_id": "user", "item_id": "item"}
# exact names (lower case, letters and digits only), and words a longer name may contain
EXACT: dict[str, frozenset[str]] = {
    "user": frozenset(
        "user userid users uid customer customerid visitor visitorid reviewer reviewerid member memberid "
        "rater raterid reader readerid client clientid person personid profile profileid account accountid "
        "viewer viewerid listener listenerid player playerid buyer buyerid critic criticid u".split()
    ),
    "item": frozenset(
        "item itemid items iid movie movieid product productid asin parentasin isbn book bookid track "
        "trackid song songid artist artistid business businessid recipe recipeid anime animeid game gameid "
        "sku article articleid film filmid show showid episode episodeid video videoid beer beerid joke "
        "jokeid place placeid venue venueid hotel hotelid restaurant restaurantid app appid course courseid "
        "imdbid tmdbid work workid album albumid i".split()
    ),
    "rating": frozenset(
        "rating ratings score stars star overall value preference grade rate r userrating reviewscore "
        "reviewstars ratingvalue bookrating".split()
    ),
    "count": frozenset(
        "count counts plays playcount clicks clickcount views viewcount listens listencount quantity qty "
        "times frequency freq weight purchases confidence".split()
    ),
    "timestamp": frozenset(
        "timestamp time ts date datetime unixtime epoch created createdat unixreviewtime reviewtime "
        "ratingtimestamp ratedat when t".split()
    ),
}
WORDS: dict[str, tuple[str, ...]] = {
    "user": ("user", "customer", "reviewer", "member", "rater", "reader", "visitor", "client", "listener"),
    "item": ("item", "movie", "product", "book", "track", "song", "artist", "business", "recipe", "anime",
             "game", "film", "asin", "isbn", "video", "beer", "joke", "hotel", "restaurant", "venue"),
    "rating": ("rating", "score", "stars"),
    "count": ("count", "plays"),
    "timestamp": ("timestamp", "time", "date", "created"),
}  # fmt: skip
WHAT = {
    "user": "the user",
    "item": "the item",
    "rating": "the rating",
    "count": "the count",
    "timestamp": "the time",
}


def label(position: int, name: str | None = None) -> str:
    """How messages name a column: its 0-based position (as `columns=` takes it) and header name."""
    return f"column {position}" + (f" {name!r}" if name else "")


def normalise(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def name_score(name: str, role: str) -> int:
    """2 for an exact name of the role, 1 for a name holding one of its words, 0 otherwise."""
    key = normalise(name)
    if key in EXACT[role]:
        return 2
    if role not in ("user", "item") and key.endswith("id"):
        return 0  # "rating_id", "time_id": ids, never values
    return int(any(word in key for word in WORDS[role]))


@dataclass
class ColumnChoice:
    """Role -> column position, with how each was chosen and why the other columns were left out."""

    names: list[str]
    header: bool = True
    positions: dict[str, int] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)
    ignored: dict[int, str] = field(default_factory=dict)
    time_format: str | None = None
    by_content: set[str] = field(default_factory=set)

    def name(self, role: str) -> str:
        """The header name of a role's column (the role itself in a file without a header)."""
        return self.names[self.positions[role]] if self.header else role

    def label(self, position: int) -> str:
        """'column 2 'genreID'': counted from 0, as `columns=` takes positions."""
        return label(position, self.names[position] if self.header else None)

    def describe(self) -> dict[str, Any]:
        """JSON-ready: what each role was read from, and what was left out."""
        return {
            "columns": {role: f"{self.label(p)} ({self.how[role]})" for role, p in self.positions.items()},
            "ignored": [f"{self.label(p)}: {why}" for p, why in sorted(self.ignored.items())],
        }


def choose_columns(
    profiles: list[Profile],
    columns: Mapping[str, str | int | None] | None,
    source: str,
    *,
    header: bool,
) -> ColumnChoice:
    """Decide every role's column from the given `columns`, the header names and the sampled values."""
    names = [p.name for p in profiles]
    choice = ColumnChoice(names, header)
    given = _given(columns, names, source, header)
    for role, position in given.items():
        if position is not None:
            choice.positions[role], choice.how[role] = position, "given"
    for role in ("user", "item"):
        if role in given:
            continue
        found = _by_name(profiles, role, choice, source, header) if header else None
        if found is None and not header:
            found = 0 if role == "user" else 1
            if found >= len(profiles):
                raise DataError("found a single column (expected user and item columns)", path=source, line=1)
            if profiles[found].counter:
                raise DataError(
                    f"{choice.label(found)} is a running counter ({profiles[found].summary()}), "
                    f"not {role} ids; "
                    "say which columns hold the user and the item with {}",
                    path=source,
                    hints=(
                        Arg(
                            "columns",
                            {"user": found + (role == "user"), "item": found + 1 + (role == "user")},
                        ),
                    ),
                )
            choice.positions[role], choice.how[role] = found, "by position"
        elif found is None:
            raise DataError(
                f"no {role} column among {names} (expected one named like {sorted(EXACT[role])[:4]}; "
                "choose it with {})",
                path=source,
                line=1,
                field=role,
                hints=(
                    Arg("columns", {role: names[0] if role == "user" else names[min(1, len(names) - 1)]}),
                ),
            )
    if "rating" not in given and "count" not in given:
        _choose_value(profiles, choice, source, header)
    if "timestamp" not in given:
        _choose_time(profiles, choice, source, header)
    elif choice.positions.get("timestamp") is not None:
        profile = profiles[choice.positions["timestamp"]]
        choice.time_format = profile.time_format or (
            "epoch-s" if profile.kind in ("integer", "number") else None
        )
        if choice.time_format is None:
            raise DataError(
                f"{choice.label(profile.position)}: not epoch seconds or a date I can read "
                "(expected e.g. 978300760 or 2001-01-01 12:00:00; leave the time out with {})",
                path=source,
                field=profile.name,
                hints=(Arg("columns", {**_spec(choice, "timestamp"), "time": None}),),
            )
    for profile in profiles:
        if profile.position not in choice.positions.values() and profile.position not in choice.ignored:
            choice.ignored[profile.position] = profile.why_not()
    return choice


def _given(
    columns: Mapping[str, str | int | None] | None, names: list[str], source: str, header: bool
) -> dict[str, int | None]:
    """The caller's `columns` as role -> position (None: the file has no such column)."""
    if not columns:
        return {}
    out: dict[str, int | None] = {}
    for key, col in columns.items():
        role = SYNONYMS.get(str(key), str(key))
        if role not in ROLES:
            raise DataError(
                f"unknown role {key!r} in {{}} (expected among user, item, rating, count, time)",
                path=source,
                hints=(Arg("columns"),),
            )
        if col is None:
            if role in ("user", "item"):
                raise DataError(f"the {role} column cannot be left out", path=source)
            out[role] = None
            continue
        if isinstance(col, int) and not isinstance(col, bool):
            if not 0 <= col < len(names):
                raise DataError(
                    f"no column at position {col} for {WHAT[role]}: the file has {len(names)} columns "
                    f"(positions 0..{len(names) - 1})",
                    path=source,
                    line=1,
                    field=str(col),
                )
            out[role] = col
        elif str(col) in names:
            out[role] = names.index(str(col))
        else:
            raise DataError(
                f"no column {col!r} for {WHAT[role]}; the columns are {names}",
                path=source,
                line=1 if header else None,
                field=str(col),
            )
    taken = [p for p in out.values() if p is not None]
    if len(taken) != len(set(taken)):
        raise DataError("one column is given for two roles", path=source)
    if "rating" in out and "count" in out and out["rating"] is not None and out["count"] is not None:
        raise DataError("give a rating column or a count column, not both", path=source)
    return out


def _by_name(
    profiles: list[Profile], role: str, choice: ColumnChoice, source: str, header: bool
) -> int | None:
    free = [p for p in profiles if p.position not in choice.positions.values()]
    scored = [(name_score(p.name, role), p) for p in free]
    best = max((s for s, _ in scored), default=0)
    if best == 0:
        return None
    found = [p for s, p in scored if s == best]
    if len(found) > 1 and role in ("user", "item"):  # "user_id" beats "user_name"
        found = [p for p in found if normalise(p.name).endswith("id")] or found
    if len(found) > 1:
        _refuse(role, found, choice, source, "could each be")
    choice.positions[role], choice.how[role] = found[0].position, "by name"
    return found[0].position


def _choose_value(profiles: list[Profile], choice: ColumnChoice, source: str, header: bool) -> None:
    """The rating (or count) column: by name, else the one column whose values look like a rating."""
    free = [p for p in profiles if p.position not in choice.positions.values()]
    for role in ("rating", "count"):
        named = [p for p in free if header and name_score(p.name, role)]
        if named:
            top = max(name_score(p.name, role) for p in named)
            named = [p for p in named if name_score(p.name, role) == top]
            numeric = [p for p in named if p.kind in ("integer", "number")] or named
            if len(numeric) > 1:
                _refuse(role, numeric, choice, source, "could each be")
            choice.positions[role], choice.how[role] = numeric[0].position, "by name"
            return
    unnamed = [p for p in free if not (header and name_score(p.name, "timestamp"))]
    candidates = [p for p in unnamed if p.rating_like() == "yes"]
    if len(candidates) > 1:
        _refuse("rating", candidates, choice, source, "could each be")
    if candidates:
        position = candidates[0].position
        choice.positions["rating"], choice.how["rating"] = position, f"by content: {candidates[0].summary()}"
        choice.by_content.add("rating")
        return
    unsure = [p for p in unnamed if p.rating_like() == "maybe" and p.time_format is None]
    if unsure:
        _refuse("rating", unsure, choice, source, "might be", allow_none=True)


def _choose_time(profiles: list[Profile], choice: ColumnChoice, source: str, header: bool) -> None:
    """The time column: by name (epoch numbers before text dates), else the one column of epochs or dates."""
    free = [p for p in profiles if p.position not in choice.positions.values()]
    named = [p for p in free if header and name_score(p.name, "timestamp")]
    usable = [p for p in named if p.time_format is not None or p.kind == "integer"]
    if usable:
        top = max(name_score(p.name, "timestamp") for p in usable)
        usable = [p for p in usable if name_score(p.name, "timestamp") == top]
        epochs = [p for p in usable if p.kind in ("integer", "number")]
        usable = epochs or usable
        if len(usable) > 1:
            _refuse("timestamp", usable, choice, source, "could each be", allow_none=True)
        found = usable[0]
        choice.positions["timestamp"], choice.how["timestamp"] = found.position, "by name"
        choice.time_format = found.time_format or "epoch-s"
        return
    for p in named:
        choice.ignored[p.position] = f"named like a time but {p.why_not()}"
    candidates = [p for p in free if p.time_format is not None and p.position not in choice.ignored]
    if len(candidates) > 1:
        _refuse("timestamp", candidates, choice, source, "could each be", allow_none=True)
    if candidates:
        found = candidates[0]
        choice.positions["timestamp"], choice.how["timestamp"] = (
            found.position,
            f"by content: {found.summary()}",
        )
        choice.time_format = found.time_format
        choice.by_content.add("timestamp")
    if choice.time_format == "ambiguous day/month":
        found = profiles[choice.positions["timestamp"]]
        raise DataError(
            f"{choice.label(found.position)} holds dates like {found.values[0]!r} that read as day/month and "
            "as month/day alike; leave the time out with {}",
            path=source,
            hints=(Arg("columns", {**_spec(choice, "timestamp"), "time": None}),),
        )


def _spec(choice: ColumnChoice, without: str = "") -> dict[str, int]:
    """The choice so far as a `columns` value (positions; 'time' for the timestamp), less one role."""
    return {("time" if r == "timestamp" else r): p for r, p in choice.positions.items() if r != without}


def _refuse(
    role: str,
    found: Sequence[Profile],
    choice: ColumnChoice,
    source: str,
    verb: str,
    *,
    allow_none: bool = False,
) -> None:
    """One line that lists the candidate columns and shows how to pick one (or none)."""
    listed = "; ".join(f"{choice.label(p.position)} ({p.summary()})" for p in found)
    verb = f"{len(found)} columns {verb}" if len(found) > 1 else f"{choice.label(found[0].position)} {verb}"
    key = "time" if role == "timestamp" else role
    pick = {**_spec(choice, role), key: found[-1].position}
    tail = "choose one with {}" + (", or none with {}" if allow_none else "")
    hints = (Arg("columns", pick),) + (
        (Arg("columns", {**_spec(choice, role), key: None}),) if allow_none else ()
    )
    raise DataError(f"{verb} {WHAT[role]}: {listed}; {tail}", path=source, hints=hints)
