"""Errors as HTTP answers: one JSON shape (``error``, ``message``, ``field``), and the mapping
of the manager's errors to status codes.

- bad input (the request's shape, a model's bounds, the manager's ``InvalidInputError``, an
  unreadable job file): 422, naming the field;
- an unknown id, or one the caller may not see: 404 (the same answer for both);
- a conflict with the farm's state (duplicate id, illegal transition, client in use): 409;
- the store is unavailable: 503.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from render_farm_manager.core import errors as farm_errors

_LOCATIONS = {"body", "query", "path", "header", "cookie"}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.field = field
        self.headers = headers


def not_found(kind: str, object_id: str) -> ApiError:
    return ApiError(404, "not_found", f"unknown {kind} {object_id!r}")


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid_input", f"{field}: {message}", field=field)


def field_name(location: Sequence[Any]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _body(
    error: str, message: str, field: str | None = None, errors: list[Any] | None = None
) -> dict[str, Any]:
    return {"error": error, "message": message, "field": field, "errors": errors or []}


def _validation_answer(details: list[dict[str, Any]], prefix: str = "") -> JSONResponse:
    cleaned = [
        {"field": prefix + field_name(d.get("loc", ())), "message": d.get("msg", "")}
        for d in details
    ]
    first = cleaned[0] if cleaned else {"field": prefix or "body", "message": "invalid"}
    message = "; ".join(f"{c['field']}: {c['message']}" for c in cleaned[:5])
    return JSONResponse(
        status_code=422,
        content=jsonable_encoder(_body("invalid_input", message, first["field"], cleaned)),
    )


_NOT_FOUND = (
    farm_errors.UnknownJobError,
    farm_errors.UnknownNodeError,
    farm_errors.UnknownClientError,
)
_CONFLICT = (
    farm_errors.DuplicateIdError,
    farm_errors.IllegalTransitionError,
    farm_errors.ClientInUseError,
    farm_errors.JobFinishedError,
    farm_errors.JobNotReadyError,
    farm_errors.NodeUnavailableError,
    farm_errors.NodeMismatchError,
    farm_errors.DependencyCycleError,
    farm_errors.ProgressiveOutputNotSupportedError,
)


def farm_error_answer(error: farm_errors.RenderFarmError) -> JSONResponse:
    if isinstance(error, farm_errors.InvalidInputError):
        field = error.field or "body"
        return JSONResponse(status_code=422, content=_body("invalid_input", str(error), field))
    if isinstance(error, farm_errors.JobFileError):
        return JSONResponse(status_code=422, content=_body("invalid_job_file", str(error), "file"))
    if isinstance(error, _NOT_FOUND):
        return JSONResponse(status_code=404, content=_body("not_found", str(error)))
    if isinstance(error, _CONFLICT):
        return JSONResponse(status_code=409, content=_body("conflict", str(error)))
    if isinstance(error, farm_errors.StoreError):
        return JSONResponse(
            status_code=503,
            content=_body("store_unavailable", str(error)),
            headers={"Retry-After": "5"},
        )
    return JSONResponse(status_code=500, content=_body("farm_error", str(error)))


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return JSONResponse(
            status_code=error.status,
            content=_body(error.error, error.message, error.field),
            headers=error.headers,
        )

    async def request_invalid(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return _validation_answer(list(error.errors()))

    async def model_invalid(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ValidationError)
        return _validation_answer(list(error.errors()))  # type: ignore[arg-type]

    async def farm_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, farm_errors.RenderFarmError)
        return farm_error_answer(error)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(ValidationError, model_invalid)
    app.add_exception_handler(farm_errors.RenderFarmError, farm_error)
