"""Typed errors of the DeepSeek client.

    DeepSeekError
    ├── MissingApiKeyError          no key configured (nothing was sent)
    │   └── InvalidApiKeyError      a key no HTTP header can carry (nothing was sent)
    ├── InternalError               a bug inside deepseek-ls (details in the log)
    ├── APIConnectionError          network trouble (chat retries it)
    │   └── APITimeoutError
    ├── StreamError                 a stream that ended without [DONE] or went idle
    └── APIStatusError              the API answered with an error status
        ├── BadRequestError         400 / 422: never retried
        │   ├── NotFoundError       404: a wrong endpoint path (names deepseek.baseUrl)
        │   └── RedirectError       3xx: never followed (names the Location host)
        ├── AuthenticationError     401: never retried, pauses requests
        ├── InsufficientBalanceError 402: never retried, pauses requests
        ├── RateLimitError          429: chat retries it, honouring Retry-After
        └── ServerError             5xx: chat retries 500, 502, 503, 504
            └── MalformedAnswerError 200 of a shape we cannot use: not retried

Which errors are retried is :func:`deepseek_ls.api.retry.is_retryable`'s
decision (by status), for chat only: ghost text is never retried.
:func:`transport_errors` is the one place httpx's network errors become
:class:`APIConnectionError` / :class:`APITimeoutError`, whichever
transport raised them.

An error from a fallback endpoint is marked with :meth:`DeepSeekError.at_endpoint`:
its message and hint then name that endpoint and its key variable.

Every message goes through :func:`redact`, so no API key can leak into a
log line, an editor message or a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .jsonbody import clean_text, loads

if TYPE_CHECKING:
    import httpx

_KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-]{4,}")
_BEARER_PATTERN = re.compile(r"(?i)(bearer\s+)[^\s\"']+")
_secrets: set[str] = set()


def register_secret(secret: str) -> None:
    """Remember a secret so that :func:`redact` masks it everywhere."""
    if secret and len(secret) >= 4:
        _secrets.add(secret)


def redact(text: str) -> str:
    """Mask API keys and bearer tokens in ``text``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    text = _KEY_PATTERN.sub("sk-***", text)
    return _BEARER_PATTERN.sub(r"\1***", text)


class DeepSeekError(Exception):
    """Base class: ``str(error)`` is safe to show and to log."""

    #: What the user can do about it, for editor messages.
    hint: str = ""
    #: The fallback endpoint the error came from (None: DeepSeek, the primary); see :meth:`at_endpoint`.
    endpoint: str | None = None

    def at_endpoint(self, name: str, key_env: str = "") -> DeepSeekError:
        """Mark this error as fallback endpoint ``name``'s (``key_env``: its ``apiKeyEnv``).

        Its message and hint then name that endpoint and its settings
        (``deepseek.fallbacks``), never DeepSeek's. Returns ``self``.
        """
        if self.endpoint is None:
            self.endpoint = name
            text = str(self).replace("DeepSeek API error", f"API error from endpoint {name!r}", 1)
            text = text.replace("The DeepSeek API", f"The endpoint {name!r}", 1)
            self.args = (text,)
            hint = self._endpoint_hint(name, key_env)
            if hint:
                self.hint = hint
        return self

    def _endpoint_hint(self, name: str, key_env: str) -> str:
        return ""

    def __init__(self, message: str) -> None:
        # an exception's empty text must not leave "failed: ReadError:." behind
        message = message.rstrip().rstrip(":;,").rstrip() or "failed"
        super().__init__(redact(message if message.endswith((".", "!", "?")) else f"{message}."))

    @property
    def message(self) -> str:
        return str(self)


def _key_place(name: str, key_env: str) -> str:
    where = (f"the environment variable {key_env} (its apiKeyEnv)" if key_env
             else "its apiKey or apiKeyEnv")
    return f"{where} in the entry {name!r} of deepseek.fallbacks"


class MissingApiKeyError(DeepSeekError):
    """No API key is configured; nothing was sent."""

    hint = ("Set the environment variable DEEPSEEK_API_KEY or the setting deepseek.apiKey "
            "(create a key at https://platform.deepseek.com/api_keys).")

    def __init__(self) -> None:
        super().__init__("No DeepSeek API key is configured.")

    def _endpoint_hint(self, name: str, key_env: str) -> str:
        return f"Set the key of endpoint {name!r} in {_key_place(name, key_env)}."


