"""The API's fixtures (a real store and index of the sample catalogue), for the fault tests."""

from __future__ import annotations

from tests.api.conftest import api_settings, client

__all__ = ["api_settings", "client"]
