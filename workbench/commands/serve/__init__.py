"""``workbench serve RUN``: a trained run as an HTTP service (FastAPI on uvicorn).

The run's plugin says what it serves through ``Plugin.serving()`` (workbench/plugin.py); this
package knows no plugin. ``app.py`` builds the routes, ``batcher.py`` gathers concurrent
requests into one forward pass, ``guards.py`` refuses what it should. Order of work, so that bad
input costs nothing: check the options, the run and its checkpoint, that the plugin serves
something, and bind the socket (port in use, bad host: exit 2) -- only then load the model.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from workbench.errors import UserError

log = logging.getLogger("workbench.serve")
TOKEN_ENV = "WORKBENCH_SERVE_TOKEN"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="serve a run's model over HTTP (batched, guarded; /ui to try it)",
        description="Serve a run's last checkpoint (or, with --pretrained, a shipped agent or "
        "a file of `workbench export RUN --format weights`) over HTTP: the route its plugin declares "
        "(POST /classify, /act, /generate, /sample, /translate), /health, /ready, /info, "
        "/openapi.json and a page to try it at /ui. Concurrent requests are batched into one "
        "forward pass. Binds 127.0.0.1 unless --host says otherwise. SIGTERM or Ctrl-C lets "
        "requests in flight finish, then exits 0.")
    p.add_argument("run_dir", nargs="?", help="a run directory (with a checkpoint)")
    p.add_argument("--pretrained", metavar="NAME|FILE", default=None,
                   help="serve a preset's shipped weights (dqn-pong) or a weights file instead of a run")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 = every "
                   "interface, with a warning)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 = any free one)")
    p.add_argument("--token", default=None,
                   help=f"require 'Authorization: Bearer TOKEN' on every route but /health and "
                   f"the /ui page (default: ${TOKEN_ENV} if set; prefer it, a command line is "
                   "visible to other users)")
    p.add_argument("--max-batch", type=int, default=32,
                   help="most requests in one forward pass (1 = one request, one forward)")
    p.add_argument("--max-wait-ms", type=float, default=5.0,
                   help="longest a batch waits for more requests after its first, when more are "
                   "expected (a lone request never waits)")
    p.add_argument("--max-body-bytes", type=int, default=8 * 2**20, help="request body limit")
    p.add_argument("--max-image-pixels", type=int, default=2048 * 2048,
                   help="largest uploaded image, width x height (decompression bombs)")
    p.add_argument("--max-prompt-chars", type=int, default=2000,
                   help="longest text in any field of a JSON request")
    p.add_argument("--body-timeout-s", type=float, default=30.0,
                   help="a request body must arrive within this many seconds")
    p.add_argument("--limit-concurrency", type=int, default=256,
                   help="connections and requests at once; more get 503")
    p.add_argument("--drain-timeout-s", type=float, default=30.0,
                   help="on SIGTERM, longest wait for requests in flight")
    p.set_defaults(handler=cmd_serve)


def _check_options(args: argparse.Namespace) -> None:
    checks = [("--max-batch", args.max_batch, 1), ("--max-body-bytes", args.max_body_bytes, 1),
              ("--max-image-pixels", args.max_image_pixels, 1),
              ("--max-prompt-chars", args.max_prompt_chars, 1),
              ("--limit-concurrency", args.limit_concurrency, 1), ("--port", args.port, 0)]
    for name, value, least in checks:
        if value < least:
            raise UserError(f"{name} must be >= {least}; got {value}.")
    if args.port > 65535:
        raise UserError(f"--port must be a TCP port, 0-65535; got {args.port}.")
    for name, value in (("--max-wait-ms", args.max_wait_ms), ("--body-timeout-s", args.body_timeout_s),
                        ("--drain-timeout-s", args.drain_timeout_s)):
        if not value >= 0:
            raise UserError(f"{name} must be >= 0; got {value}.")


def _require_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise UserError(f"`workbench serve` needs FastAPI and uvicorn ({e.name} is missing): "
                        "pip install 'workbench[serve]'.") from None


def _check_run(run_dir: str) -> tuple[Any, str]:
    """(plugin class, plugin name) of a run that has a checkpoint and a plugin that serves."""
    from workbench.engine.loop import load_run
    from workbench.plugin import Plugin

    run, info, spec, _cfg, plugin_cls = load_run(run_dir)
    if not Path(run.checkpoint).is_file():
        raise UserError(f"{run.path} has no checkpoint yet ({run.checkpoint} is missing): there "
                        "are no trained weights to serve. Let the run reach its first "
                        "checkpoint_every, or `workbench resume` it.")
    if getattr(plugin_cls, "serving", Plugin.serving) is Plugin.serving:
        raise UserError(f"plugin '{spec.name}' ({plugin_cls.__name__}) has nothing to serve: it "
                        "does not implement Plugin.serving(). The plugins that serve are the "
                        "classifiers, dqn, ppo, text-lm, music-lm, dcgan, pix2pix, caption and "
                        "style-fast.")
    return plugin_cls, spec.name


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a UserError naming what is wrong with the address."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        raise UserError(f"--host {host!r} is not an address this machine can bind ({e}); use "
                        "127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one of its "
                        "own addresses.") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise UserError(f"port {port} on {host} is in use by another program; pick another "
                            "with --port N (or --port 0 for any free one).") from None
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}. Use 127.0.0.1 or "
                        "one of this machine's own addresses, and a port you may open.") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    _check_options(args)
    _require_extra()
    if (args.run_dir is None) == (args.pretrained is None):
        raise UserError("give either a run directory or --pretrained NAME|FILE (one of the two): "
                        "`workbench serve runs/dqn-pong/NAME` or `workbench serve --pretrained "
                        "dqn-pong`.")
    if args.run_dir is not None:
        _check_run(args.run_dir)
    else:
        from workbench.commands import pretrained

        spec, _ = pretrained.resolve(args.pretrained)
        if not hasattr(pretrained.hooks(spec), "serving"):
            raise UserError(f"plugin '{spec.name}' cannot serve a weights file; serve a run "
                            "directory of it instead.")
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    if args.token is not None and not args.token:
        raise UserError("--token is empty; give a token, or leave the option out.")
    sock = bind(args.host, args.port)
    if not is_loopback(args.host):
        print(f"workbench serve: warning: listening on {args.host}, reachable from other machines"
              + ("" if token else f", with no token (set --token or {TOKEN_ENV})") + ".",
              file=sys.stderr)
    try:
        return serve(args, sock, token)
    finally:
        sock.close()


class _Pretrained:
    """What stands for the plugin when a weights file is served: nothing to close."""

    def close(self) -> None:
        pass


def load_pretrained_server(name: str, max_batch: int, max_wait_ms: float
                           ) -> tuple[Any, Any, Any, dict[str, Any]]:
    """As :func:`load_server`, for ``--pretrained NAME|FILE`` (a weights file, fp32 on CPU)."""
    import torch

    from workbench.commands import pretrained
    from workbench.commands.serve.batcher import MicroBatcher

    serving, about = pretrained.serving(name)

    def context() -> Any:
        return torch.inference_mode()

    batcher = MicroBatcher(serving.predict, max_batch=max_batch, max_wait_ms=max_wait_ms,
                           stream=serving.output == "stream", context=context)
    info = {**about, "precision": "fp32", "device": "cpu", "max_batch": max_batch,
            "max_wait_ms": max_wait_ms}
    return _Pretrained(), serving, batcher, info


def load_server(run_dir: str, max_batch: int, max_wait_ms: float) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(plugin, its Serving, a MicroBatcher of its predict, info) for a run: the model in eval
    mode, predict under inference mode and the run's autocast (the benchmark uses this too)."""
    import torch

    from workbench.commands.serve.batcher import MicroBatcher
    from workbench.engine.loop import load_for_inference
    from workbench.plugin import Serving

    plugin, run, step = load_for_inference(run_dir)
    serving = plugin.serving()
    if not isinstance(serving, Serving):
        plugin.close()
        raise UserError(f"{type(plugin).__name__}.serving() returned {type(serving).__name__}; "
                        "it must return a workbench.plugin.Serving (or the plugin serves nothing).")
    for value in vars(plugin).values():
        if isinstance(value, torch.nn.Module):
            value.eval()

    def context() -> Any:
        import contextlib

        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        stack.enter_context(plugin.ctx.autocast())
        return stack

    batcher = MicroBatcher(serving.predict, max_batch=max_batch, max_wait_ms=max_wait_ms,
                           stream=serving.output == "stream", context=context)
    info = {"plugin": type(plugin).__name__, "run": str(run.path), "step": step,
            "precision": plugin.ctx.precision.name, "device": str(plugin.ctx.device),
            "max_batch": max_batch, "max_wait_ms": max_wait_ms}
    return plugin, serving, batcher, info


