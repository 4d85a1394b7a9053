"""The prompt builders' fixed budgets (characters, lines, tokens).

The ones users may change are also the defaults of settings (see
:mod:`deepseek_ls.settings`: ``completion.prefixChars``,
``completion.suffixChars``, ``completion.maxTokens``).
"""

#: Characters of the current file before the cursor (about 4 chars a token). 12,000 until the
#: ``ci`` typing replay had a project open: every first visit to a file and every move of the
#: prompt's head re-bills the window, and at 12,000 the server cost 6.4% of the naive client's
#: (v4; 5.7% at 8,000, 4.9% at 6,000 with late definitions last in the head; target 5%). 6,000 is
#: the naive client's window too, and the window of the real-model quality measurements.
PREFIX_CHARS = 6000
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
#: cached head of the prompt: characters at most (half of ``completion.prefixChars``:
#: ``PREFIX_CHARS // 2`` by default), and the step (lines, counted from the end of the
#: file) its start moves by.
TAIL_CHARS = PREFIX_CHARS // 2
TAIL_STEP_LINES = 16
#: A short prompt (sent while DeepSeek has not cached the full prompt's head
#: yet; see ``fim.short_fim_prompt``) is the header and at most this many
#: characters nearest the cursor.
SHORT_PREFIX_CHARS = 2000
#: Other open files: characters per file and in total.
OTHER_FILE_CHARS = 3000
OTHER_FILES_CHARS = 6000
#: max_tokens for single-line and multi-line ghost text.
FIM_MAX_TOKENS_LINE = 64
FIM_MAX_TOKENS_BLOCK = 256
