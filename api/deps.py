"""Dependencies handed to routes: the service, parsed filters, k, parameter checks, results."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from api.errors import ProblemError
from api.schemas import ProductResult, SearchResponse, Timings
from api.service import Service
from search.confidence import judge
from search.filter_params import (
    FILTER_NAMES,
    FILTER_PARAMETERS,
    Filters,
    InvalidFilter,
    filters_from,
)
from search.searcher import ProductHit
from search.served_images import image_version
from search.serving import Snapshot


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def get_session(service: ServiceDep) -> Iterator[Session]:
    """A read session per request. A sync dependency: FastAPI opens and closes it in its thread
    pool, and routes use it only inside `run_in_threadpool`, never on the event loop."""
    with Session(service.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def _filters_dependency() -> Callable[..., Filters]:
    """`get_filters`: one query parameter per `search.filter_params.FILTER_PARAMETERS` entry
    (the CLI's options come from the same declaration)."""

    def get_filters(**values: Any) -> Filters:
        try:
            return filters_from(values)
        except InvalidFilter as error:
            raise ProblemError(422, "validation-error", "Invalid request", str(error)) from None

    parameters = [
        inspect.Parameter(
            parameter.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                parameter.kind | None,
                Query(ge=parameter.minimum, description=parameter.help),
            ],
        )
        for parameter in FILTER_PARAMETERS
    ]
    get_filters.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=Filters
    )
    get_filters.__doc__ = "Filters from query parameters (on POST /v1/search too)."
    return get_filters


get_filters = _filters_dependency()
FiltersDep = Annotated[Filters, Depends(get_filters)]
# The query parameters get_filters reads.
FILTER_PARAMS = FILTER_NAMES
# ... and every result-listing route's: filters, k and min_score.
RESULT_PARAMS = FILTER_PARAMS | {"k", "min_score"}
DEFAULT_K = 10
MinScore = Annotated[
    float | None,
    Query(ge=-1, le=1, description="Leave out results scoring below this (cosine similarity)"),
]


def invalid(location: str, name: str, message: str, kind: str) -> RequestValidationError:
    """A 422 validation-error problem, shaped like FastAPI's own."""
    return RequestValidationError([{"loc": (location, name), "msg": message, "type": kind}])


def limit_k(service: Service, k: int, location: str) -> int:
    """`k`, checked against FACET_API__MAX_K (a setting, so not in the route's signature)."""
    max_k = service.settings.api.max_k
    if k > max_k:
        raise invalid(location, "k", f"Input should be less than or equal to {max_k}", "le")
    return k


def get_query_k(
    service: ServiceDep,
    k: Annotated[int, Query(ge=1, description="How many results (at most FACET_API__MAX_K)")] = (
        DEFAULT_K
    ),
) -> int:
    return limit_k(service, k, "query")


def get_form_or_query_k(
    service: ServiceDep,
    form_k: Annotated[
        int | None, Form(alias="k", ge=1, description="How many results (or ?k=)")
    ] = None,
    query_k: Annotated[
        int | None, Query(alias="k", ge=1, description="How many results (or the k field)")
    ] = None,
) -> int:
    """`k` from the form or the query string, where a client would send it; both must agree."""
    if form_k is not None and query_k is not None and form_k != query_k:
        raise invalid("query", "k", f"k is {query_k} here but {form_k} in the form", "conflict")
    if form_k is not None:
        return limit_k(service, form_k, "body")
    return limit_k(service, query_k if query_k is not None else DEFAULT_K, "query")


QueryK = Annotated[int, Depends(get_query_k)]
FormOrQueryK = Annotated[int, Depends(get_form_or_query_k)]


def only_params(
    *, query: frozenset[str], form: frozenset[str] = frozenset()
) -> Callable[[Request], Awaitable[None]]:
    """A dependency answering 422 for any query parameter or form field the route does not
    read, so that a misplaced or misspelt one is never silently ignored."""

    async def check(request: Request) -> None:
        for name in request.query_params:
            if name not in query:
                raise invalid("query", name, _unknown(name, query, form, "form field"), "unknown")
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            fields: Any = await request.form()  # parsed once already; Starlette caches it
            for name in fields:
                if name not in form:
                    message = _unknown(name, form, query, "query parameter")
                    raise invalid("body", name, message, "unknown")

    return check


def _unknown(name: str, here: frozenset[str], there: frozenset[str], other: str) -> str:
    if name in there:
        return f"{name!r} is not accepted here; send it as a {other}"
    return f"unknown parameter {name!r} (accepted: {', '.join(sorted(here)) or 'none'})"


def image_url(request: Request, image_id: int, content_hash: str | None) -> str:
    """The image's URL, naming its content version (`?v=`), so that it may be cached for good;
    add `size=` for a thumbnail."""
    url = request.url_for("get_image", image_id=image_id)
    return str(url.include_query_params(v=image_version(content_hash)) if content_hash else url)


def search_response(
    request: Request,
    service: Service,
    live: Snapshot,
    hits: list[ProductHit],
    *,
    min_score: float | None,
    timings: Timings,
) -> SearchResponse:
    """The answer of a search, similar or recommend call, judged for confidence."""
    threshold = service.settings.search.confident_score
    judged = judge(hits, threshold=threshold, min_score=min_score)
    return SearchResponse(
        results=to_results(request, judged.hits),
        build_id=live.manifest.build_id,
        timings=timings,
        confident=judged.confident,
        confidence_threshold=threshold,
    )


def to_results(request: Request, hits: list[ProductHit]) -> list[ProductResult]:
    return [
        ProductResult(
            sku=hit.sku,
            title=hit.title,
            category=hit.category,
            price=hit.price,
            currency=hit.currency,
            score=round(hit.score, 6),
            image_id=hit.image_id,
            image_url=image_url(request, hit.image_id, hit.image_hash),
        )
        for hit in hits
    ]
