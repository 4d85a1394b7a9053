"""The completion loop's fixed numbers (typing rhythm, prompt cache, result cache).

Every other part keeps its own: :mod:`deepseek_ls.prompt.config` (prompt
budgets), :mod:`deepseek_ls.api.config` (timeouts, retries, breaker),
:mod:`deepseek_ls.chat.sessions` (history) and :mod:`deepseek_ls.settings`
(the settings' own defaults). What is left here is read by
``deepseek_ls/completion/`` (``MAX_DOCUMENT_CHARS`` by the server too,
``DEBOUNCE_MS`` by settings as a default).
"""

# --- ghost text -----------------------------------------------------------
#: Base debounce before an automatic FIM request (ms); adaptive debounce moves
#: it between the two bounds below from the measured typing rhythm.
DEBOUNCE_MS = 120
DEBOUNCE_MIN_MS = 60
DEBOUNCE_MAX_MS = 480
#: Inter-keystroke intervals longer than this are pauses, not typing rhythm.
TYPING_GAP_MAX_MS = 1200
#: Pauses after a line break are recorded up to this length (ms).
PAUSE_CAP_MS = 10000
#: How many recent keystroke intervals / latencies the adaptive debounce keeps.
RHYTHM_WINDOW = 32
#: The ghost text must be on screen by this long after the user stops typing
#: (ms); the debounce shrinks when upstream latency eats into it.
GHOST_BUDGET_MS = 900

#: Documents larger than this are not completed (characters).
MAX_DOCUMENT_CHARS = 4_000_000
