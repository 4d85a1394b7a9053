"""The HTTP part's fixed numbers: timeouts, retries, circuit breaker.

``FIM_TIMEOUT_S`` is also the default of the setting ``completion.timeoutMs``.
"""

# --- ghost text (FIM) -----------------------------------------------------
#: A ghost text older than this is useless: the FIM request is dropped (s).
FIM_TIMEOUT_S = 4.0
FIM_CONNECT_TIMEOUT_S = 3.0
#: After a stream's [DONE], how long to wait for the end of the body. Read to
#: the end, the connection returns to the pool; cut off, it is closed and the
#: next request pays a new TCP + TLS handshake.
DRAIN_S = 0.5

#: The environment variable that sends every request (ghost text, chat, models,
#: balance) through httpx's own transport instead of ``H11Transport``; read
#: where clients are built (``DeepSeekClient``) and by ``api.transport``.
HTTPX_ENV = "DEEPSEEK_LS_HTTPX"

#: httpx's own transport keeps an idle connection this long (s); :meth:`DeepSeekClient.warm`
#: sends its warm-up request (a free ``GET /models``) at most once per this period there.
HTTPX_KEEPALIVE_S = 60.0

# --- chat -----------------------------------------------------------------
CHAT_CONNECT_TIMEOUT_S = 10.0
#: A thinking model may be silent for minutes before answering.
CHAT_READ_TIMEOUT_S = 300.0
#: No byte at all (not even a keep-alive) for this long ends a stream.
CHAT_IDLE_TIMEOUT_S = 120.0

# --- retries (chat and code actions; never ghost text) ----------------------
RETRY_ATTEMPTS = 4
RETRY_MAX_WAIT_S = 20.0
RETRY_TOTAL_S = 60.0

# --- circuit breaker ------------------------------------------------------
BREAKER_FAILURES = 3
BREAKER_COOLDOWN_S = 2.0
BREAKER_COOLDOWN_MAX_S = 60.0
