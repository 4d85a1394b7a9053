"""What a user of *this* client can do about a missing or rejected API key.

The server talks to exactly one client per process, so the hints of
:class:`~deepseek_ls.api.errors.MissingApiKeyError` and
:class:`~deepseek_ls.api.errors.AuthenticationError` are set once, at
``initialize``, from what the client says about itself: the editor plugins
send ``initializationOptions.deepseekClient`` (``"vscode"`` / ``"nvim"``);
other clients are recognised by ``clientInfo.name``. Free of LSP types.
"""

from __future__ import annotations

from typing import Any, Literal

from .api.errors import (
    APIConnectionError,
    AuthenticationError,
    InvalidApiKeyError,
    MissingApiKeyError,
    NotFoundError,
)

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
#: who is on the other end: a plugin (``vscode``, ``nvim``), Neovim without the plugin, or anyone else
ClientKind = Literal["vscode", "nvim", "neovim", "generic"]

_GENERIC_MISSING = MissingApiKeyError.hint
_GENERIC_REJECTED = AuthenticationError.hint


def client_kind(init_options: Any, client_name: str | None) -> ClientKind:
    """``"vscode"``, ``"nvim"`` (the plugins), ``"neovim"`` (Neovim without the plugin) or ``"generic"``."""
    if isinstance(init_options, dict):
        declared = init_options.get("deepseekClient")
        if declared == "vscode":
            return "vscode"
        if declared == "nvim":
            return "nvim"
    name = (client_name or "").strip().lower()
    if name == "neovim" or name == "nvim":
        return "neovim"
    return "generic"


def hints(kind: str) -> tuple[str, str]:
    """(missing-key hint, rejected-key hint) for a client kind."""
    where = _WHERE.get(kind, _WHERE["generic"])
    return (f"{where} Create a key at {KEY_PAGE}.", f"The API key was rejected. {where}")


#: the client of this process and where its plugin took a value from (``{"apiKey": "setup"}``)
_client: dict[str, Any] = {"kind": "generic", "sources": {}}
_ENDPOINT_HINTS = (APIConnectionError.hint, NotFoundError.hint)


def apply(init_options: Any, client_name: str | None) -> ClientKind:
    """Set this process's key hints for the client; returns the client kind.

    The plugins also send ``initializationOptions.deepseekSources``, where
    they took a value they pass on as an environment variable:
    ``{"apiKey": "setup" | "secret", "baseUrl": "setup"}`` (Neovim's
    ``setup({ api_key, base_url })``, VS Code's secret storage), so that a
    message names what this user set (:func:`setting_name`).
    """
    kind = client_kind(init_options, client_name)
    sources = init_options.get("deepseekSources") if isinstance(init_options, dict) else None
    _client["kind"] = kind
    _client["sources"] = {k: v for k, v in sources.items() if isinstance(v, str)} \
        if isinstance(sources, dict) else {}
    MissingApiKeyError.hint, AuthenticationError.hint = hints(kind)
    InvalidApiKeyError.hint = (f"Paste only the key itself (it starts with sk- and has no spaces or other "
                               f"characters) into {setting_name('apiKey', 'env')}.")
    return kind


def setting_name(key: str, layer: str) -> str:
    """How to name setting ``key`` (``"apiKey"``, ``"completion.model"``) that came from settings
    ``layer`` (``"env"``, ``"init"``, ``"didChange"``, ``"pull"``, ``"toggle"``, ``""`` = the default)
    to this client's user: what they actually set, in their words.

    >>> setting_name("baseUrl", "env")   # a plain server, or a plugin that passed the shell's variable
    'DEEPSEEK_BASE_URL'
    """
    from .settings import ENV_NAMES, SECTION

    kind, sources = _client["kind"], _client["sources"]
    if layer == "env":
        env = ENV_NAMES.get(key, f"{SECTION}.{key}")
        if kind == "nvim" and sources.get(key) == "setup":
            option = {"apiKey": "api_key", "baseUrl": "base_url"}.get(key, key)
            return f"{option} (given to require('deepseek_ls').setup())"
        if kind == "vscode" and key == "apiKey" and sources.get(key) == "secret":
            return 'the API key stored with "DeepSeek: Set API Key"'
        return env
    if not layer:
        return f"the default {SECTION}.{key}"
    if kind == "nvim":
        return f"settings.{SECTION}.{key} (in require('deepseek_ls').setup())"
    return f"{SECTION}.{key}"


def note_endpoint(layer: str) -> None:
    """The endpoint now comes from ``layer``: name it so in the network and wrong-path hints."""
    if not layer:
        APIConnectionError.hint = ("Check your network connection (the endpoint is DeepSeek's default, "
                                   "https://api.deepseek.com).")
        NotFoundError.hint = _ENDPOINT_HINTS[1]
        return
    name = setting_name("baseUrl", layer)
    APIConnectionError.hint = f"Check your network connection and the endpoint you set in {name}."
    NotFoundError.hint = (f"Check the endpoint you set in {name}: it should be the API root "
                          "(e.g. https://api.deepseek.com), not an endpoint path.")
