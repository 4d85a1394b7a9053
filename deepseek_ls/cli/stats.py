"""``deepseek-ls stats``: usage and cost from the ledger (today, the last N days, per day, model,
kind and endpoint; ``--json`` for scripts). Reads only; exit 1 when the ledger cannot be read."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

_COLUMNS = (("requests", "requests", "{:,}"), ("promptHitTokens", "hit tok", "{:,}"),
            ("promptMissTokens", "miss tok", "{:,}"), ("completionTokens", "out tok", "{:,}"),
            ("hitRate", "cache hit", "{:.1%}"), ("costUsd", "cost USD", "{:.6f}"))


def _table(rows: list[tuple[str, Mapping[str, Any]]], first: str) -> list[str]:
    cells = [[first] + [title for _, title, _ in _COLUMNS]]
    for label, data in rows:
        cells.append([label] + [fmt.format(data[key]) for key, _, fmt in _COLUMNS])
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for n, row in enumerate(cells):
        line = row[0].ljust(widths[0]) + "".join("  " + c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))
        lines.append(line.rstrip())
        if n == 0:
            lines.append("-" * len(line))
    return lines


def format_stats(report: Mapping[str, Any]) -> str:
    """The readable form of :meth:`Ledger.report`."""
    from ..ledger import peak_hours_text

    days = max(1, int(report["days"]))
    period = f"last {days} day{'' if days == 1 else 's'}"
    out = [f"deepseek-ls usage (ledger: {report['ledger'] or 'off'})", ""]
    out += _table([(f"today ({report['today']['date']})", report["today"]),
                   (period, report["total"])], "period")
    if report["total"]["requests"]:
        out += ["", f"per day ({period})"]
        out += _table([(d["date"], d) for d in report["perDay"]], "day")
        out += ["", f"per model ({period})"]
        out += _table([(m["model"], m) for m in report["perModel"]], "model")
        out += ["", f"per kind ({period})"]
        out += _table([(k["kind"], k) for k in report["perKind"]], "kind")
        endpoints = report.get("perEndpoint") or []
        if len(endpoints) > 1 or any(e["endpoint"] != "deepseek" for e in endpoints):
            out += ["", f"per endpoint ({period})"]
            out += _table([(e["endpoint"] + ("" if e["costKnown"] else " (cost unknown)"), e)
                           for e in endpoints], "endpoint")
    else:
        out += ["", f"no requests recorded in the {period}"]
    out += ["", f"Costs use the price table of {report['pricesAsOf']} (USD); requests in peak hours "
            f"({peak_hours_text()}) are priced at the peak rates."]
    return "\n".join(out) + "\n"


def stats(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None,
          out: TextIO | None = None, now: float | None = None) -> int:
    from ..ledger import ledger_problem, open_default

    out = out or sys.stdout
    ledger = open_default(environ)
    try:
        report = ledger.report(days=args.days, now=now)
    except Exception as exc:  # noqa: BLE001  (any failure to read the ledger is one line, never a traceback)
        print(f"deepseek-ls: cannot read the usage ledger {ledger.path}: {exc}", file=sys.stderr)
        problem = ledger_problem(ledger.path) if ledger.path is not None else None
        if problem is not None:
            print(f"deepseek-ls: → {problem[1]}", file=sys.stderr)
        return 1
    if args.json:
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        out.write(format_stats(report))
    return 0


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if not 1 <= days <= 3660:
        raise argparse.ArgumentTypeError(f"--days counts days including today: 1 or more (got {days})")
    return days


def register(parser: argparse.ArgumentParser) -> None:
    """print usage and cost from the ledger: today, the last N days, per day, model and kind"""
    parser.description = (
        "Print the usage recorded in the ledger: today and the last N days (today included), then "
        "per day, per model, per kind of request (fim = ghost text, chat, action = code actions) and, "
        "once a fallback endpoint answered, per endpoint (a fallback without prices: cost unknown). "
        "Columns: requests; prompt tokens served from DeepSeek's cache (hit tok) and not (miss tok); "
        "output tokens; cache-hit share; cost in USD at the bundled price table (its date is printed; "
        "peak-hour rates where they applied). Reads only. Exit 1 when the ledger cannot be read. "
        "The ledger is in DEEPSEEK_LS_DATA_DIR or the user data folder.")
    parser.add_argument("--json", action="store_true", help="print the same figures as JSON for scripts")
    parser.add_argument("--days", type=_days, default=7, metavar="N",
                        help="days to cover, today included (default 7; 1 = today only)")
    parser.set_defaults(func=stats)
