"""What every request passes before the model sees it: one ASGI middleware (access log, bearer
token, content type, body size and time) and the image decoder (Pillow, under a pixel limit).

The middleware reads the whole body itself (up to ``max_body_bytes``, within
``body_timeout_s``) before the app runs, so an oversized or too slow body is refused with its
own status and sentence instead of surfacing as a parse error somewhere inside the framework;
the app then receives the buffered body. Errors are JSON: ``{"error": "<what was wrong and
what is allowed>"}``.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import json
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("workbench.serve")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# the formats an image route decodes, by the media type a client sends
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/bmp": "BMP",
               "image/webp": "WEBP"}


class RequestError(Exception):
    """A refused request: its HTTP status and a sentence naming the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error_body(message: str, **extra: Any) -> bytes:
    return json.dumps({"error": message, **extra}).encode()


@dataclass
class Limits:
    """The guards' numbers (the command's options)."""

    token: str | None = None
    max_body_bytes: int = 8 * 2**20
    body_timeout_s: float = 30.0
    max_image_pixels: int = 2048 * 2048
    max_prompt_chars: int = 2000


def is_json(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


class Guard:
    """ASGI middleware around the whole app (outside the framework's own error handling).

    ``model_route`` is the POST path of the model and ``model_input`` its input kind ("json" or
    "image"); ``open_paths`` need no token (/health, and /ui: a static page that holds nothing
    but asks for the token, since a browser cannot send a bearer header when it opens a page).
    ``arrivals`` counts model requests whose bodies are being read (the batcher waits for them)."""

    def __init__(self, app: Any, limits: Limits, model_route: str, model_input: str,
                 arrivals: Any, open_paths: tuple[str, ...] = ("/health", "/ui")) -> None:
        self.app, self.limits = app, limits
        self.model_route, self.model_input = model_route, model_input
        self.arrivals, self.open_paths = arrivals, open_paths
        self._token = limits.token.encode() if limits.token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def logged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        is_model = scope["path"] == self.model_route and scope["method"] == "POST"
        arrival = self.arrivals.arrive() if is_model else None
        scope.setdefault("state", {})["arrival"] = arrival
        try:
            self._check_token(scope)
            if is_model:
                self._check_content_type(scope)
            body = await self._read_body(scope, receive)
            await self.app(scope, _replay(body, receive), logged_send)
        except RequestError as e:
            await _send_error(logged_send, e.status, e.message,
                              {"www-authenticate": "Bearer"} if e.status == 401 else None)
        finally:
            if arrival is not None:
                arrival.done()
            ms = (time.perf_counter() - start) * 1000
            log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, ms)

    def _check_token(self, scope: Scope) -> None:
        if self._token is None or scope["path"] in self.open_paths:
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, given = header.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self._token):
            raise RequestError(401, "missing or wrong bearer token: send the header "
                               "'Authorization: Bearer <token>' with the token the server was "
                               "started with (--token or WORKBENCH_SERVE_TOKEN).")

    def _check_content_type(self, scope: Scope) -> None:
        given = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
        kind = given.split(";")[0].strip().lower()
        if self.model_input == "json" and not is_json(given):
            raise RequestError(415, f"POST {self.model_route} takes a JSON body with the header "
                               f"'Content-Type: application/json'; got {kind or 'no content type'!r}.")
        if self.model_input == "image" and kind not in IMAGE_TYPES:
            raise RequestError(415, f"POST {self.model_route} takes the bytes of an image file "
                               f"with its type as Content-Type, one of {', '.join(IMAGE_TYPES)}; "
                               f"got {kind or 'no content type'!r}.")

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.limits.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestError(413, f"the request body of {int(declared):,} bytes is over the "
                               f"limit of {limit:,} bytes (--max-body-bytes).")
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.limits.body_timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise RequestError(408, f"the request body did not arrive within "
                                   f"{self.limits.body_timeout_s:g} s (--body-timeout-s).") from None
            if message["type"] == "http.disconnect":
                raise RequestError(400, "the client disconnected before sending the whole body.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"the request body is over the limit of {limit:,} bytes "
                                   "(--max-body-bytes).")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body once, then the client's own messages (a disconnect, for streams)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_error(send: Send, status: int, message: str,
                      headers: dict[str, str] | None = None) -> None:
    body = error_body(message)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    try:
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
    except Exception:  # noqa: BLE001 - the response had started, or the client is gone
        pass


class Arrivals:
    """How many model requests are being read or decoded (not yet handed to the batcher)."""

    def __init__(self) -> None:
        self.count = 0

    def arrive(self) -> Arrival:
        self.count += 1
        return Arrival(self)


class Arrival:
    def __init__(self, owner: Arrivals) -> None:
        self.owner, self.pending = owner, True

    def done(self) -> None:
        if self.pending:
            self.pending = False
            self.owner.count -= 1


# --------------------------------------------------------------------------- images


def decode_image(data: bytes, max_pixels: int) -> Any:
    """The uploaded bytes -> a PIL image in mode RGB or L. The pixel count is read from the
    header and checked before anything is decoded (a small file can declare a huge image: a
    decompression bomb); only the formats of IMAGE_TYPES are tried."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise RequestError(400, f"the request body is empty; send the bytes of an image file "
                           f"({', '.join(IMAGE_TYPES)}).")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=sorted(set(IMAGE_TYPES.values())))
            width, height = image.size
            if width * height > max_pixels:
                raise RequestError(413, f"the image is {width:,} x {height:,} = "
                                   f"{width * height:,} pixels, over the limit of {max_pixels:,} "
                                   "pixels (--max-image-pixels).")
            image.load()
        except RequestError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise RequestError(413, f"the image is too large to decode safely: {e}") from None
        except UnidentifiedImageError:
            raise RequestError(415, f"the body is not an image Pillow can read as "
                               f"{', '.join(sorted(set(IMAGE_TYPES.values())))}.") from None
        except (OSError, ValueError, SyntaxError) as e:  # truncated or damaged files
            raise RequestError(422, f"the image could not be decoded: {e}.") from None
    if image.mode in ("L", "RGB"):
        return image
    if image.mode in ("1", "I", "I;16", "F") or image.mode.startswith("I;"):
        return image.convert("L")
    return image.convert("RGB")  # palette, RGBA (alpha dropped), CMYK, YCbCr, LA...
