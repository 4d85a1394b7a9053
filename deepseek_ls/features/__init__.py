"""The LSP side of deepseek-ls: one owner object per feature, built once by
:func:`deepseek_ls.server.create_server` from explicit dependencies.

============================  ===============================  ==========================================
feature                       owner                            state it owns
============================  ===============================  ==========================================
the editor connection         ``connection.DeepSeekLanguageServer``  lifecycle rules, our pending requests
status and feedback           ``status.StatusFeature``         the last status sent, the excluded state
documents and the workspace   ``documents.DocumentsFeature``   the open documents
ghost text / completion       ``completion.CompletionFeature`` none (the engine is the service's)
chat and explain              ``chat.ChatFeature``             sessions, running chats, transcripts
code actions                  ``code_actions.CodeActionsFeature``  the prefix-request runner
lifecycle and settings        ``lifecycle.LifecycleFeature``   pending problems, model checks
============================  ===============================  ==========================================

Handlers (:mod:`deepseek_ls.handlers`) are one-line adapters that call these
objects; the core (:mod:`deepseek_ls.service` and below) never imports this
package. Importing the package imports none of its modules.
"""
