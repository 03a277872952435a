"""Detection speed: one short message at a time, the bare embedding call, and `check --jsonl` throughput.

Every timed text is distinct (the encoders' cache would otherwise answer repeats). Timings are medians over
repeated runs; the cascade/embedding ratio is measured in the same run on the same texts.

    .venv/bin/python benchmarks/detect_speed.py [--n 400] [--jsonl-n 5000] [--out benchmarks/results/detect_speed.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from safewatch import Detector  # noqa: E402
from safewatch.detect.embed import ENCODERS, encoder_name_for  # noqa: E402
from safewatch.machine import cpu_signature  # noqa: E402
from safewatch.paths import datasets_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def texts_for(lang: str, n: int, max_len: int = 120) -> list[str]:
    """Distinct short messages in one language from the evaluation sets (only their text is used)."""
    sources = {"en": ["toxic-chat", "xstest", "openai-moderation", "hatecheck"], "vi": ["vihos", "multijail", "catqa"],
               "zh": ["cold", "multijail", "catqa"]}[lang]
    seen: list[str] = []
    for name in sources:
        for line in open(datasets_dir() / f"{name}.jsonl", encoding="utf-8"):
            r = json.loads(line)
            t = r["text"].strip()
            if r.get("lang") == lang and 10 <= len(t) <= max_len and t not in seen:
                seen.append(t)
            if len(seen) >= n:
                return seen
    return seen


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def time_each(fn, texts: list[str]) -> list[float]:
    out = []
    for t in texts:
        s = time.perf_counter()
        fn(t)
        out.append((time.perf_counter() - s) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400, help="distinct messages per language")
    ap.add_argument("--rounds", type=int, default=3, help="repeats; the median of the per-round medians is quoted")
    ap.add_argument("--jsonl-n", type=int, default=5000)
    ap.add_argument("--max-len", type=int, default=80, help="longest message (characters) for the per-message timings")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "detect_speed.md")
    args = ap.parse_args()

    detector = Detector()
    detector.warm_up()
    # Uncached encoders: the bare embedding call of the encoder each language is routed to.
    bare = {name: ENCODERS[name]() for name in {encoder_name_for(lang) for lang in ("en", "vi", "zh")}}
    rows = []
    en_texts = texts_for("en", args.n * args.rounds, max_len=args.max_len)
    for lang in ("en", "vi", "zh"):
        texts = en_texts if lang == "en" else texts_for(lang, args.n * args.rounds, max_len=args.max_len)
        per_round_cascade, per_round_embed, p95s = [], [], []
        for r in range(args.rounds):
            chunk = texts[r * args.n : (r + 1) * args.n] or texts[: args.n]
            encoder = bare[encoder_name_for(lang)]
            emb = time_each(lambda t, enc=encoder: enc.encode([t]), chunk)
            casc = time_each(detector.check, chunk)
            per_round_cascade.append(statistics.median(casc))
            per_round_embed.append(statistics.median(emb))
            p95s.append(percentile(casc, 0.95))
        c, e = statistics.median(per_round_cascade), statistics.median(per_round_embed)
        rows.append({"lang": lang, "n": len(texts), "cascade_p50_ms": round(c, 3), "cascade_p95_ms": round(statistics.median(p95s), 3),
                     "embedding_p50_ms": round(e, 3), "ratio": round(c / e, 2)})
        print(rows[-1], file=sys.stderr)

    # check --jsonl on distinct English messages; startup measured separately with a one-line file.
    jsonl_texts = texts_for("en", args.jsonl_n, max_len=200)
    with tempfile.TemporaryDirectory() as tmp:
        big, one = Path(tmp) / "big.jsonl", Path(tmp) / "one.jsonl"
        big.write_text("".join(json.dumps({"text": t}) + "\n" for t in jsonl_texts))
        one.write_text(json.dumps({"text": "hello"}) + "\n")
        exe = str(Path(sys.executable).with_name("safewatch"))

        def wall(path: Path) -> float:
            s = time.perf_counter()
            subprocess.run([exe, "check", "--jsonl", str(path)], check=True, stdout=subprocess.DEVNULL)
            return time.perf_counter() - s

        startup = statistics.median(wall(one) for _ in range(3))
        total = statistics.median(wall(big) for _ in range(3))
    jsonl = {"messages": len(jsonl_texts), "wall_s": round(total, 2), "startup_s": round(startup, 2),
             "msgs_per_s_incl_startup": round(len(jsonl_texts) / total), "msgs_per_s_excl_startup": round(len(jsonl_texts) / max(total - startup, 1e-9))}
    print(jsonl, file=sys.stderr)

    cpu = cpu_signature()
    lines = [
        "# Detection speed", "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}",
        f"- command: `.venv/bin/python benchmarks/detect_speed.py --n {args.n} --rounds {args.rounds} --jsonl-n {args.jsonl_n} --max-len {args.max_len}`",
        f"- threads: SAFEWATCH_THREADS={os.environ.get('SAFEWATCH_THREADS', 'default (2)')}; messages of 10-{args.max_len} characters from the evaluation sets' texts",
        "- judge: off. Each timed message is distinct (no cache hits). p50 = median of per-round medians.", "",
        "| language | messages | cascade p50 ms | cascade p95 ms | bare embedding p50 ms | cascade / embedding |",
        "|---|---|---|---|---|---|",
        *[f"| {r['lang']} | {r['n']} | {r['cascade_p50_ms']} | {r['cascade_p95_ms']} | {r['embedding_p50_ms']} | {r['ratio']} |" for r in rows],
        "", "`safewatch check --jsonl` (distinct English messages, median of 3 runs):", "",
        f"- {jsonl['messages']} messages in {jsonl['wall_s']} s including {jsonl['startup_s']} s start-up: "
        f"**{jsonl['msgs_per_s_incl_startup']} msg/s** overall, {jsonl['msgs_per_s_excl_startup']} msg/s after start-up.", "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
