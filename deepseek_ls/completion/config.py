"""The completion loop's fixed numbers: typing rhythm, the ghost-text budget, document size.

Read by ``deepseek_ls/completion/`` (``rhythm``, ``engine``) and by the
documents feature (``MAX_DOCUMENT_CHARS``: larger documents are neither
completed nor sent as context). Every other part keeps its own:
:mod:`deepseek_ls.prompt.config` (prompt budgets), :mod:`deepseek_ls.api.config`
(timeouts, retries, breaker), :mod:`deepseek_ls.chat.sessions` (history), and
:mod:`deepseek_ls.settings` the settings' defaults (``DEBOUNCE_MS``: settings
sit below the completion loop, which reads them).
Importing this module loads nothing else (``deepseek_ls.completion`` imports
its engine only on first use).
"""

# --- ghost text -----------------------------------------------------------
#: The adaptive debounce moves the base debounce (``completion.debounceMs``, default
#: :data:`deepseek_ls.settings.DEBOUNCE_MS`) between these bounds (ms) from the
#: measured typing rhythm.
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
