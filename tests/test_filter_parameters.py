"""The filters are declared once: the CLI's options and the API's query parameters agree."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from api.app import create_app
from indexer.cli import app as cli
from search.config import Settings
from search.filter_params import FILTER_PARAMETERS


def test_every_filter_is_an_option_of_facet_search_and_similar() -> None:
    for command in ("search", "similar"):
        text = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
        for parameter in FILTER_PARAMETERS:
            flag = (parameter.cli_flag or "--" + parameter.name.replace("_", "-")).split("/")[0]
            assert flag in text, (command, flag)


@pytest.mark.parametrize("path", ["/v1/search", "/v1/products/{sku}/similar"])
def test_every_filter_is_a_query_parameter_of_the_api(path: str) -> None:
    schema = create_app(Settings()).openapi()
    operation = next(iter(schema["paths"][path].values()))
    names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {parameter.name for parameter in FILTER_PARAMETERS} <= names


def test_a_bad_filter_is_a_one_line_cli_error() -> None:
    result = CliRunner().invoke(cli, ["similar", "X", "--attr", "no-equals-sign"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "facet: error: attribute filter 'no-equals-sign': expected KEY=VALUE"
    ]
