"""The prompt-cache policy: which prompt a request sends.

DeepSeek bills a prompt prefix it has cached at a fraction of the price, and
persists a prefix seconds after the request that sent it *completed*. So:

* the full prompt's window start sticks per endpoint and document (the
  window hint), so consecutive full prompts share their head;
* the first request with a new head builds the cache; until its head is
  persisted (``CACHE_WARMUP_S`` after it completed) every other request
  sends the *short prompt* (header and nearest lines), which repeats
  nothing it would pay for in full;
* small prompts (head under ``SHORT_MIN_HEAD_CHARS``) always go in full.

Each endpoint has its own cache, so warm-up and windows are kept per endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache

from ..api.endpoints import PRIMARY, Endpoint
from ..policy import mask_fim
from ..prompt.config import SHORT_PREFIX_CHARS
from ..prompt.fim import FimPrompt, build_fim_prompt, short_fim_prompt
from ..settings import Settings
from .memory import request_key
from .request import CompletionRequest

#: DeepSeek persists a prompt prefix a few seconds after a request ends.
#: Until then a new (or moved) prompt head would be billed in full again, so
#: requests send the short prompt meanwhile.
CACHE_WARMUP_S = 2.0
#: Only prompts at least this much longer than the short prompt's window get a short prompt while
#: their head warms (the short prompt at least halves them: with the 6,000-character window a
#: prompt of one file and no context qualifies; 4,000 with the 12,000 window of before).
SHORT_MIN_HEAD_CHARS = 2000
#: while a head's first request is in flight (its entry in ``_warm``)
_IN_FLIGHT = -1.0


@dataclass(frozen=True)
class PlannedPrompt:
    """The prompt a request sends, where, and its keys.

    ``key``: the request key (result cache, joining identical requests).
    ``warm_key``: the key of the full prompt's head, None for a small prompt.
    ``short``: the short prompt is sent (the head is still warming).
    """

    fim: FimPrompt
    endpoint: Endpoint
    model: str
    key: str
    warm_key: str | None
    short: bool


class PromptCache:
    """Warm-up state of prompt heads and the window hints, per endpoint.

    ``now``: the clock (seconds); ``warmup_s``: how long after its request
    completed a new head counts as cached.
    """

    def __init__(self, now: Callable[[], float], warmup_s: float = CACHE_WARMUP_S) -> None:
        self._now = now
        self.warmup_s = warmup_s
        #: prompt heads sent in full: completion time, or ``_IN_FLIGHT``
        self._warm: LRUCache[str, float] = LRUCache(maxsize=256)
        #: per endpoint and document: the window start line of the last full prompt sent
        self._windows: LRUCache[tuple[str, str], int] = LRUCache(maxsize=256)

    def plan(self, req: CompletionRequest, endpoint: Endpoint, settings: Settings) -> PlannedPrompt:
        """The full prompt, or the short one while the full prompt's head is being cached."""
        model = endpoint.models.get("fim", settings.completion_model)
        full = _full_prompt(req, settings, self._windows.get((endpoint.name, req.doc.uri)))
        fim = mask_fim(full)  # secret masking: secrets masked before anything is sent
        warm_key = self._warm_key(fim, endpoint, model)
        short = warm_key is not None and not self._warmed(warm_key)
        if short:
            fim = mask_fim(short_fim_prompt(full, req.doc, req.offset))
        key = request_key(model, fim.prompt, fim.suffix, fim.max_tokens, fim.stop,
                          settings.completion_temperature)
        return PlannedPrompt(fim, endpoint, model, key, warm_key, short)

    def window(self, endpoint: str, uri: str) -> int | None:
        """The window start line of the last full prompt sent to ``endpoint`` for ``uri``."""
        return self._windows.get((endpoint, uri))

    def sending(self, plan: PlannedPrompt, uri: str) -> bool:
        """``plan`` goes out for ``uri``: note its window; True when it builds the cache of its head."""
        if plan.short:
            return False
        self._windows[(plan.endpoint.name, uri)] = plan.fim.window_line
        if plan.warm_key is None or self._warm.get(plan.warm_key) is not None:
            return False
        self._warm[plan.warm_key] = _IN_FLIGHT  # requests meanwhile send the short prompt
        return True

    def built(self, warm_key: str) -> None:
        """The request building ``warm_key``'s cache completed (persisted a few seconds from now)."""
        self._warm[warm_key] = self._now()

    def not_built(self, warm_key: str) -> None:
        """The request building ``warm_key``'s cache failed: the next request builds it instead."""
        self._warm.pop(warm_key, None)

    def forget(self, uri: str, endpoints: list[Endpoint]) -> None:
        """The document was closed."""
        for endpoint in endpoints:
            self._windows.pop((endpoint.name, uri), None)

    def _warm_key(self, fim: FimPrompt, endpoint: Endpoint, model: str) -> str | None:
        """The key of ``fim``'s head and the line its window starts at (which moves in aligned
        steps); None when the prompt is small (a short prompt would save little).

        Nothing of the window's text is in the key: typing changes it, and a key that moved
        with it (it once took up to 256 characters of the window, half of a short one) made a
        small file's next request build the same head again in full, thousands of tokens,
        before the first one was cached (seen in the ``multi`` typing replay)."""
        if len(fim.prompt) - SHORT_PREFIX_CHARS < SHORT_MIN_HEAD_CHARS:
            return None
        head = fim.prompt[:fim.head_len]
        if endpoint.name == PRIMARY:
            return request_key(model, head, fim.window_line)
        return request_key(endpoint.name, model, head, fim.window_line)

    def _warmed(self, warm_key: str) -> bool:
        """May a full prompt with this head go out (new, or cached by now)?"""
        since = self._warm.get(warm_key)
        return since is None or (since >= 0 and self._now() - since >= self.warmup_s)


def _full_prompt(req: CompletionRequest, settings: Settings, window_hint: int | None) -> FimPrompt:
    """The full FIM prompt for ``req`` under ``settings`` (not masked yet)."""
    s = settings
    return build_fim_prompt(
        req.doc, req.offset, others=req.others if s.completion_other_files else (),
        prefix_chars=s.completion_prefix_chars, suffix_chars=s.completion_suffix_chars,
        max_tokens_block=s.completion_max_tokens, use_other_files=s.completion_other_files,
        tail_chars=s.completion_prefix_chars // 2,  # the rest of the file: half the window at most
        window_hint=window_hint, project_context=req.context, file_context=req.file_context,
        late_context=req.late_context)
