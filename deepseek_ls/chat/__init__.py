"""Chat, "explain selection" and prefix-completion code actions (LSP-free core).

``prompts`` builds cache-friendly chat messages, ``sessions`` keeps bounded
per-session history, ``prefix`` builds Chat Prefix Completion requests for
the code actions and turns their answers into edits, ``edits`` computes
minimal text edits, ``transcript`` writes Markdown transcripts and
``manager`` runs and cancels chats.
"""
