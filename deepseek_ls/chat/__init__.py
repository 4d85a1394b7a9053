"""Chat and "explain selection" (LSP-free core).

``sessions`` keeps bounded per-session history, ``transcript`` writes
Markdown transcripts and ``manager`` runs and cancels chats. Their prompts
live in :mod:`deepseek_ls.prompt` (``chat``, ``prefix``); minimal text edits
in :mod:`deepseek_ls.edits`.
"""
