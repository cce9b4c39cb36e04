"""`workbench serve`: the server on a free port on 127.0.0.1, spoken to over HTTP, then stopped.

Fast tests serve the toy line fit (a 20-step run) or a Serving made here, in a uvicorn thread
of this process; the SIGTERM and command-error tests run the real command in a subprocess.
The plugins' own routes (classifier, DQN, GPT/LSTM, DCGAN, pix2pix, music) and the /ui page in
headless Chromium are slow tests on smoke-sized runs.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
from pydantic import BaseModel, Field

from tests.helpers import REPO
from workbench.commands.cli import main
from workbench.commands.serve import bind, load_server
from workbench.commands.serve.app import create_app
from workbench.commands.serve.batcher import MicroBatcher
from workbench.commands.serve.guards import Limits
from workbench.engine.runs import find_runs
from workbench.plugin import ImageRequest, Serving

TOY = ["total_steps=20", "log_every=10", "eval_every=0", "checkpoint_every=10", "precision=fp32"]


# --------------------------------------------------------------------------- helpers


class Server:
    """uvicorn in a thread on a free 127.0.0.1 port; ``url``; stops on exit."""

    def __init__(self, app, limit_concurrency: int = 256) -> None:
        import uvicorn

        self.sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="on",
                                limit_concurrency=limit_concurrency, timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()
        assert not self.thread.is_alive()


def serve_app(serving: Serving, max_batch: int = 32, max_wait_ms: float = 5.0, **limits):
    batcher = MicroBatcher(serving.predict, max_batch=max_batch, max_wait_ms=max_wait_ms,
                           stream=serving.output == "stream")
    app = create_app(serving, batcher, Limits(**limits), {"plugin": "Test", "step": 0})
    return app, batcher


class Echo(BaseModel):
    text: str = Field("hi", description="some text")
    fail: bool = False


def echo_serving(calls: list[int] | None = None, delay_s: float = 0.0) -> Serving:
    """JSON in, JSON out; records each predict's batch size in ``calls``; ``fail`` raises."""

    def predict(items: list[Echo]) -> list[dict]:
        if calls is not None:
            calls.append(len(items))
        if delay_s:
            time.sleep(delay_s)
        if any(i.fail for i in items):
            raise RuntimeError("asked to fail")
        return [{"text": i.text.upper()} for i in items]

    return Serving(route="echo", summary="text in, upper case out", request=Echo, predict=predict)


def image_serving() -> Serving:
    def prepare(request: ImageRequest):
        return request.image.size, request.image.mode

    return Serving(route="size", summary="an image in, its size out", input="image",
                   prepare=prepare, predict=lambda items: [{"size": s, "mode": m} for s, m in items])


def png(size=(4, 3), mode="RGB") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, size, 0).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_RUNS", str(root))
    try:
        assert main(["run", "linreg", *TOY, "--wandb", "disabled"]) == 0
    finally:
        mp.undo()
    return next(find_runs(root)).path


def serve_run(run: Path, max_batch: int = 32, max_wait_ms: float = 5.0, **limits):
    """(app, batcher, plugin) of a run's own Serving, as the command builds them."""
    plugin, serving, batcher, info = load_server(str(run), max_batch, max_wait_ms)
    return create_app(serving, batcher, Limits(**limits), info), batcher, plugin


# --------------------------------------------------------------------------- routes


def test_toy_run_serves_its_fitted_line_and_describes_the_route(toy_run):
    app, _, plugin = serve_run(toy_run)
    x = [0.5, -1.0, 2.0, 0.0, 1.0, 0.25, -0.5, 3.0]
    with Server(app) as s:
        assert httpx.get(s.url + "/health").json() == {"status": "ok"}
        ready = httpx.get(s.url + "/ready").json()
        assert ready["ready"] is True and ready["step"] == 20
        r = httpx.post(s.url + "/predict", json={"x": x})
        info = httpx.get(s.url + "/info").json()
        spec = httpx.get(s.url + "/openapi.json").json()
    with torch.no_grad():
        expected = plugin.model(torch.tensor([x])).item()
    assert r.status_code == 200 and r.json()["y"] == pytest.approx(expected, rel=1e-5)
    assert info["route"] == "/predict" and info["example"] == {"x": [0.0] * 8}
    post = spec["paths"]["/predict"]["post"]
    assert "requestBody" in post and "422" in post["responses"]  # the description is FastAPI's
    assert {"/health", "/ready", "/info", "/ui"} <= set(spec["paths"])