class InvalidApiKeyError(MissingApiKeyError):
    """The key has characters no HTTP header can carry (nothing was sent)."""

    hint = ("Paste only the key itself (it starts with sk- and has no spaces or other characters) "
            "into DEEPSEEK_API_KEY or deepseek.apiKey.")

    def __init__(self) -> None:
        DeepSeekError.__init__(self, "The DeepSeek API key contains spaces, non-ASCII or control characters.")


class InternalError(DeepSeekError):
    """A bug or an unexpected condition inside deepseek-ls (details in the server log)."""

    hint = "This is a bug in deepseek-ls; the server log (stderr) has the details."


class APIConnectionError(DeepSeekError):
    """The request could not be sent or its answer not received (DNS, refused,
    reset, TLS, a broken HTTP exchange); the message names the request and the cause."""

    hint = "Check your network connection and deepseek.baseUrl."

    def _endpoint_hint(self, name: str, key_env: str) -> str:
        return f"Check your network connection and the baseUrl of endpoint {name!r} in deepseek.fallbacks."


class APITimeoutError(APIConnectionError):
    """The request or its answer took longer than its timeout."""

    hint = "The DeepSeek API did not answer in time."

    def _endpoint_hint(self, name: str, key_env: str) -> str:
        return f"The endpoint {name!r} did not answer in time."


class StreamError(DeepSeekError):
    """A streamed answer that cannot be used whole: cut off, silent too long, ended
    without ``[DONE]``, an event that is not JSON, or an error reported mid-stream."""

    hint = "The answer was cut off by the server or the network; try again."

    def _endpoint_hint(self, name: str, key_env: str) -> str:
        return f"The answer from endpoint {name!r} was cut off by the server or the network; try again."


