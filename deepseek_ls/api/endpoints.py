"""Endpoints in failover order: the primary (DeepSeek) and the fallbacks.

Each endpoint has its own client (own key, own connections, its own
:class:`~deepseek_ls.api.transport.H11Transport` included) and its own :class:`CircuitBreaker`. A request goes to the
first endpoint serving its use (``"fim"`` or ``"chat"``) whose breaker lets
it through: while the primary's breaker is open, the first healthy
fallback answers; once the primary's cooldown ends, its breaker lets one
probe through (half-open) and, when the probe succeeds, the primary is
taken back. No key ever goes to another endpoint: each client holds one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

from ..settings import EndpointConfig, Prices
from .breaker import CircuitBreaker
from .client import DeepSeekClient

PRIMARY = "deepseek"


@dataclass(eq=False)
class Endpoint:
    """One place requests can go.

    ``models`` maps a use (``"fim"``, ``"chat"``) to the model name sent
    there; an endpoint serves exactly the uses it has a model for.
    ``prices`` None on a fallback means the cost is unknown (the primary is
    priced by the bundled price table).
    """

    name: str
    primary: bool
    client: DeepSeekClient | None
    models: dict[str, str]
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    prices: Prices | None = None
    config: EndpointConfig | None = None

    def serves(self, use: str) -> bool:
        return use in self.models and self.client is not None

    def model(self, use: str) -> str:
        return self.models[use]

    def to_json(self) -> dict[str, object]:
        """The ``endpoint`` object of ``deepseek/status``."""
        return {"name": self.name, "primary": self.primary}


def fallback_endpoint(config: EndpointConfig, *, transport: httpx.AsyncBaseTransport | None = None,
                      clock: Callable[[], float] | None = None) -> Endpoint:
    """A fallback endpoint with a client of its own (a keyless one for a local server);
    ``transport``: an injected one (tests), as :class:`DeepSeekClient` takes it."""
    client = DeepSeekClient(config.base_url, config.api_key, transport=transport,
                            kind=config.kind, key_required=False)
    models = {}
    if config.serves("fim"):
        models["fim"] = config.fim_model
    if config.serves("chat"):
        models["chat"] = config.chat_model
    breaker = CircuitBreaker(clock=clock) if clock else CircuitBreaker()
    return Endpoint(config.name, False, client, models, breaker, config.prices, config)


def pick(endpoints: Iterable[Endpoint], use: str, *, force: bool = False) -> Endpoint | None:
    """The endpoint the next ``use`` request goes to, claiming a half-open probe slot.

    The first endpoint serving ``use`` whose breaker allows a request. With
    ``force`` (a request the user asked for), when every breaker is open the
    first endpoint serving ``use`` is returned anyway (None only when none
    serves it). Call :meth:`CircuitBreaker.release_probe` (or record the
    outcome) for the endpoint returned.
    """
    serving = [e for e in endpoints if e.serves(use)]
    for endpoint in serving:
        if endpoint.breaker.allow():
            return endpoint
    if force and serving:
        return serving[0]
    return None


def peek(endpoints: Iterable[Endpoint], use: str) -> Endpoint | None:
    """The endpoint :func:`pick` would most likely return, without claiming anything.

    The first serving ``use`` whose breaker is closed, or half-open with
    its probe slot free; else the first serving ``use``.
    """
    serving = [e for e in endpoints if e.serves(use)]
    for endpoint in serving:
        state = endpoint.breaker.state
        if state == "closed" or (state == "half-open" and not endpoint.breaker.probing):
            return endpoint
    return serving[0] if serving else None


def answering(endpoints: Iterable[Endpoint], use: str) -> Endpoint | None:
    """The endpoint that answers ``use`` now, for the status: the first serving
    it whose breaker is closed (None when every one is failing)."""
    for endpoint in endpoints:
        if endpoint.serves(use) and endpoint.breaker.state == "closed":
            return endpoint
    return None
