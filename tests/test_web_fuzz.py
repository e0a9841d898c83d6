"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis): no input gives a 500.

Each operation gets a bounded number of valid and of invalid requests (wrong types, out-of-range numbers,
odd unicode in ids and titles), with fixed seeds so that a failure reproduces; the run takes seconds.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from embedrec.web import create_app  # noqa: E402

EXAMPLES = 12  # per operation and mode: 7 operations × 2 modes × 12 ≈ 170 requests, ~20 s


@pytest.fixture(scope="module")
def web_schema(small_model):
    app = create_app(small_model, map_methods=["pca"])  # t-SNE would make each /map example slow
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_input_gives_a_server_error(web_schema, mode: GenerationMode) -> None:
    operations = [result.ok() for result in web_schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        try:
            check()
        except Unsatisfiable:  # nothing to get wrong: GET /health takes no input at all
            assert mode is GenerationMode.NEGATIVE and not operation.query and not operation.body, (
                operation.label
            )