class APIStatusError(DeepSeekError):
    """The API answered with an error status.

    ``status``: the HTTP status; ``api_message``: the API's own message
    (redacted); ``code``: its error code or type, when given;
    ``retry_after``: the ``Retry-After`` header in seconds, when given.
    """

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"DeepSeek API error {status}: {message}")
        self.status = status
        self.api_message = redact(message)
        self.code = code
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400 / 422 and other 4xx the API answers for a request it will not serve."""

    hint = "The request was rejected; check the model name and settings."

    def _endpoint_hint(self, name: str, key_env: str) -> str:
        return (f"The endpoint {name!r} rejected the request; check its fimModel, chatModel and kind "
                "in deepseek.fallbacks.")


class NotFoundError(BadRequestError):
    """404: usually a base URL that is an endpoint path rather than the API root."""

    hint = ("Check deepseek.baseUrl: it should be the API root (e.g. https://api.deepseek.com), "
            "not an endpoint path.")

    def _endpoint_hint(self, name: str, key_env: str) -> str:
        return (f"Check the baseUrl of endpoint {name!r} in deepseek.fallbacks: it should be the API root, "
                "not an endpoint path.")


class RedirectError(BadRequestError):
    """The endpoint answered with a redirect (3xx), which is never followed (a key must not
    go to another host). ``location_host``: the host it pointed to (None when not given)."""

    hint = "Set deepseek.baseUrl to the API root the redirect points to, if you trust that host."

    def __init__(self, status: int, location: str, *, retry_after: float | None = None) -> None:
        host = urlsplit(location).hostname if location else None
        self.location_host = host
        where = f" to {host}" if host else ""
        APIStatusError.__init__(self, status, f"the endpoint answered with a redirect{where}, "
                                              "which deepseek-ls does not follow", retry_after=retry_after)

    def _endpoint_hint(self, name: str, key_env: str) -> str:
        return (f"Set the baseUrl of endpoint {name!r} in deepseek.fallbacks to the API root the redirect "
                "points to, if you trust that host.")


class AuthenticationError(APIStatusError):
    """401: the key was rejected."""

    hint = "The API key was rejected. Set a valid key in DEEPSEEK_API_KEY or deepseek.apiKey."

    def _endpoint_hint(self, name: str, key_env: str) -> str:
        return f"The endpoint {name!r} rejected its key. Set a valid key in {_key_place(name, key_env)}."


class InsufficientBalanceError(APIStatusError):
    """402: the account has no balance left."""

    hint = "Your DeepSeek balance is used up. Top up at https://platform.deepseek.com/top_up."

    def _endpoint_hint(self, name: str, key_env: str) -> str:
        return f"The account behind endpoint {name!r} has no balance left; top it up with that provider."


class RateLimitError(APIStatusError):
    """429: the rate or concurrency limit; ``retry_after`` (s) when the server said."""

    hint = "DeepSeek's rate or concurrency limit was reached; requests pause for a moment."

    def _endpoint_hint(self, name: str, key_env: str) -> str:
        return f"The rate or concurrency limit of endpoint {name!r} was reached; requests pause for a moment."


class ServerError(APIStatusError):
    """5xx: the service is failing or overloaded."""

    hint = "DeepSeek is overloaded or failing; requests pause and retry shortly."

    def _endpoint_hint(self, name: str, key_env: str) -> str:
        return f"The endpoint {name!r} is overloaded or failing; requests pause and retry shortly."


class MalformedAnswerError(ServerError):
    """A 200 answer (or stream event) with a field of the wrong type: nothing of it is used.

    ``str(error)`` is "DeepSeek's answer is not a completion (<which field is wrong>)."
    It counts as a failure of the service (the breaker), and is not retried:
    the same server would answer the same way.
    """

    hint = ("The server at deepseek.baseUrl does not answer like DeepSeek's API; "
            "check deepseek.baseUrl and the model name.")

    def __init__(self, detail: str, status: int = 200) -> None:
        DeepSeekError.__init__(self, f"DeepSeek's answer is not a completion ({detail})")
        self.status = status
        self.api_message = redact(detail)
        self.code = None
        self.retry_after = None


def describe(exc: BaseException) -> str:
    """An exception in words for a message: ``"ReadError: text"``, or only
    ``"ReadError"`` when it has no text of its own (never ``"ReadError: "``).

    The text alone when it already names the failure: it starts with the
    class name, or the exception says so (a true ``names_its_cause``
    attribute: ``H11Transport``'s "cannot connect to HOST:PORT: ..." errors).
    """
    name = type(exc).__name__
    text = str(exc).strip()
    if not text:
        return name
    if text.startswith(f"{name}:") or getattr(exc, "names_its_cause", False) is True:
        return text  # it already names its cause
    return f"{name}: {text}"


def json_kind(value: object) -> str:
    """The JSON type of ``value`` in words ("a list", "an object", "a number", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def text_field(obj: dict[str, Any], key: str, where: str) -> str | None:
    """``obj[key]`` when it is text or null/missing; MalformedAnswerError for any other type."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return clean_text(value)  # a "\ud83d" escape must not reach a file, the ledger or a terminal
    raise MalformedAnswerError(f"{where}{key} is {json_kind(value)}, not text")


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(status: int, headers: httpx.Headers, body: bytes) -> APIStatusError:
    """Build the typed error for an error response."""
    import httpx  # loaded already: a response came through it

    message = ""
    code = None
    try:
        data = loads(body or b"null")
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            raw = data["error"].get("message")
            message = raw if isinstance(raw, str) else ""
            raw_code = data["error"].get("code") or data["error"].get("type")
            code = raw_code if isinstance(raw_code, str) else None if raw_code is None else str(raw_code)[:40]
    except ValueError:
        message = body.decode("utf-8", "replace").strip()[:500]
    if 300 <= status < 400:
        return RedirectError(status, headers.get("location", ""), retry_after=_retry_after(headers))
    message = message or httpx.codes.get_reason_phrase(status) or "error"
    if status == 401:
        cls: type[APIStatusError] = AuthenticationError
    elif status == 402:
        cls = InsufficientBalanceError
    elif status == 404:
        cls = NotFoundError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerError
    else:
        cls = BadRequestError
    return cls(status, message, code=code, retry_after=_retry_after(headers))


@contextmanager
def transport_errors(what: str) -> Iterator[None]:
    """Turn httpx's network errors raised inside into the typed, key-free ones.

    ``httpx.TimeoutException`` becomes :class:`APITimeoutError` ("``what`` timed
    out (ReadTimeout)."), any other ``httpx.HTTPError``
    :class:`APIConnectionError` ("``what`` failed: ConnectError: ...");
    ``what`` names the request, e.g. ``"POST /beta/completions"``.
    """
    import httpx  # loaded already: the request inside goes through it

    try:
        yield
    except httpx.TimeoutException as exc:
        raise APITimeoutError(f"{what} timed out ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise APIConnectionError(f"{what} failed: {describe(exc)}") from None
