"""The search filters as `facet` options, from the declaration the API uses too."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from indexer.cli.common import fail
from search.filter_params import FILTER_PARAMETERS, FilterParameter, InvalidFilter, filters_from

R = TypeVar("R")


def with_filter_options(command: Callable[..., R]) -> Callable[..., R]:
    """Give a command one option per filter (`search.filter_params.FILTER_PARAMETERS`) and hand
    it the parsed `Filters` as its `filters` argument; a bad filter is a one-line error."""
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "filters"]
    options = [
        inspect.Parameter(
            parameter.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=_option(parameter),
        )
        for parameter in FILTER_PARAMETERS
    ]

    @functools.wraps(command)
    def with_filters(*args: Any, **kwargs: Any) -> R:
        values = {
            parameter.name: kwargs.pop(parameter.name, None) for parameter in FILTER_PARAMETERS
        }
        try:
            filters = filters_from(values)
        except InvalidFilter as error:
            raise fail(str(error)) from None
        return command(*args, filters=filters, **kwargs)

    with_filters.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*kept, *options]
    )
    return with_filters


def _option(parameter: FilterParameter) -> Any:
    flag = parameter.cli_flag or "--" + parameter.name.replace("_", "-")
    metavar = "KEY=VALUE" if parameter.kind == list[str] else None
    option = typer.Option(flag, min=parameter.minimum, help=parameter.help, metavar=metavar)
    return Annotated[parameter.kind | None, option]
