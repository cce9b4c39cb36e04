"""Load test of ``workbench serve``: requests/s and p50/p99 latency, batched against one request
one forward pass, for the image classifier and for GPT, at concurrency 1, 8 and 32.

    python benchmarks/serve_load.py                       # trains two tiny runs first (~1 min)
    python benchmarks/serve_load.py --classifier RUN --gpt RUN --requests 300

For each model two servers run side by side on 127.0.0.1 (free ports): ``--max-batch 32``
and ``--max-batch 1``. A bounded async client (httpx; each of c workers sends its next request
when its last one is answered) measures both in alternating rounds, so both sides see the same
machine. Targets: batched >= 4x the requests/s of unbatched at c=32 for the
classifier; p99 latency at c=1 within 20 % of the reference, a bare forward pass (the plugin's
``predict`` on one request, in this process, under inference mode) plus an HTTP round trip to
/health of the same server, measured interleaved with the c=1 requests.
Everything stops by itself: at most ``--requests`` per cell and ``--max-seconds`` per round.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def train(preset: str, root: Path, *overrides: str) -> Path:
    env = {**os.environ, "WORKBENCH_RUNS": str(root), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "workbench", "run", preset, "--name", "load",
                    "--wandb", "disabled", "torch_threads=1", *overrides], check=True, env=env,
                   cwd=REPO, stdout=subprocess.DEVNULL)
    return root / preset / "load"


def start_server(run: Path, max_batch: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", str(run), "--port", "0",
                             "--max-batch", str(max_batch)], cwd=REPO, env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in proc.stderr:
        if " on http://" in line:
            url = "/".join(line.split(" on ", 1)[1].split("/", 3)[:3])
            # the access log goes on to stderr: drain it so the server never blocks on the pipe
            subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)
            return proc, url
    raise RuntimeError(f"the server of {run} did not start")


def request_for(kind: str, i: int) -> dict:
    if kind == "classifier":
        from PIL import Image, ImageDraw

        image = Image.new("L", (16, 16), 0)
        ImageDraw.Draw(image).line([(8, 2), (8 + i % 3 - 1, 13)], fill=255, width=2)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return {"url": "/classify?k=5", "content": buffer.getvalue(),
                "headers": {"Content-Type": "image/png"}}
    return {"url": "/generate", "json": {"prompt": "ROMEO:", "tokens": ARGS.gpt_tokens,
                                         "temperature": 0.8, "seed": i}}


async def load(url: str, kind: str, concurrency: int, n: int) -> tuple[list[float], float]:
    """(latencies in ms, wall seconds) of n requests from ``concurrency`` closed-loop workers."""
    latencies: list[float] = []
    sent = 0
    deadline = time.perf_counter() + ARGS.max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        async def worker() -> None:
            nonlocal sent
            while sent < n and time.perf_counter() < deadline:
                req = request_for(kind, sent)
                sent += 1
                t = time.perf_counter()
                r = await client.post(req.pop("url"), **req)
                latencies.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def reference(run: Path, url: str, kind: str, n: int) -> tuple[list[float], list[float]]:
    """Interleaved: (bare forward + /health round trip, a c=1 request to the batched server), ms."""
    import torch

    from workbench.commands.serve import load_server
    from workbench.plugin import ImageRequest

    plugin, serving, batcher, _ = load_server(str(run), 1, 0)
    torch.set_num_threads(1)
    req = request_for(kind, 0)
    if kind == "classifier":
        from PIL import Image

        from workbench.commands.serve.guards import decode_image

        image = decode_image(req["content"], 2**22)
        item = serving.prepare(ImageRequest(image, serving.request(k=5)))
        assert isinstance(image, Image.Image)
    else:
        item = serving.prepare(serving.request(**req["json"]))

    def forward() -> None:
        with torch.inference_mode(), plugin.ctx.autocast():
            out = serving.predict([item])
            if serving.output == "stream":
                for _ in out:
                    pass

    def forward_ms(batch: int, repeats: int) -> float:
        """Median ms of predict on ``batch`` copies of the request (the batcher's one pass)."""
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            with torch.inference_mode(), plugin.ctx.autocast():
                out = serving.predict([item] * batch)
                if serving.output == "stream":
                    for _ in out:
                        pass
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    forward_ms(32, 1)  # warm-up
    CEILING[kind] = (forward_ms(1, 20), forward_ms(32, 5))
    refs, served = [], []
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(n):
            t0 = time.perf_counter()
            forward()
            client.get("/health").raise_for_status()
            t2 = time.perf_counter()
            r = request_for(kind, i)
            client.post(r.pop("url"), **r).raise_for_status()
            t3 = time.perf_counter()
            refs.append((t2 - t0) * 1000)
            served.append((t3 - t2) * 1000)
    plugin.close()
    return refs, served


def bench(kind: str, run: Path, n: int) -> list[str]:
    rows = []
    servers = {b: start_server(run, b) for b in (32, 1)}
    try:
        for url in (u for _, u in servers.values()):  # warm-up: first requests pay for imports
            asyncio.run(load(url, kind, 4, 8))
        for c in ARGS.concurrency:
            lat: dict[int, list[float]] = {32: [], 1: []}
            wall: dict[int, float] = {32: 0.0, 1: 0.0}
            for _ in range(ARGS.rounds):  # alternate the two servers
                for b, (_, url) in servers.items():
                    got, seconds = asyncio.run(load(url, kind, c, max(c, n // ARGS.rounds)))
                    lat[b] += got
                    wall[b] += seconds
            rps = {b: len(lat[b]) / wall[b] for b in lat}
            rows.append(f"| {kind} | {c} | {rps[32]:.0f} | {pct(lat[32], 50):.1f} | {pct(lat[32], 99):.1f} "
                        f"| {rps[1]:.0f} | {pct(lat[1], 50):.1f} | {pct(lat[1], 99):.1f} "
                        f"| {rps[32] / rps[1]:.2f}x |")
            print(rows[-1], flush=True)
        refs, served = reference(run, servers[32][1], kind, max(50, n // 2))
        ratio = pct(served, 99) / pct(refs, 99)
        rows.append(f"| {kind} | p99 at c=1: served {pct(served, 99):.1f} ms, bare forward + "
                    f"HTTP {pct(refs, 99):.1f} ms (p50 {pct(served, 50):.1f} / {pct(refs, 50):.1f}) "
                    f"| ratio {ratio:.2f} (target <= 1.20) |")
        print(rows[-1], flush=True)
        one, many = CEILING[kind]
        rows.append(f"| {kind} | the forward pass alone: 1 request {one:.2f} ms, 32 requests "
                    f"{many:.2f} ms ({many / 32:.3f} ms each, {one / (many / 32):.1f}x less per "
                    f"request); a served request at c=1 takes {statistics.median(served):.2f} ms "
                    f"(p50), of which the forward is {one / statistics.median(served):.0%} |")
        print(rows[-1], flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(60)
    return rows


def main() -> None:
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classifier", type=Path, help="a classifier run (default: train classifier-digits, 300 steps)")
    p.add_argument("--gpt", type=Path, help="a text-lm GPT run (default: train gpt-shakespeare, 60 steps)")
    p.add_argument("--requests", type=int, default=240, help="requests per cell (classifier)")
    p.add_argument("--gpt-requests", type=int, default=96, help="requests per cell (GPT)")
    p.add_argument("--gpt-tokens", type=int, default=16, help="tokens per GPT request")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per cell")
    p.add_argument("--max-seconds", type=float, default=60, help="cap on one round")
    p.add_argument("--only", choices=("classifier", "gpt"), default=None)
    ARGS = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="serve-load-"))
    print("| model | concurrency | batched req/s | p50 ms | p99 ms | unbatched req/s | p50 ms "
          "| p99 ms | batched / unbatched |\n|---|---|---|---|---|---|---|---|---|", flush=True)
    if ARGS.only in (None, "classifier"):
        run = ARGS.classifier or train("classifier-digits", root, "total_steps=300",
                                       "eval_every=300", "checkpoint_every=300")
        bench("classifier", run, ARGS.requests)
    if ARGS.only in (None, "gpt"):
        run = ARGS.gpt or train("gpt-shakespeare", root, "total_steps=60", "eval_every=60",
                                "checkpoint_every=60")
        bench("gpt", run, ARGS.gpt_requests)


ARGS: argparse.Namespace
CEILING: dict[str, tuple[float, float]] = {}  # kind -> forward ms for 1 and for 32 requests
if __name__ == "__main__":
    main()
