"""What a user of *this* client can do about a missing or rejected API key.

The server talks to exactly one client per process, so the hints of
:class:`~deepseek_ls.api.errors.MissingApiKeyError` and
:class:`~deepseek_ls.api.errors.AuthenticationError` are set once, at
``initialize``, from what the client says about itself: the editor plugins
send ``initializationOptions.deepseekClient`` (``"vscode"`` / ``"nvim"``);
other clients are recognised by ``clientInfo.name``. Free of LSP types.
"""

from __future__ import annotations

from typing import Any

from .api.errors import AuthenticationError, MissingApiKeyError

KEY_PAGE = "https://platform.deepseek.com/api_keys"

#: where the key goes, per client kind (completes "Set ... ")
_WHERE = {
    "vscode": 'Run "DeepSeek: Set API Key" from the Command Palette (the key goes to VS Code\'s secret '
              "storage), or start VS Code with DEEPSEEK_API_KEY in its environment.",
    "nvim": "Pass it to the plugin: require('deepseek_ls').setup({ api_key = ... }) (or read it from a "
            "file there), or export DEEPSEEK_API_KEY before starting Neovim.",
    "neovim": "Set DEEPSEEK_API_KEY in the server's environment (cmd_env in your vim.lsp.config) or "
              "settings.deepseek.apiKey.",
    "generic": "Set the environment variable DEEPSEEK_API_KEY for the server, or the setting "
               "deepseek.apiKey in your editor's LSP configuration.",
}
_GENERIC_MISSING = MissingApiKeyError.hint
_GENERIC_REJECTED = AuthenticationError.hint


def client_kind(init_options: Any, client_name: str | None) -> str:
    """``"vscode"``, ``"nvim"`` (the plugins), ``"neovim"`` (Neovim without the plugin) or ``"generic"``."""
    if isinstance(init_options, dict):
        declared = init_options.get("deepseekClient")
        if declared in ("vscode", "nvim"):
            return declared
    name = (client_name or "").strip().lower()
    if name == "neovim" or name == "nvim":
        return "neovim"
    return "generic"


def hints(kind: str) -> tuple[str, str]:
    """(missing-key hint, rejected-key hint) for a client kind."""
    where = _WHERE.get(kind, _WHERE["generic"])
    return (f"{where} Create a key at {KEY_PAGE}.", f"The API key was rejected. {where}")


def apply(init_options: Any, client_name: str | None) -> str:
    """Set this process's key hints for the client; returns the client kind."""
    kind = client_kind(init_options, client_name)
    MissingApiKeyError.hint, AuthenticationError.hint = hints(kind)
    return kind
