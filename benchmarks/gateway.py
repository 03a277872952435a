"""Gateway speed: `/v1/moderations` latency (sequential) and throughput (concurrency 8 and 32) on a real
`safewatch serve`, against in-process `Detector.check` on the same texts in the same run.

Every timed text is distinct (the encoders' cache would otherwise answer repeats): short English messages
from the shared datasets, reused with a numbered suffix once they run out. The HTTP client is a minimal
keep-alive HTTP/1.1 client on asyncio streams, so the numbers are the server's, not a heavy client's; the
official openai SDK's sequential latency is reported beside them. Figures are medians over rounds.

    .venv/bin/python benchmarks/gateway.py [--n 300] [--requests 1500] [--rounds 3] [--out benchmarks/results/gateway.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import openai  # noqa: E402
from detect_speed import percentile, texts_for  # noqa: E402

from safewatch import Detector  # noqa: E402
from safewatch.machine import cpu_signature  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Connection:
    """One keep-alive HTTP/1.1 connection: POST a JSON body, read the whole answer."""

    def __init__(self, host: str, port: int, secret: str) -> None:
        self.host, self.port, self.secret = host, port, secret

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def post(self, path: str, payload: dict) -> tuple[int, bytes]:
        body = json.dumps(payload).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {self.secret}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", raw).group(1))
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def distinct_texts(n: int) -> list[str]:
    base = texts_for("en", 3000)
    out = []
    for i in range(n):
        t = base[i % len(base)]
        out.append(t if i < len(base) else f"{t} ({i // len(base)})")
    return out


def start_server(data_dir: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen, int, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SAFEWATCH_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    for name in ("SAFEWATCH_CONFIG", "SAFEWATCH_DATABASE_URL", "SAFEWATCH_RATE_LIMIT_PER_MINUTE"):
        env.pop(name, None)
    env.update(extra_env)
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - the server owns it
    proc = subprocess.Popen([sys.executable, "-m", "safewatch.cli", "serve", "--port", str(port), "--log-level",
                             "warning"], env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((data_dir / "server.log").read_text()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/public/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    out = subprocess.run([sys.executable, "-m", "safewatch.cli", "projects", "create", "bench", "--json"],
                         env=env, cwd=data_dir, capture_output=True, text=True, check=True).stdout
    return proc, port, json.loads(out.strip().splitlines()[-1])["secret_key"]


async def sequential(port: int, secret: str, texts: list[str]) -> list[float]:
    conn = await Connection("127.0.0.1", port, secret).open()
    times = []
    for t in texts:
        s = time.perf_counter()
        status, _ = await conn.post("/v1/moderations", {"input": t})
        times.append((time.perf_counter() - s) * 1000)
        assert status == 200, status
    conn.close()
    return times


async def concurrent(port: int, secret: str, texts: list[str], workers: int) -> tuple[float, list[float]]:
    conns = [await Connection("127.0.0.1", port, secret).open() for _ in range(workers)]
    todo = iter(texts)
    times: list[float] = []

    async def work(conn: Connection) -> None:
        for t in todo:
            s = time.perf_counter()
            status, _ = await conn.post("/v1/moderations", {"input": t})
            times.append((time.perf_counter() - s) * 1000)
            assert status == 200, status

    start = time.perf_counter()
    await asyncio.gather(*(work(c) for c in conns))
    elapsed = time.perf_counter() - start
    for c in conns:
        c.close()
    return len(texts) / elapsed, times


def batch_stats(port: int, secret: str) -> tuple[float, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {secret}"}).text
    total = float(re.search(r"^safewatch_detector_batch_size_sum (\S+)$", text, re.M).group(1))
    count = float(re.search(r"^safewatch_detector_batch_size_count (\S+)$", text, re.M).group(1))
    return total, count


def measure_round(port: int, secret: str, detector: Detector, sdk: openai.OpenAI, chunk: list[str],
                  n: int, requests: int) -> dict[str, float]:
    seq, sdk_texts = chunk[:n], chunk[n:2 * n]
    c8, c32 = chunk[2 * n:2 * n + requests], chunk[2 * n + requests:]
    inproc = []
    for t in seq:
        s = time.perf_counter()
        detector.check(t)
        inproc.append((time.perf_counter() - s) * 1000)
    http = asyncio.run(sequential(port, secret, seq))  # the server has not seen these texts
    via_sdk = []
    for t in sdk_texts:
        s = time.perf_counter()
        sdk.moderations.create(input=t)
        via_sdk.append((time.perf_counter() - s) * 1000)
    before = batch_stats(port, secret)
    rps8, lat8 = asyncio.run(concurrent(port, secret, c8, 8))
    mid = batch_stats(port, secret)
    rps32, lat32 = asyncio.run(concurrent(port, secret, c32, 32))
    after = batch_stats(port, secret)
    row = {
        "inproc_p50": statistics.median(inproc), "inproc_p99": percentile(inproc, 0.99),
        "http_p50": statistics.median(http), "http_p99": percentile(http, 0.99),
        "sdk_p50": statistics.median(via_sdk), "sdk_p99": percentile(via_sdk, 0.99),
        "rps8": rps8, "lat8_p50": statistics.median(lat8), "lat8_p99": percentile(lat8, 0.99),
        "rps32": rps32, "lat32_p50": statistics.median(lat32), "lat32_p99": percentile(lat32, 0.99),
        "batch8": (mid[0] - before[0]) / max(mid[1] - before[1], 1),
        "batch32": (after[0] - mid[0]) / max(after[1] - mid[1], 1),
    }
    row["ratio_p50"] = row["http_p50"] / row["inproc_p50"]
    row["ratio_p99"] = row["http_p99"] / row["inproc_p99"]
    return row


# What is measured: the server as shipped (one worker process; every request traced, its safety scores
# written from the gateway's own verdicts), and with two worker processes, one per core of the 2-core machine.
CONFIGS = {
    "as shipped (one worker; tracing on)": {},
    "two worker processes (SAFEWATCH_WORKERS=2)": {"SAFEWATCH_WORKERS": "2"},
}


def detector_ceiling(detector: Detector, texts: list[str], batch: int = 32) -> float:
    """Texts per second `check_batch` manages alone on one thread, in batches as large as the server's under
    load: the most one worker could answer even with a free HTTP stack."""
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        detector.check_batch(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="sequential calls per round")
    ap.add_argument("--requests", type=int, default=1500, help="requests per concurrency level per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gateway.md")
    args = ap.parse_args()

    per_round = args.n * 2 + args.requests * 2
    texts = distinct_texts(640 + 200 * len(CONFIGS) + per_round * args.rounds * len(CONFIGS))
    load_before = os.getloadavg()
    detector = Detector()
    detector.warm_up()
    ceiling_texts, texts = texts[:640], texts[640:]
    ceiling = detector_ceiling(detector, ceiling_texts)
    results = []
    for label, env in CONFIGS.items():
        warm, texts = texts[:200], texts[200:]
        with tempfile.TemporaryDirectory(prefix="safewatch-bench-") as tmp:
            proc, port, secret = start_server(Path(tmp), env)
            try:
                asyncio.run(sequential(port, secret, warm))
                sdk = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=secret, max_retries=0)
                rows: dict[str, list[float]] = {}
                for _ in range(args.rounds):
                    chunk, texts = texts[:per_round], texts[per_round:]
                    row = measure_round(port, secret, detector, sdk, chunk, args.n, args.requests)
                    print(label, {k: round(v, 3) for k, v in row.items()}, file=sys.stderr)
                    for k, v in row.items():
                        rows.setdefault(k, []).append(v)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
        results.append((label, {k: statistics.median(v) for k, v in rows.items()}, rows))
    write_report(args, results, ceiling, load_before, os.getloadavg())


def _f(x: float, d: int = 2) -> str:
    return f"{x:.{d}f}"


def _goal(ok: bool) -> str:
    return "met" if ok else "**not met**"


def section(label: str, m: dict[str, float], rows: dict[str, list[float]]) -> list[str]:
    # /metrics is per process: with several workers its batch counters come from whichever one answered.
    single = "SAFEWATCH_WORKERS" not in CONFIGS[label]

    def batch(key: str) -> str:
        return f"; mean micro-batch {_f(m[key], 1)} texts" if single else ""

    return [
        f"## {label}", "",
        "| measure | value | goal |", "|---|---|---|",
        f"| `/v1/moderations` sequential p50 | {_f(m['http_p50'])} ms | ≤ 5 ms: {_goal(m['http_p50'] <= 5)} |",
        f"| `/v1/moderations` sequential p99 | {_f(m['http_p99'])} ms | ≤ 25 ms: {_goal(m['http_p99'] <= 25)} |",
        f"| in-process `Detector.check` p50 / p99 (same texts, same run) | {_f(m['inproc_p50'])} / "
        f"{_f(m['inproc_p99'])} ms | |",
        f"| HTTP overhead: HTTP p50 / in-process p50 | {_f(m['ratio_p50'])}× | |",
        f"| HTTP p99 / in-process p99 | {_f(m['ratio_p99'])}× | |",
        f"| official openai SDK, sequential p50 / p99 | {_f(m['sdk_p50'])} / {_f(m['sdk_p99'])} ms | |",
        f"| throughput at concurrency 8 | {m['rps8']:.0f} req/s (latency p50 {_f(m['lat8_p50'])} ms, "
        f"p99 {_f(m['lat8_p99'])} ms{batch('batch8')}) | ≥ 800: {_goal(m['rps8'] >= 800)} |",
        f"| throughput at concurrency 32 | {m['rps32']:.0f} req/s (latency p50 {_f(m['lat32_p50'])} ms, "
        f"p99 {_f(m['lat32_p99'])} ms{batch('batch32')}) | ≥ 800: "
        f"{_goal(m['rps32'] >= 800)} |",
        "", "| round | HTTP p50 ms | HTTP p99 ms | in-process p50 ms | ratio p50 | req/s @8 | req/s @32 |",
        "|---|---|---|---|---|---|---|",
        *[f"| {i + 1} | {_f(rows['http_p50'][i])} | {_f(rows['http_p99'][i])} | {_f(rows['inproc_p50'][i])} | "
          f"{_f(rows['ratio_p50'][i])} | {rows['rps8'][i]:.0f} | {rows['rps32'][i]:.0f} |"
          for i in range(len(rows["http_p50"]))],
        "",
    ]


def write_report(args, results, ceiling: float, load_before, load_after) -> None:
    cpu = cpu_signature()
    lines = [
        "# Gateway speed: `/v1/moderations`", "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}; load average "
        f"{', '.join(_f(x) for x in load_before)} before and {', '.join(_f(x) for x in load_after)} after the "
        "run (the machine is shared with other work)",
        f"- command: `.venv/bin/python benchmarks/gateway.py --n {args.n} --requests {args.requests} "
        f"--rounds {args.rounds}`",
        "- server: `safewatch serve` (SQLite, default policy, judge off); the client "
        "(a minimal keep-alive HTTP/1.1 client on asyncio) runs on the same machine",
        "- texts: distinct short English messages from the shared datasets (≤ 120 chars), reused with a "
        "numbered suffix once they run out; no text is sent twice, so no cache answers",
        f"- every figure is the median over {args.rounds} rounds; sequential rounds are {args.n} calls, "
        f"throughput rounds {args.requests} requests per concurrency level", "",
    ]
    lines += [
        "## the detector's own ceiling", "",
        f"`Detector.check_batch` alone, batches of 32 distinct texts on one thread, same run: **{ceiling:.0f} "
        "texts/s**. That is the most one worker can answer with a free HTTP stack; two workers on two cores "
        "share the cores with each other and with the client.", "",
    ]
    for label, m, rows in results:
        lines += section(label, m, rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
