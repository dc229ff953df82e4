"""Bad uploads through the real app: every answer is a 200 or a 4xx problem+json, never a 5xx.

A few hundred of the generated cases (scripts/faults/fuzz.py sends all of them, and the heavy
ones, to a live server and measures its memory).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from search.config import Settings
from tests.api.conftest import api_settings  # noqa: F401 - the fixtures used here
from tests.conftest import built_home  # noqa: F401
from tests.reliability.upload_cases import generate_cases

FAST_CASES = 240


@pytest.fixture
def fuzz_client(api_settings: Settings) -> Iterator[TestClient]:  # noqa: F811
    with TestClient(create_app(api_settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow warns; the answer is 4xx
def test_bad_uploads_get_a_4xx_problem_or_a_200_never_a_5xx(fuzz_client: TestClient) -> None:
    wrong: list[str] = []
    accepted_other_formats: list[str] = []
    statuses: Counter[int] = Counter()
    for number, case in enumerate(generate_cases(FAST_CASES, include_heavy=False)):
        path = "/v1/classify" if number % 4 == 3 else "/v1/search"
        files = {"image": (case.filename, case.data, case.content_type)}
        response = fuzz_client.post(path, files=files, data={"k": "3"})
        statuses[response.status_code] += 1
        if case.kind == "other-format" and response.status_code == 200:
            accepted_other_formats.append(case.name)
        problem = response.headers["content-type"].startswith("application/problem+json")
        if not (response.status_code == 200 or (400 <= response.status_code < 500 and problem)):
            wrong.append(
                f"{case.name} ({case.content_type}): {response.status_code} {response.text}"
            )
    assert not wrong, "\n".join(wrong)
    # TIFF, BMP, ICO, PPM, PSD, SVG... are refused whatever type they were declared as.
    assert not accepted_other_formats
    # The mix exercises both outcomes and the main refusals.
    assert statuses[200] and statuses[422] and statuses[415]
