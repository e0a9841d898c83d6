"""The public API is what `embedrec.__all__` lists; changing it is a deliberate act."""

import embedrec

EXPECTED = {
    "DataError",
    "DatasetError",
    "DivergenceError",
    "EmbedrecError",
    "IdMap",
    "Interactions",
    "ModelFormatError",
    "NotFittedError",
    "RatingScale",
    "UnknownIdError",
    "__version__",
}


def test_all_is_pinned() -> None:
    assert set(embedrec.__all__) == EXPECTED


def test_every_name_in_all_exists() -> None:
    for name in embedrec.__all__:
        assert hasattr(embedrec, name), name
