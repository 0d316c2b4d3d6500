"""One shape for every error the API answers: {"error": {"code", "message", "issues"?}}.

UpstateError carries its HTTP status; a ConfigError adds its issues (field, line, column,
message), so a bad condition in a POSTed monitor says where it is wrong. FastAPI's own
request errors and unknown routes answer in the same shape. A database that cannot be
reached answers 503. Messages never repeat a request's values (they may be secrets).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from upstate.errors import ConfigError, Conflict, NotFound, Unauthorized, UpstateError, UsageError

logger = logging.getLogger(__name__)

_CODES: dict[type[UpstateError], str] = {
    ConfigError: "invalid",
    UsageError: "bad_request",
    NotFound: "not_found",
    Conflict: "conflict",
    Unauthorized: "unauthorized",
}
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "invalid",
}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    issues: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if issues is not None:
        error["issues"] = issues
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _code(exc: UpstateError) -> str:
    for kind in type(exc).__mro__:
        if kind in _CODES:
            return _CODES[kind]
    return "internal"


async def _upstate_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UpstateError)
    if exc.http_status >= 500:
        logger.error("request failed error=%s", type(exc).__name__)
    issues = None
    if isinstance(exc, ConfigError):
        issues = [
            {"field": i.field, "line": i.line, "column": i.column, "message": i.message}
            for i in exc.issues
        ]
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return error_response(exc.http_status, _code(exc), exc.message, issues=issues, headers=headers)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _request_invalid(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's parameter and body errors, without the input pydantic would echo."""
    assert isinstance(exc, RequestValidationError)
    issues = []
    for error in exc.errors():
        where = [str(part) for part in error.get("loc", ())]
        field = ".".join(where[1:]) if len(where) > 1 else ".".join(where)
        issues.append({"field": field, "line": None, "column": None, "message": error["msg"]})
    return error_response(422, "invalid", "the request is not valid", issues=issues)


async def _database_down(_: Request, exc: Exception) -> JSONResponse:
    logger.error("database unavailable error=%s", type(exc).__name__)
    return error_response(503, "database_unavailable", "the database cannot be reached")


def install(app: FastAPI) -> None:
    app.add_exception_handler(UpstateError, _upstate_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(DBAPIError, _database_down)
    app.add_exception_handler(ConnectionError, _database_down)
    app.add_exception_handler(TimeoutError, _database_down)
