"""OpenAI's error object (``{"error": {message, type, param, code}}``) and which status each failure gets."""

from __future__ import annotations

import logging

from persona.errors import GenerationError, InputError, ModelError, PackError, PersonaError

log = logging.getLogger("persona")

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
          405: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error",
          503: "server_busy", 500: "server_error"}


class ApiError(Exception):
    """A failure the client sees as an HTTP status and an OpenAI error object."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": _TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}


def from_exception(exc: BaseException) -> ApiError:
    """The API error for any exception: a PersonaError keeps its message and hint; anything else is
    a 500 that names the exception class only (the traceback goes to the server's log, never the body)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, PersonaError):
        text = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        if isinstance(exc, InputError):
            return ApiError(400, text, code="invalid_value")
        if isinstance(exc, PackError):
            return ApiError(404, text, param="model", code="model_not_found")
        if isinstance(exc, (GenerationError, ModelError)):
            return ApiError(500, text, code="generation_failed")
        return ApiError(400, text)
    log.error("request failed", exc_info=exc)
    return ApiError(500, f"internal error: {type(exc).__name__}", code="internal_error")
