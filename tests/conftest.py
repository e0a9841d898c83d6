"""Shared fixtures: real data from the shared data folder beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ml100k_dir(shared_data: Path) -> Path:
    return shared_data / "ml-100k"


@pytest.fixture(scope="session")
def ml_small_dir(shared_data: Path) -> Path:
    return shared_data / "ml-latest-small"
