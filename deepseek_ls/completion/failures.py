"""What a failed (or succeeding) ghost-text request does to the engine's state.

* A 401 or 402 pauses automatic requests until a request succeeds or the
  settings change (``paused`` says why).
* 429, 5xx, connection and stream faults count on the endpoint's breaker;
  the failure that opens the primary's starts an *outage*: one warning
  (or one "failover" notice when a fallback stands in) until a request
  succeeds at least ``OUTAGE_QUIET_S`` after the last failure.
* A fallback failing opens its own breaker and is reported per fallback and
  kind of error; nothing else pauses.
* Every problem is told to the user once per kind, until it is resolved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..api.endpoints import Endpoint, answering
from ..api.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    DeepSeekError,
    InsufficientBalanceError,
    MissingApiKeyError,
    RateLimitError,
    ServerError,
    StreamError,
)

log = logging.getLogger(__name__)

#: An outage of the API (one warning) ends with a success this long (s) after its last failure.
OUTAGE_QUIET_S = 60.0
#: how a pause after a 401 (key rejected) or 402 (balance used up) ends, told with it
PAUSE_ENDS = ("Automatic ghost text is paused until a request succeeds (ask for a completion by hand, "
              "or use chat or a code action, after fixing it) or the settings change.")

_SERVICE_FAULTS = (RateLimitError, ServerError, APIConnectionError, StreamError)
_REFUSALS = (AuthenticationError, InsufficientBalanceError, BadRequestError)


class FailurePolicy:
    """Pauses, breakers, outages and the once-per-kind problem reports of ghost text.

    ``now``: the clock (seconds); ``fallbacks``: the fallback endpoints now;
    ``on_problem(kind, message)``: tell the user; ``on_state()``: the state
    (see :meth:`CompletionEngine.state`) may have changed.
    """

    def __init__(self, now: Callable[[], float], fallbacks: Callable[[], list[Endpoint]],
                 on_problem: Callable[[str, str], None], on_state: Callable[[], None]) -> None:
        self._now = now
        self._fallbacks = fallbacks
        self._on_problem = on_problem
        self._on_state = on_state
        #: why automatic requests are paused (a 401/402, or a blocking setting), None when not
        self.paused: str | None = None
        #: the last request's error while it stands ("fallback 'x': ..." for a fallback's)
        self.last_error: str | None = None
        #: shutting down: nothing is reported any more
        self.closing = False
        self._api_pause = False  # paused by a 401/402 answer (lifted by a success)
        self._reported: set[str] = set()
        self._last_failure_at = float("-inf")  # of the API (for the outage warning)

    # -- reports -------------------------------------------------------
    def report(self, kind: str, message: str) -> None:
        """Tell the user once per kind of problem (until it is resolved)."""
        if kind in self._reported or self.closing:
            return
        self._reported.add(kind)
        self._on_problem(kind, message)

    def told(self, kind: str) -> bool:
        """True when the problem ``kind`` (e.g. "missing-key") was reported and still stands."""
        return kind in self._reported

    def report_missing_key(self) -> None:
        """Say once that there is no key (completions stay off until there is one)."""
        self.report("missing-key", f"{MissingApiKeyError()} {MissingApiKeyError.hint} "
                                   "Completions stay off until then.")

    def report_internal(self, exc: Exception) -> None:
        """A bug (not an API error) ended a request: logged, told once."""
        log.error("completion request failed unexpectedly: %s: %s", type(exc).__name__, exc, exc_info=exc)
        self.report("internal", f"Ghost text hit an internal error ({type(exc).__name__}); "
                                "see the server log. Other requests go on.")

    # -- state changes -------------------------------------------------
    def reset(self, keep_missing_key: bool) -> None:
        """New settings: lift any pause, allow every message again (but "no key" while
        ``keep_missing_key``: an unrelated change is no news)."""
        self.paused = None
        self._api_pause = False
        self.last_error = None
        kept = self._reported & {"missing-key"} if keep_missing_key else set()
        self._reported.clear()
        self._reported |= kept

    def resume(self) -> bool:
        """Lift a pause that a 401/402 answer caused; True when one was lifted
        (a pause caused by a blocking setting stays)."""
        if not self._api_pause:
            return False
        self._api_pause = False
        self.paused = None
        self.last_error = None
        self._reported.difference_update({"auth", "balance"})
        self._on_state()
        return True

    def succeeded(self, endpoint: Endpoint) -> None:
        """A request at ``endpoint`` answered: close its breaker, end a pause or an outage."""
        was_failing = self.last_error is not None or endpoint.breaker.state != "closed"
        if endpoint.primary:
            self.resume()  # a success after a 401/402 (a top-up, a new key): ghost text comes back
        endpoint.breaker.record_success()
        self.last_error = None
        if self.outage_over():
            self._reported.discard("unavailable")
            if endpoint.primary:
                self._reported.discard("failover")  # DeepSeek is back for good: a next failover is news
        if was_failing:
            self._on_state()

    def outage_over(self) -> bool:
        """Has the API been healthy long enough to call the last outage over?

        An outage starts with the failure that opens the breaker (one
        warning) and lasts until a request succeeds at least
        ``OUTAGE_QUIET_S`` after the last failure: a flapping API (a few
        503s, one success, again) is one outage, one warning.
        """
        return self._now() - self._last_failure_at >= OUTAGE_QUIET_S

    def failed(self, exc: DeepSeekError, endpoint: Endpoint) -> None:
        """A request at ``endpoint`` failed with ``exc``: apply the policy, tell the user once."""
        if not endpoint.primary:  # a fallback failed: its message and hint name the fallback and its key variable
            exc.at_endpoint(endpoint.name, endpoint.config.api_key_env if endpoint.config else "")
        where = "" if endpoint.primary else f"fallback {endpoint.name!r}: "
        log.warning("completion request failed: %s%s", where, exc)
        self.last_error = f"{where}{exc}"
        if not endpoint.primary and isinstance(exc, _REFUSALS + _SERVICE_FAULTS):
            self._fallback_failed(exc, endpoint)
        elif isinstance(exc, (AuthenticationError, InsufficientBalanceError)):
            self.paused = f"{exc} {exc.hint} {PAUSE_ENDS}"
            self._api_pause = True
            kind = "auth" if isinstance(exc, AuthenticationError) else "balance"
            self.report(kind, f"{exc} {exc.hint} {PAUSE_ENDS}")
        elif isinstance(exc, MissingApiKeyError):
            self.report("missing-key", f"{exc} {exc.hint}")
        elif isinstance(exc, _SERVICE_FAULTS):
            # StreamError: a stream cut off or of another kind (an HTML page): the service is failing
            self._service_failed(exc, endpoint)
        elif isinstance(exc, BadRequestError):
            self.report(f"bad-request:{exc.api_message}", f"{exc} {exc.hint}")
        self._on_state()

    def _fallback_failed(self, exc: DeepSeekError, endpoint: Endpoint) -> None:
        """A fallback failing: its own breaker opens (a refused key keeps it out longest);
        nothing else pauses, the primary's state is its own."""
        hard = isinstance(exc, _REFUSALS)
        endpoint.breaker.record_failure(endpoint.breaker.cooldown_max_s if hard else
                                        getattr(exc, "retry_after", None))
        self.report(f"fallback:{endpoint.name}:{type(exc).__name__}",
                    f"Fallback endpoint {endpoint.name!r} failed: {exc} {exc.hint}")

    def _service_failed(self, exc: DeepSeekError, endpoint: Endpoint) -> None:
        """The primary failing as a service (not a refusal): its breaker, and the outage notice."""
        endpoint.breaker.record_failure(getattr(exc, "retry_after", None))
        self._last_failure_at = self._now()
        if endpoint.breaker.state == "closed":
            return
        standin = answering(self._fallbacks(), "fim")
        if standin is not None:
            self.report("failover", f"{exc} Ghost text comes from the fallback endpoint "
                                    f"{standin.name!r} until DeepSeek answers again.")
        else:
            self.report("unavailable", f"{exc} {exc.hint}")