def test_model_is_served_in_eval_mode_under_inference_mode(toy_run):
    app, batcher, plugin = serve_run(toy_run)
    seen = {}
    predict = batcher.predict

    def spy(items):
        seen["inference"] = torch.is_inference_mode_enabled()
        seen["training"] = plugin.model.training
        return predict(items)

    batcher.predict = spy
    with Server(app) as s:
        assert httpx.post(s.url + "/predict", json={"x": [0.0] * 8}).status_code == 200
    assert seen == {"inference": True, "training": False}


# --------------------------------------------------------------------------- guards


def test_token_is_required_on_every_route_but_health_and_the_static_page():
    app, _ = serve_app(echo_serving(), token="s3cret")
    with Server(app) as s:
        assert httpx.get(s.url + "/health").status_code == 200
        assert httpx.get(s.url + "/ui").status_code == 200  # holds nothing; asks for the token
        for method, path in (("GET", "/ready"), ("GET", "/info"), ("GET", "/openapi.json"),
                             ("POST", "/echo")):
            r = httpx.request(method, s.url + path, json={"text": "a"})
            assert r.status_code == 401, path
            assert "bearer token" in r.json()["error"] and r.headers["www-authenticate"] == "Bearer"
            wrong = httpx.request(method, s.url + path, json={"text": "a"},
                                  headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        ok = httpx.post(s.url + "/echo", json={"text": "a"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json() == {"text": "A"}


def test_bodies_over_the_limit_are_413_whether_declared_or_streamed():
    app, _ = serve_app(echo_serving(), max_body_bytes=1000)
    big = json.dumps({"text": "x" * 5000}).encode()

    def chunks():
        yield big[:600]
        yield big[600:]

    with Server(app) as s:
        r = httpx.post(s.url + "/echo", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "over the limit of 1,000 bytes" in r.json()["error"]
        r = httpx.post(s.url + "/echo", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413  # no Content-Length: counted as it arrives
        assert httpx.get(s.url + "/health").status_code == 200


def test_wrong_content_types_malformed_json_and_schema_errors_are_4xx_naming_the_problem():
    app, _ = serve_app(echo_serving())
    with Server(app) as s:
        r = httpx.post(s.url + "/echo", content=b"text=hi", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and "application/json" in r.json()["error"]
        r = httpx.post(s.url + "/echo", content=b'{"text": ', headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"].startswith("malformed JSON")
        r = httpx.post(s.url + "/echo", json={"text": 5})
        assert r.status_code == 422 and "text" in r.json()["error"]
        r = httpx.get(s.url + "/nowhere")
        assert r.status_code == 404 and "POST /echo" in r.json()["error"]


def test_text_over_the_prompt_limit_is_refused():
    app, _ = serve_app(echo_serving(), max_prompt_chars=10)
    with Server(app) as s:
        assert httpx.post(s.url + "/echo", json={"text": "short"}).status_code == 200
        r = httpx.post(s.url + "/echo", json={"text": "x" * 11})
        assert r.status_code == 413 and "'text' is 11 characters" in r.json()["error"]


def test_image_routes_decode_images_and_refuse_bombs_and_non_images():
    from PIL import Image

    bomb = io.BytesIO()
    Image.new("L", (8000, 8000), 0).save(bomb, format="PNG")  # 64 M pixels in ~70 KB
    assert len(bomb.getvalue()) < 200_000
    app, _ = serve_app(image_serving(), max_image_pixels=1_000_000)
    with Server(app) as s:
        r = httpx.post(s.url + "/size", content=png((4, 3), "RGBA"), headers={"Content-Type": "image/png"})
        assert r.status_code == 200 and r.json() == {"size": [4, 3], "mode": "RGB"}
        r = httpx.post(s.url + "/size", content=bomb.getvalue(), headers={"Content-Type": "image/png"})
        assert r.status_code == 413 and "64,000,000 pixels" in r.json()["error"]
        r = httpx.post(s.url + "/size", content=b"#!/bin/sh\nrm -rf /\n", headers={"Content-Type": "image/png"})
        assert r.status_code == 415 and "not an image" in r.json()["error"]
        r = httpx.post(s.url + "/size", content=png(), headers={"Content-Type": "application/json"})
        assert r.status_code == 415 and "image/png" in r.json()["error"]
        noise = io.BytesIO()
        Image.frombytes("L", (64, 64), os.urandom(64 * 64)).save(noise, format="PNG")
        r = httpx.post(s.url + "/size", content=noise.getvalue()[:2000],
                       headers={"Content-Type": "image/png"})
        assert r.status_code == 422 and "could not be decoded" in r.json()["error"]
        assert httpx.get(s.url + "/health").status_code == 200


def test_a_failing_request_fails_alone_and_the_server_keeps_serving():
    calls: list[int] = []
    app, _ = serve_app(echo_serving(calls, delay_s=0.05), max_wait_ms=50)

    async def burst(url):
        async with httpx.AsyncClient(timeout=30) as client:
            bodies = [{"text": f"t{i}", "fail": i == 3} for i in range(8)]
            return await asyncio.gather(*(client.post(url + "/echo", json=b) for b in bodies))

    with Server(app) as s:
        responses = asyncio.run(burst(s.url))
        assert httpx.post(s.url + "/echo", json={"text": "after"}).json() == {"text": "AFTER"}
    assert responses[3].status_code == 500 and "asked to fail" in responses[3].json()["error"]
    assert [r.json()["text"] for i, r in enumerate(responses) if i != 3] == \
        [f"T{i}" for i in range(8) if i != 3]


# --------------------------------------------------------------------------- batching


async def _concurrent(url: str, n: int, path: str = "/echo") -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=n)) as client:
        return await asyncio.gather(*(client.post(url + path, json={"text": f"r{i}"})
                                      for i in range(n)))


def test_concurrent_requests_are_merged_into_fewer_forward_passes():
    calls: list[int] = []
    app, batcher = serve_app(echo_serving(calls, delay_s=0.02), max_batch=16, max_wait_ms=20)
    with Server(app) as s:
        responses = asyncio.run(_concurrent(s.url, 32))
    assert [r.json()["text"] for r in responses] == [f"R{i}" for i in range(32)]
    assert sum(calls) == 32 and len(calls) <= 8 and max(calls) > 1 and max(calls) <= 16
    assert batcher.stats.batches == len(calls) and batcher.stats.largest == max(calls)


def test_max_batch_1_runs_one_forward_pass_per_request():
    calls: list[int] = []
    app, _ = serve_app(echo_serving(calls), max_batch=1)
    with Server(app) as s:
        asyncio.run(_concurrent(s.url, 12))
    assert calls == [1] * 12


def test_a_lone_request_does_not_wait_for_company():
    app, _ = serve_app(echo_serving(), max_wait_ms=2000)
    with Server(app) as s:
        httpx.post(s.url + "/echo", json={"text": "warm"})
        start = time.perf_counter()
        for _ in range(3):
            assert httpx.post(s.url + "/echo", json={"text": "a"}).status_code == 200
        assert (time.perf_counter() - start) / 3 < 0.5  # far below the 2 s it could wait


def test_streamed_output_arrives_in_chunks_per_request():
    def predict(items):
        for step in range(3):
            yield [f"{i.text}{step} " for i in items]

    serving = Serving(route="gen", summary="stream", request=Echo, predict=predict, output="stream")
    app, _ = serve_app(serving)
    with Server(app) as s, httpx.stream("POST", s.url + "/gen", json={"text": "a"}) as r:
        assert r.headers["content-type"].startswith("text/plain")
        text = "".join(r.iter_text())
    assert text == "a0 a1 a2 "


def _read_response(sock: socket.socket) -> str:
    """One HTTP response, whole: on a loaded machine its head and body may come in two reads."""
    data = b""
    while b"\r\n\r\n" not in data and (part := sock.recv(4096)):
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length and (part := sock.recv(4096)):
        body += part
    return (head + b"\r\n\r\n" + body).decode()


def test_a_burst_of_connections_and_a_slow_client_leave_health_answering():
    app, _ = serve_app(echo_serving(), body_timeout_s=1.0)
    with Server(app) as s:
        port = int(s.url.rsplit(":", 1)[1])
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"te")  # ...and nothing more
        responses = asyncio.run(_concurrent(s.url, 150))
        assert [r.json()["text"] for r in responses] == [f"R{i}" for i in range(150)]
        assert httpx.get(s.url + "/health", timeout=5).status_code == 200
        slow.settimeout(10)
        reply = _read_response(slow)
        slow.close()
        assert reply.startswith("HTTP/1.1 408") and "did not arrive within 1 s" in reply
        assert httpx.get(s.url + "/health", timeout=5).status_code == 200


# --------------------------------------------------------------------------- the command


def _serve_cmd(*args: str, env: dict | None = None) -> subprocess.Popen:
    full = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "workbench", "serve", *args], cwd=REPO, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_url(proc: subprocess.Popen, timeout: float = 120) -> tuple[str, list[str]]:
    """The server's URL from its start line (it binds --port 0: any free port)."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"the server exited: {''.join(lines)}")
        lines.append(line)
        if " on http://" in line:
            url = line.split(" on ", 1)[1].split("/", 3)
            return "/".join(url[:3]), lines
    raise AssertionError("no start line")


@pytest.mark.slow
def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(tmp_path, monkeypatch):
    env = {"WORKBENCH_PLUGINS": "tests.serve_slow_plugin", "SLOW_PREDICT_S": "1.5"}
    import importlib

    from workbench import registry

    registry.load_all()
    if "slow-linreg" not in registry.PLUGINS:  # registered here too, for `workbench run`
        importlib.reload(importlib.import_module("tests.serve_slow_plugin"))
    assert main(["run", "slow-linreg", *TOY, "--wandb", "disabled"]) == 0
    run = next(find_runs(Path(os.environ["WORKBENCH_RUNS"]))).path
    proc = _serve_cmd(str(run), "--port", "0", env=env)
    try:
        url, lines = _wait_for_url(proc)
        result = {}

        def request():
            result["r"] = httpx.post(url + "/predict", json={"x": [1.0] * 8}, timeout=30)

        t = threading.Thread(target=request)
        t.start()
        time.sleep(0.5)  # the request is in its 1.5 s predict
        proc.send_signal(signal.SIGTERM)
        t.join(30)
        code = proc.wait(30)
        err = "".join(lines) + proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert result["r"].status_code == 200 and "y" in result["r"].json()
    assert code == 0, err
    assert "draining" in err and "POST /predict 200" in err  # one log line per request


@pytest.mark.slow
def test_a_host_other_than_loopback_warns(toy_run):
    proc = _serve_cmd(str(toy_run), "--host", "0.0.0.0", "--port", "0")
    try:
        _, lines = _wait_for_url(proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert any("warning: listening on 0.0.0.0" in line and "no token" in line for line in lines)


def _exit_2(capsys, *args: str) -> str:
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and err.count("\n") == 1
    return err


def test_command_errors_are_exit_2_with_one_paragraph(toy_run, tmp_path, capsys, monkeypatch):
    assert "no run directory at" in _exit_2(capsys, str(tmp_path / "nope"))
    # a run that has not reached its first checkpoint
    bare = tmp_path / "bare"
    import shutil

    shutil.copytree(toy_run, bare)
    (bare / "checkpoints" / "latest.pt").unlink()
    assert "has no checkpoint yet" in _exit_2(capsys, str(bare))
    # a plugin with nothing to serve
    from workbench.toy import LinearRegression

    with monkeypatch.context() as m:
        m.delattr(LinearRegression, "serving")
        assert "has nothing to serve" in _exit_2(capsys, str(toy_run))
    # a port in use, a bad host, a bad option
    taken = bind("127.0.0.1", 0)
    try:
        port = str(taken.getsockname()[1])
        assert f"port {port} on 127.0.0.1 is in use" in _exit_2(capsys, str(toy_run), "--port", port)
    finally:
        taken.close()
    assert "is not an address" in _exit_2(capsys, str(toy_run), "--host", "no-such-host.invalid")
    assert "cannot listen on 203.0.113.7" in _exit_2(capsys, str(toy_run), "--host", "203.0.113.7",
                                                     "--port", "0")
    assert "--max-batch must be >= 1" in _exit_2(capsys, str(toy_run), "--max-batch", "0")
    # a run and --pretrained, or neither; a name that is no shipped agent and no file
    assert "either a run directory or --pretrained" in _exit_2(capsys, str(toy_run),
                                                                "--pretrained", "dqn-pong")
    assert "either a run directory or --pretrained" in _exit_2(capsys)
    assert "neither a preset that ships weights" in _exit_2(capsys, "--pretrained", "nope")


# --------------------------------------------------------------------------- the plugins' routes


def smoke_run(name: str, root: Path, **extra) -> Path:
    """A smoke-budget run of a plugin or preset (its registered `smoke=` overrides)."""
    from workbench import registry

    spec, preset = registry.resolve(name)
    overrides = {**spec.smoke, **(preset.smoke if preset else {}), **extra}
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_RUNS", str(root))
    try:
        assert main(["run", name, "--name", "serve", "--wandb", "disabled",
                     *(f"{k}={v}" for k, v in overrides.items())]) == 0
    finally:
        mp.undo()
    return root / name / "serve"


def example_request(serving: Serving) -> dict:
    """httpx keyword arguments for a request a route must answer: an image for image routes,
    else the route's example (or its request's defaults)."""
    if serving.input == "image":
        from PIL import Image

        gradient = Image.linear_gradient("L").resize((40, 30)).convert("RGB")
        buffer = io.BytesIO()
        gradient.save(buffer, format="PNG")
        return {"content": buffer.getvalue(), "headers": {"Content-Type": "image/png"}}
    body = serving.example if serving.example is not None else serving.request().model_dump()
    return {"json": body}


def serve_example(run: Path) -> tuple[Serving, httpx.Response]:
    """Serve a run in this process and send it its example request (the smoke test uses this
    for every plugin that serves)."""
    plugin, serving, batcher, info = load_server(str(run), 8, 5.0)
    try:
        with Server(create_app(serving, batcher, Limits(), info)) as s:
            return serving, httpx.post(s.url + "/" + serving.route, timeout=120,
                                       **example_request(serving))
    finally:
        plugin.close()


@pytest.mark.slow
def test_classifier_serves_top_k_labels_with_the_models_probabilities(tmp_path):
    from workbench.data.images import from_pil, to_float

    run = smoke_run("classifier-digits", tmp_path)
    app, _, plugin = serve_run(run)
    request = example_request(Serving(route="x", summary="", predict=list, input="image"))
    with Server(app) as s:
        r = httpx.post(s.url + "/classify?k=3", **request)
    from PIL import Image

    image = Image.open(io.BytesIO(request["content"]))
    with torch.no_grad():
        probs = plugin.model(to_float(from_pil(image, 1, (16, 16))[None])).softmax(1)[0]
    top = probs.topk(3)
    got = r.json()["predictions"]
    assert [p["label"] for p in got] == [plugin.classes[i] for i in top.indices.tolist()]
    assert [p["probability"] for p in got] == pytest.approx(top.values.tolist(), abs=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_text_lm_streams_text_and_batched_sampling_matches_one_at_a_time(tmp_path, arch):
    run = smoke_run("text-lm", tmp_path, **{"model.arch": arch})
    app, batcher, plugin = serve_run(run, max_batch=8, max_wait_ms=200)
    prompts = ["ROMEO:", "A", "What light through yonder window"]

    async def together(url):
        async with httpx.AsyncClient(timeout=120) as client:
            return await asyncio.gather(*(client.post(url + "/generate", json={
                "prompt": p, "tokens": 12, "temperature": 0}) for p in prompts))

    with Server(app) as s:
        batched = [r.text for r in asyncio.run(together(s.url))]
        with httpx.stream("POST", s.url + "/generate", json={"prompt": "A", "tokens": 30,
                                                             "seed": 1}) as r:
            chunks = list(r.iter_text())
        refused = httpx.post(s.url + "/generate", json={"prompt": "\u263a"})
    assert batcher.stats.largest > 1  # the three prompts shared forward passes
    alone = [plugin.sample(None, _sample_options(p)) for p in prompts]
    assert batched == [a[len(p):] for a, p in zip(alone, prompts)]
    assert len("".join(chunks)) == 30
    assert refused.status_code == 422 and "never saw" in refused.json()["error"]


def _sample_options(prompt: str):
    from workbench.generators.seq.config import SequenceSampleOptions

    return SequenceSampleOptions(prompt=prompt, tokens=12, temperature=0.0)


@pytest.mark.slow
def test_dqn_serves_the_greedy_action_and_q_values(tmp_path):
    run = smoke_run("dqn-cartpole", tmp_path)
    app, _, plugin = serve_run(run)
    obs = [0.01, -0.2, 0.03, 0.1]
    with Server(app) as s:
        r = httpx.post(s.url + "/act", json={"observation": obs})
        wrong = httpx.post(s.url + "/act", json={"observation": [[1, 2]]})
    with torch.no_grad():
        q = plugin.q(torch.tensor([obs]))[0]
    assert r.json()["q_values"] == pytest.approx(q.tolist(), abs=1e-5)
    assert r.json()["action"] == int(q.argmax())
    assert wrong.status_code == 422 and "shape (4,)" in wrong.json()["error"]



def test_shipped_pong_agent_serves_its_q_values_without_a_run(capsys):
    from workbench.agents.dqn import pretrained
    from workbench.commands import pretrained as shipped
    from workbench.commands.serve import load_pretrained_server

    plugin, serving, batcher, info = load_pretrained_server("dqn-pong", 8, 5.0)
    frames = serving.example["observation"]
    assert serving.route == "act" and info["step"] > 0 and "dqn-pong" in info["run"]
    with Server(create_app(serving, batcher, Limits(), info)) as s:
        r = httpx.post(s.url + "/act", json={"observation": frames})
        bright = httpx.post(s.url + "/act", json={"observation": [[[300] * len(frames[0][0])] * len(frames[0])] * 4})
    net, _ = pretrained.load(shipped.resolve("dqn-pong")[1])
    with torch.no_grad():
        q = net(torch.tensor([frames], dtype=torch.uint8))[0]
    assert r.status_code == 200 and r.json()["q_values"] == pytest.approx(q.tolist(), abs=1e-4)
    assert r.json()["action"] == int(q.argmax())
    assert bright.status_code == 422 and "0 to 255" in bright.json()["error"]


@pytest.mark.slow
def test_ppo_serves_its_policy_and_value_batched_as_alone(tmp_path):
    run = smoke_run("ppo-cartpole", tmp_path)
    app, _, plugin = serve_run(run, max_batch=8, max_wait_ms=50)
    observations = [[0.01 * i, -0.2, 0.03, 0.1 * i] for i in range(6)]

    async def together(url):
        async with httpx.AsyncClient(base_url=url) as client:
            return await asyncio.gather(*(client.post("/act", json={"observation": o})
                                          for o in observations))

    with Server(app) as s:
        answers = [r.json() for r in asyncio.run(together(s.url))]
        nan = httpx.post(s.url + "/act", content='{"observation": [NaN, 0, 0, 0]}',
                         headers={"content-type": "application/json"})
        health = httpx.get(s.url + "/health")
    with torch.no_grad():
        logits, values = plugin.net(torch.tensor(observations))
    probs = torch.softmax(logits, -1)
    for answer, p, v in zip(answers, probs, values):
        assert answer["probabilities"] == pytest.approx(p.tolist(), abs=1e-5)
        assert answer["action"] == int(p.argmax())
        assert answer["value"] == pytest.approx(float(v), abs=1e-5)
    assert nan.status_code == 422 and "nan" in nan.json()["error"] and health.status_code == 200
@pytest.mark.slow
def test_dcgan_serves_a_png_per_seed_and_pix2pix_translates_an_image(tmp_path):
    from PIL import Image

    dcgan = smoke_run("dcgan-digits", tmp_path)
    app, _, plugin = serve_run(dcgan)
    with Server(app) as s:
        a, b, c = (httpx.post(s.url + "/sample", json={"seed": seed}) for seed in (1, 1, 2))
        grid = httpx.post(s.url + "/sample", json={"seed": 1, "n": 4})
    assert a.headers["content-type"] == "image/png" and a.content == b.content != c.content
    size = plugin.cfg.image_size
    assert Image.open(io.BytesIO(a.content)).size == (size, size)
    assert Image.open(io.BytesIO(grid.content)).size[0] > 2 * size

    serving, r = serve_example(smoke_run("pix2pix-digits", tmp_path))
    out = Image.open(io.BytesIO(r.content))
    assert r.status_code == 200 and serving.route == "translate"
    assert out.size[0] == out.size[1] and out.size[0] >= 16


@pytest.mark.slow
def test_music_lm_serves_a_midi_file(tmp_path):
    serving, r = serve_example(smoke_run("music-lm", tmp_path))
    assert r.status_code in (200, 422), r.text  # a smoke-trained model may write no notes
    if r.status_code == 200:
        assert r.headers["content-type"] == "audio/midi" and r.content[:4] == b"MThd"
    else:
        assert "no notes" in r.json()["error"]


# --------------------------------------------------------------------------- /ui in a browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def _browser():
    """Debian's chromium through Playwright (no browser download), or a skip saying what is missing."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no {CHROMIUM}: the /ui test needs Debian's chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the /ui test needs the "
                                   "playwright Python package (pip install playwright)")
    return sync_api


def _digit_png(path: Path) -> Path:
    from PIL import Image, ImageDraw

    image = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(image).line([(32, 10), (32, 54)], fill=255, width=7)  # a "1"
    image.save(path)
    return path


@pytest.mark.slow
def test_ui_page_classifies_an_uploaded_image_and_streams_text_in_chromium(tmp_path):
    sync_api = _browser()
    classifier = smoke_run("classifier-digits", tmp_path)
    text = smoke_run("text-lm", tmp_path)
    image = _digit_png(tmp_path / "one.png")
    c_app, _, _ = serve_run(classifier, token="ui-token")
    t_app, _, _ = serve_run(text)
    with sync_api.sync_playwright() as p, Server(c_app) as cs, Server(t_app) as ts:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 640})
            page.goto(cs.url + "/ui")
            page.wait_for_selector("#auth:not(.hidden)")  # the page asks for the token
            page.fill("#token", "ui-token")
            page.click("#connect")
            page.wait_for_selector("#form:not(.hidden)")
            page.set_input_files("#image", str(image))
            page.click("#send")
            page.wait_for_selector(".prediction", timeout=30_000)
            rows = page.locator(".prediction").all_inner_texts()
            assert len(rows) == 5 and all("%" in r for r in rows)
            assert page.inner_text("#error") == ""
            shot = os.environ.get("SERVE_UI_SCREENSHOT")  # the docs' picture, when asked for
            if shot:
                page.screenshot(path=shot, full_page=True)

            page.goto(ts.url + "/ui")
            page.wait_for_selector("#prompt-box:not(.hidden)")
            page.fill("#prompt", "ROMEO:")
            page.fill("#json", '{"tokens": 25, "seed": 3}')
            page.click("#send")
            page.wait_for_selector("#stream[data-done=true]", timeout=60_000)
            assert len(page.inner_text("#stream .generated")) == 25
        finally:
            browser.close()
