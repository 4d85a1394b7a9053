"""The model table (names, limits, prices) as data, and cost arithmetic.

The table lives in ``data/models.json`` with the date its prices were read;
any model name is accepted in settings, unknown names just have no price.
"""

from __future__ import annotations

import datetime as _dt
import json
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Prices:
    """USD per million tokens."""

    hit: float
    miss: float
    out: float


@dataclass(frozen=True)
class ModelInfo:
    """What deepseek-ls knows of one model name."""

    name: str
    fim: bool
    context: int
    max_output: int
    fim_max_tokens: int
    thinking_default: bool
    offpeak: Prices | None
    peak: Prices | None


@lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    """Load the bundled model table."""
    # pkgutil reads through the package's loader (a folder or a zip) without importlib.resources,
    # which costs ~5 ms at start-up
    data = pkgutil.get_data("deepseek_ls", "data/models.json")
    if data is None:  # a loader that cannot read package data
        raise FileNotFoundError("deepseek_ls/data/models.json")
    loaded: dict[str, Any] = json.loads(data.decode("utf-8"))
    return loaded


def default_model(kind: str) -> str:
    """Today's default model name for ``fim`` or ``chat``."""
    name: str = table()["defaults"][kind]
    return name


def model_info(name: str) -> ModelInfo | None:
    """Look a model name up (following aliases); None when unknown."""
    models = table()["models"]
    entry = models.get(name)
    if entry and "aliasOf" in entry:
        entry = models.get(entry["aliasOf"])
    if not entry:
        return None
    prices = entry.get("usdPerMillion") or {}

    def _prices(tier: str) -> Prices | None:
        p = prices.get(tier)
        return Prices(p["hit"], p["miss"], p["out"]) if p else None

    return ModelInfo(
        name=name,
        fim=bool(entry.get("fim")),
        context=int(entry.get("context", 131072)),
        max_output=int(entry.get("maxOutput", 8192)),
        fim_max_tokens=int(entry.get("fimMaxTokens", 4096)),
        thinking_default=bool(entry.get("thinkingDefault")),
        offpeak=_prices("offpeak"),
        peak=_prices("peak"),
    )


def is_peak(when: _dt.datetime) -> bool:
    """True in DeepSeek's peak hours (UTC weekdays, per the table)."""
    peak = table()["peakHoursUtc"]
    when = when.astimezone(_dt.UTC)
    return when.weekday() in peak["weekdays"] and when.hour in peak["hours"]


def cost_usd(
    model: str, hit: int, miss: int, out: int, when: _dt.datetime | None = None
) -> float:
    """Price of one request in USD (0.0 for models without a price)."""
    info = model_info(model)
    if info is None:
        return 0.0
    when = when or _dt.datetime.now(_dt.UTC)
    prices = info.peak if is_peak(when) and info.peak else info.offpeak
    if prices is None:
        return 0.0
    return (hit * prices.hit + miss * prices.miss + out * prices.out) / 1_000_000
