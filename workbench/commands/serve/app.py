"""The FastAPI app of ``workbench serve``: one model route from the plugin's ``Serving``, the
operational routes, and the /ui page.

Routes: ``GET /health`` (alive; no token), ``GET /ready`` (loaded and not draining),
``GET /info`` (what the model route takes and returns), ``POST /<route>`` (the model),
``GET /ui`` (a page to try it), ``GET /openapi.json`` (FastAPI's description of all of them).
FastAPI's /docs pages are off: they load their scripts from a CDN, and nothing here may be
downloaded.

This module has no ``from __future__ import annotations``: the model route's handler is built
at run time with the plugin's pydantic models as its annotations, which FastAPI reads as types.
"""

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any

from workbench.commands.serve.batcher import MicroBatcher
from workbench.commands.serve.guards import (
    Arrivals,
    Guard,
    Limits,
    RequestError,
    decode_image,
    error_body,
)
from workbench.errors import UserError
from workbench.plugin import ImageRequest, Serving


@dataclass
class ServerState:
    """What the operational routes report; ``draining`` is set on SIGTERM."""

    info: dict[str, Any] = field(default_factory=dict)
    draining: bool = False
    ready: bool = False


def create_app(serving: Serving, batcher: MicroBatcher, limits: Limits, info: dict[str, Any],
               state: ServerState | None = None) -> Any:
    """The ASGI app: FastAPI inside the Guard middleware. ``batcher`` runs ``serving.predict``."""
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    state = state or ServerState()
    state.info = info
    arrivals = Arrivals()
    route = "/" + serving.route.strip("/")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        batcher.start()
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            await batcher.stop()

    app = FastAPI(title=f"workbench serve: {info.get('plugin', '?')}", version=str(info.get("step", "")),
                  description=serving.summary, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.serve = state
    app.state.batcher = batcher

    # ---------------------------------------------------------------- errors as JSON sentences
    @app.exception_handler(RequestError)
    async def request_error(request: Request, e: RequestError) -> Response:
        return JSONResponse({"error": e.message}, status_code=e.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> Response:
        errors = e.errors()
        bad_json = [x for x in errors if x.get("type") == "json_invalid"]
        if bad_json:
            ctx = bad_json[0].get("ctx") or {}
            return JSONResponse({"error": f"malformed JSON: {ctx.get('error', 'cannot parse the body')}."},
                                status_code=400)
        parts = [f"{'.'.join(str(p) for p in x.get('loc', ()) if p != 'body') or 'body'}: {x.get('msg')}"
                 for x in errors]
        return JSONResponse({"error": "the request does not fit the schema: " + "; ".join(parts)
                             + f". GET /info shows what POST {route} takes.",
                             "detail": json.loads(json.dumps(errors, default=str))},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        message = str(e.detail)
        if e.status_code == 404:
            message = (f"no route {request.method} {request.url.path}; the routes are GET /health, "
                       f"/ready, /info, /ui, /openapi.json and POST {route}.")
        elif e.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}."
        return JSONResponse({"error": message}, status_code=e.status_code, headers=e.headers)

    # ---------------------------------------------------------------- operations
    @app.get("/health", summary="alive (no token needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="the model is loaded and the server is not draining")
    async def ready() -> Response:
        if state.draining or not state.ready:
            return JSONResponse({"ready": False, "reason": "draining" if state.draining else "starting"},
                                status_code=503)
        s = batcher.stats
        return JSONResponse({"ready": True, "plugin": info.get("plugin"), "step": info.get("step"),
                             "batches": s.batches, "requests": s.items, "largest_batch": s.largest})

    @app.get("/info", summary="what the model route takes and returns")
    async def describe() -> dict[str, Any]:
        schema = serving.request.model_json_schema() if serving.request is not None else None
        example = serving.example
        if example is None and serving.request is not None and serving.input == "json":
            with contextlib.suppress(Exception):  # a request with required fields has no default
                example = serving.request().model_dump(mode="json")
        return {**info, "route": route, "input": serving.input, "output": serving.output,
                "summary": serving.summary, "request_schema": schema, "example": example,
                "max_prompt_chars": limits.max_prompt_chars,
                "max_image_pixels": limits.max_image_pixels}

    @app.get("/ui", response_class=HTMLResponse, summary="a page to try the model in a browser")
    async def ui() -> Response:
        page = resources.files("workbench.commands.serve").joinpath("ui.html").read_text("utf-8")
        return HTMLResponse(page, headers={"content-security-policy": _CSP, "cache-control": "no-store"})

    # ---------------------------------------------------------------- the model route
    async def run_model(request: Request, payload: Any) -> Any:
        arrival = request.scope.get("state", {}).get("arrival")
        try:
            _check_text_lengths(payload, limits.max_prompt_chars)
            item = serving.prepare(payload) if serving.prepare is not None else payload
        except (UserError, ValueError) as e:
            raise RequestError(422, str(e)) from None
        finally:
            if arrival is not None:
                arrival.done()
        if state.draining:
            raise RequestError(503, "the server is shutting down.")
        try:
            if serving.output == "stream":
                first, rest = await batcher.submit_stream(item)
                return StreamingResponse(_prepend(first, rest), media_type="text/plain; charset=utf-8")
            out = await batcher.submit(item)
        except (UserError, ValueError) as e:
            raise RequestError(422, str(e)) from None
        except Exception as e:  # noqa: BLE001 - the model failed on this request: 500, server lives
            raise RequestError(500, f"the model failed on this request: {type(e).__name__}: {e}") from None
        if serving.output == "json":
            return out
        return Response(out, media_type=serving.output)

    responses: dict[int | str, Any] = {code: {"description": text, "content": {"application/json": {}}}
                                       for code, text in _ERRORS.items()}
    if serving.output == "stream":
        responses[200] = {"description": "the generated text, streamed as it is made",
                          "content": {"text/plain": {"schema": {"type": "string"}}}}
    elif serving.output != "json":
        responses[200] = {"description": f"a {serving.output} file",
                          "content": {serving.output: {"schema": {"type": "string", "format": "binary"}}}}
    kwargs: dict[str, Any] = dict(summary=serving.summary, responses=responses,
                                  response_model=serving.response if serving.output == "json" else None)

    if serving.input == "json":
        if serving.request is None:
            raise UserError(f"Serving of route {route!r}: a JSON route needs a request model.")
        body_type = serving.request

        async def json_route(request: Request, body: body_type) -> Any:  # type: ignore[valid-type]
            return await run_model(request, body)

        app.post(route, **kwargs)(json_route)
    elif serving.input == "image":
        image_body = {"requestBody": {"required": True, "content": {
            t: {"schema": {"type": "string", "format": "binary"}} for t in
            ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp")}}}
        if serving.request is not None:
            options_type = Annotated[serving.request, Query()]

            async def image_route(request: Request, options: options_type) -> Any:  # type: ignore[valid-type]
                image = decode_image(await request.body(), limits.max_image_pixels)
                return await run_model(request, ImageRequest(image, options))
        else:
            async def image_route(request: Request) -> Any:  # type: ignore[misc]
                image = decode_image(await request.body(), limits.max_image_pixels)
                return await run_model(request, ImageRequest(image, None))

        app.post(route, openapi_extra=image_body, **kwargs)(image_route)
    else:
        raise UserError(f"Serving.input must be 'json' or 'image'; got {serving.input!r}.")

    batcher.arrivals = arrivals
    return Guard(app, limits, route, serving.input, arrivals)


# inline script and style of /ui only; the page talks to this server and loads nothing else
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src blob: data:; connect-src 'self'; media-src blob:")

_ERRORS = {400: "malformed JSON, an empty body", 401: "missing or wrong bearer token",
           408: "the body came too slowly", 413: "body or image over its limit",
           415: "wrong content type", 422: "the request does not fit the schema, or the model "
           "refused it (the message says why)", 500: "the model failed on this request",
           503: "the server is shutting down"}


def _check_text_lengths(payload: Any, limit: int) -> None:
    """Every string field of a JSON request is at most ``limit`` characters (--max-prompt-chars)."""
    if not hasattr(type(payload), "model_fields"):
        return
    for name in type(payload).model_fields:
        value = getattr(payload, name)
        if isinstance(value, str) and len(value) > limit:
            raise RequestError(413, f"'{name}' is {len(value):,} characters long, over the limit "
                               f"of {limit:,} (--max-prompt-chars).")


async def _prepend(first: str, rest: Any) -> AsyncIterator[str]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


__all__ = ["create_app", "ServerState", "error_body"]
