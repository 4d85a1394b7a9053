"""The LSP side of deepseek-ls: one owner object per feature, built once by
:func:`deepseek_ls.server.build` from explicit dependencies (model: esbonio's
``server/setup.py`` and its feature objects).

- ``connection.DeepSeekLanguageServer``: the editor connection (lifecycle rules,
  deadlines on our requests to the client, positions in the negotiated encoding).
- ``status.StatusFeature``: ``deepseek/status``, problem messages, ghost-text feedback.
- ``documents.DocumentsFeature``: the open documents, snapshots, names, exclusions (secret files never sent).
- ``completion.CompletionFeature``: ghost text and completion items.
- ``chat.ChatFeature``: chat and explain (sessions, running chats, transcripts).
- ``code_actions.CodeActionsFeature``: prefix-completion code actions and rewrites.
- ``lifecycle.LifecycleFeature``: initialize, settings layers, model checks, shutdown.

Each owner takes what it needs in its constructor and documents its state
per attribute. Handlers (:mod:`deepseek_ls.handlers`) are one-line adapters
that call these objects. The core (:mod:`deepseek_ls.service` and below)
never imports this package; importing the package imports none of its modules.
"""