def serve(args: argparse.Namespace, sock: socket.socket, token: str | None) -> int:
    import uvicorn

    from workbench.commands.serve.app import ServerState, create_app
    from workbench.commands.serve.guards import Limits

    _setup_logging()
    state = ServerState()

    def early_exit(sig: int, frame: Any) -> None:  # before uvicorn's own handlers are in place
        state.draining = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, early_exit)
    if args.pretrained is not None:
        plugin, serving, batcher, info = load_pretrained_server(args.pretrained, args.max_batch,
                                                                args.max_wait_ms)
    else:
        plugin, serving, batcher, info = load_server(args.run_dir, args.max_batch, args.max_wait_ms)
    limits = Limits(token=token, max_body_bytes=args.max_body_bytes,
                    body_timeout_s=args.body_timeout_s, max_image_pixels=args.max_image_pixels,
                    max_prompt_chars=args.max_prompt_chars)
    app = create_app(serving, batcher, limits, info, state)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            limit_concurrency=args.limit_concurrency,
                            timeout_graceful_shutdown=args.drain_timeout_s or None,
                            timeout_keep_alive=5)
    server = DrainingServer(config, state)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"workbench serve: {info['plugin']} of {info['run']} (step {info['step']:,}) on "
          f"http://{shown}:{port}/  POST /{serving.route.strip('/')}  try it: "
          f"http://{shown}:{port}/ui", file=sys.stderr, flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        plugin.close()
    if not server.started:
        raise UserError("the server did not start (see the messages above).")
    print("workbench serve: stopped", file=sys.stderr, flush=True)
    return 0


def _setup_logging() -> None:
    """One line per request on stderr (the access log of guards.Guard)."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("workbench serve: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


class DrainingServer:
    """uvicorn's Server, stopping gracefully on SIGTERM / SIGINT and then exiting 0 (uvicorn
    re-raises a captured signal after its shutdown, which would end the process with 143)."""

    def __new__(cls, config: Any, state: Any) -> Any:
        import uvicorn

        class _Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                if not state.draining:
                    log.info("signal %s: draining requests in flight, then stopping",
                             signal.Signals(sig).name)
                state.draining = True
                if self.should_exit and sig == signal.SIGINT:
                    self.force_exit = True  # a second Ctrl-C: stop now
                self.should_exit = True  # and not recorded: nothing is re-raised after shutdown

            async def on_tick(self, counter: int) -> bool:
                if state.draining:  # a signal that came while the model was loading
                    self.should_exit = True
                return await super().on_tick(counter)

        return _Server(config)
