"""Every error as RFC 9457 `application/problem+json`; tracebacks stay in the log."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from search.errors import (
    FacetError,
    ImageDecodeError,
    IncompatibleIndex,
    IndexNotReady,
    InvalidReference,
    PublishBusy,
    UnknownProduct,
)
from search.recommend import BadExamples
from search.text_search import BadTextQuery

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class ProblemError(Exception):
    """An HTTP problem raised by the API layer itself (bad upload, bad parameter...)."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.extra = extra


def overloaded(detail: str) -> ProblemError:
    """503 `overloaded` with Retry-After: the answer of every full waiting line."""
    return ProblemError(503, "overloaded", "Too many requests in flight", detail, retry_after=1)


def problem(
    request: Request, status: int, slug: str, title: str, detail: str, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# Domain errors raised by `search/`: status, slug, title.
DOMAIN_ERRORS: list[tuple[type[FacetError], int, str, str]] = [
    (ImageDecodeError, 422, "undecodable-image", "The image cannot be decoded"),
    (UnknownProduct, 404, "unknown-product", "No such product"),
    (BadExamples, 422, "bad-examples", "Recommendation examples are not usable"),
    (BadTextQuery, 422, "bad-text-query", "The text query has no word to search for"),
    (IndexNotReady, 503, "index-not-ready", "The index is not ready"),
    (IncompatibleIndex, 503, "index-not-ready", "The index does not fit the model"),
    (PublishBusy, 503, "busy", "Another writer is busy"),
    (InvalidReference, 422, "invalid-reference", "The reference photos cannot be used"),
]


def install_error_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ProblemError)
        return problem(request, error.status, error.slug, error.title, error.detail, **error.extra)

    async def on_domain(request: Request, error: Exception) -> JSONResponse:
        if isinstance(error, ImageDecodeError):
            if error.reason == "unsupported-format":  # sniffed from the bytes, not declared
                title = "Unsupported media type"
                return problem(request, 415, "unsupported-media-type", title, str(error))
            title = "The image cannot be decoded"
            detail = str(error)
            return problem(request, 422, "undecodable-image", title, detail, reason=error.reason)
        for kind, status, slug, title in DOMAIN_ERRORS:
            if isinstance(error, kind):
                headers_extra = {"retry_after": 5} if status == 503 else {}
                return problem(request, status, slug, title, str(error), **headers_extra)
        return problem(request, 400, "bad-request", "Bad request", str(error))

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = [
            {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type")}
            for item in error.errors()
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return problem(request, 422, "validation-error", "Invalid request", detail, errors=errors)

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        return problem(request, error.status_code, slug, str(error.detail), str(error.detail))

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        if _database_locked(error):
            # Another process held the write lock for longer than api.write_timeout_s.
            return problem(
                request, 503, "busy", "Another writer is busy",
                "the product database is locked by another writer; try again", retry_after=2,
            )  # fmt: skip
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            request, 500, "internal", "Internal server error", "An unexpected error occurred."
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(FacetError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def _database_locked(error: Exception) -> bool:
    # Imported here: only this rare path needs SQLAlchemy's exception types.
    from sqlalchemy.exc import OperationalError

    # SQLite: "database is locked"; PostgreSQL: "canceling statement due to lock timeout".
    message = str(getattr(error, "orig", "")).lower()
    return isinstance(error, OperationalError) and (
        "locked" in message or "lock timeout" in message
    )
