"""Every prompt deepseek-ls sends (LSP-free core).

``fim`` builds cache-friendly fill-in-the-middle prompts for ghost text,
``chat`` the chat messages (system prompt, file context, question),
``prefix`` the Chat Prefix Completion requests of the code actions and the
edits made from their answers; ``config`` holds the prompt budgets.
"""

from .fim import FimPrompt, build_fim_prompt, wants_multiline

__all__ = ["FimPrompt", "build_fim_prompt", "wants_multiline"]
