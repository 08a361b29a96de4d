"""The FastAPI app (``create_app``) and the uvicorn server that runs it (``make_server``)."""

import logging
import time
from dataclasses import dataclass
from typing import Any

from persona.engine import Engine
from persona.models.registry import ALIASES
from persona.packs import Persona
from persona.server import auth, completions, schema
from persona.server.errors import ApiError, from_exception
from persona.server.queue import RETRY_AFTER_S, ModelQueue, QueueFull

log = logging.getLogger("persona")


class EphemeralStore:
    """The store for stateless requests: turns are not kept; everything else (tool notes) is the real store's."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def commit_turn(self, *args: Any, **kwargs: Any):
        from persona.store import Saved

        return Saved(start=0, head=0, moved=False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine.store, name)


@dataclass
class Settings:
    api_key: str | None = None
    max_queue: int = 32
    cors_origin: str | None = None
    max_body: int = schema.MAX_BODY_BYTES
    packs: dict[str, Persona] | None = None  # default: every pack discovered at start-up


def create_app(engine: Engine, settings: Settings | None = None):
    """The API over ``engine``: its model backend is shared behind one bounded queue; each request gets
    its own Chat. Stateless requests run on a second Engine whose store keeps nothing."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException

    from persona.packs import discover

    settings = settings or Settings()
    packs = settings.packs if settings.packs is not None else discover()
    stateless = Engine(pm=engine.pm, store=EphemeralStore(engine), backend_loader=engine.backend_loader,
                       backend=engine.backend_name, user=engine.user)
    model_queue = ModelQueue(settings.max_queue)
    app = FastAPI(title="persona", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.queue, app.state.engine, app.state.packs = model_queue, engine, packs

    def error_response(err: ApiError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(exc)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):  # unknown routes, wrong methods
        return error_response(ApiError(exc.status_code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def _any_error(request: Request, exc: Exception):
        return error_response(from_exception(exc))

    @app.middleware("http")
    async def _guard(request: Request, call_next):
        try:
            auth.check(settings.api_key, request.url.path, request.headers.get("authorization"))
        except ApiError as err:
            return error_response(err)
        return await call_next(request)

    if settings.cors_origin:  # added last: outermost, so preflights are answered before the key check
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=[settings.cors_origin], allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-Persona-Session"])

    @app.get("/health")
    async def health():
        return {"status": "ok", "waiting": model_queue.waiting, "busy": model_queue.running is not None}

    @app.get("/v1/models")
    async def models():
        data = [{"id": p.id, "object": "model", "created": 0, "owned_by": "persona",
                 "persona": {"name": p.name, "language": p.language, "base": p.base,
                             "adapter": p.adapter is not None}} for p in packs.values()]
        data += [{"id": completions.BASE + alias, "object": "model", "created": 0, "owned_by": "persona",
                  "persona": {"base": alias, "description": ALIASES[alias].description}} for alias in ALIASES]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        req = schema.parse(schema.parse_json(await read_body(request, settings.max_body)))
        session = schema.session_id(request.headers.get("x-persona-session"))
        target = completions.resolve(req.model, packs, list(ALIASES))
        if target.raw:
            if session is not None:
                raise ApiError(400, "X-Persona-Session needs persona mode (model without ':raw')",
                               param="X-Persona-Session")
            work = completions.raw_work(engine, target.persona, req)
        else:
            work = completions.persona_work(engine if session else stateless, target.persona, req, session)
        try:
            job = model_queue.submit(work)
        except QueueFull as exc:
            raise ApiError(503, f"the server is busy: {exc}; retry shortly", code="queue_full",
                           headers={"Retry-After": str(RETRY_AFTER_S)}) from None
        reply = completions.Reply(req.model)
        if req.stream:
            return StreamingResponse(reply.stream(job, req, target, session), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        result = await until_disconnect(request, job)
        return JSONResponse(reply.completion(result, target, session))

    return app


async def until_disconnect(request, job):
    """The job's result; a client that leaves first cancels its generation (uvicorn does not cancel a
    handler whose client left, so the disconnect is watched for beside the job)."""
    import asyncio

    async def left() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    done, watching = asyncio.ensure_future(job.result()), asyncio.ensure_future(left())
    try:
        await asyncio.wait({done, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watching.cancel()
        job.cancel.set()  # no-op once the job is done
    if not done.done():
        done.cancel()
        raise ApiError(499, "the client closed the connection", code="client_closed")  # nobody reads it
    return done.result()


async def read_body(request, limit: int) -> bytes:
    """The body, refused with 413 past ``limit`` bytes (by Content-Length, then as it is read)."""
    too_large = ApiError(413, f"the request body is over {limit} bytes", code="request_too_large")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise too_large
    return bytes(body)


def make_server(app, host: str = "127.0.0.1", port: int = 8765, on_ready=None):
    """A ``uvicorn.Server`` for ``app``; ``on_ready(port)`` is called once it listens (port 0: any free one)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started and on_ready is not None:
                on_ready(self.servers[0].sockets[0].getsockname()[1])

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=5)
    return Server(config)


def wait_started(server, tries: int = 2000) -> None:
    """Block until ``server`` (running in another thread) listens; for tests and embedders."""
    for _ in range(tries):
        if server.started:
            return
        time.sleep(0.005)
    raise RuntimeError("the server did not start")
