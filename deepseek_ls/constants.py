"""Every tunable number of deepseek-ls in one place.

Numbers that users may want to change are settings (see settings.py); these
are the fixed ones and the settings' defaults.
"""

DEFAULT_BASE_URL = "https://api.deepseek.com"

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

#: A ghost text older than this is useless: the FIM request is dropped (s).
FIM_TIMEOUT_S = 4.0
#: After a stream's [DONE], how long to wait for the end of the body. Read to
#: the end, the connection returns to the pool; cut off, it is closed and the
#: next request pays a new TCP + TLS handshake.
DRAIN_S = 0.5
FIM_CONNECT_TIMEOUT_S = 3.0
#: max_tokens for single-line and multi-line ghost text.
FIM_MAX_TOKENS_LINE = 64
FIM_MAX_TOKENS_BLOCK = 256
#: Lines of a multi-line suggestion at most.
FIM_MAX_LINES = 12

# --- prompt ---------------------------------------------------------------
#: Characters of the current file before the cursor (about 4 chars a token).
PREFIX_CHARS = 12000
#: The window start moves in steps of this many lines (aligned), so the
#: prompt's start stays byte-identical while the cursor moves within a step.
PREFIX_STEP_LINES = 64
#: Once sent, a window start is kept while the window stays within
#: ``PREFIX_CHARS * (1 + WINDOW_SLACK)``: every move is an uncached prompt.
WINDOW_SLACK = 0.25
#: Characters / lines after the cursor. Every suffix token is a cache miss.
SUFFIX_CHARS = 300
SUFFIX_LINES = 8
#: The rest of the current file after the suffix window goes into the
#: cached head of the prompt: characters at most, and the step (lines,
#: counted from the end of the file) its start moves by.
TAIL_CHARS = 6000
TAIL_STEP_LINES = 16
#: Other open files: characters per file and in total.
OTHER_FILE_CHARS = 3000
OTHER_FILES_CHARS = 6000
#: Documents larger than this are not completed (characters).
MAX_DOCUMENT_CHARS = 4_000_000

# --- circuit breaker ------------------------------------------------------
BREAKER_FAILURES = 3
BREAKER_COOLDOWN_S = 2.0
BREAKER_COOLDOWN_MAX_S = 60.0

# --- chat -----------------------------------------------------------------
CHAT_CONNECT_TIMEOUT_S = 10.0
#: A thinking model may be silent for minutes before answering.
CHAT_READ_TIMEOUT_S = 300.0
#: No byte at all (not even a keep-alive) for this long ends a stream.
CHAT_IDLE_TIMEOUT_S = 120.0
CHAT_MAX_TOKENS = 8192
RETRY_ATTEMPTS = 4
RETRY_MAX_WAIT_S = 20.0
RETRY_TOTAL_S = 60.0
SESSIONS_MAX = 32
SESSION_HISTORY_CHARS = 60000
