"""End to end: each member of each hole in the secret guard, through the LSP.

The server runs as a subprocess on a real workspace folder (symlinks, nested
``.deepseekignore``); the fake DeepSeek records every request and each test
checks that none of them holds the secret bytes (raw body and decoded JSON).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import inline_params, open_doc, server_env
from tests.test_policy_guard import BOUNDARY, FORMS, GH, SK

WORKSPACE = Path(tempfile.mkdtemp(prefix="deepseek-ls-test-guard-"))
ROOT = WORKSPACE.as_uri()
FILE_SECRET = "Zq8Wx7Ec6Rv5Tb4Yn3Um2Ik1Ol0P"
(WORKSPACE / ".env").write_text(f"API_TOKEN={FILE_SECRET}\n")
(WORKSPACE / "link").mkdir()
os.symlink(WORKSPACE / ".env", WORKSPACE / "link" / "settings.txt")
(WORKSPACE / "svc").mkdir()
(WORKSPACE / "svc" / ".deepseekignore").write_text("internal/\n*.plan\n")
CACHE = Path(tempfile.mkdtemp(prefix="deepseek-ls-test-cache-"))
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "deepseek_ls"],
                            server_env={**server_env(), "XDG_CACHE_HOME": str(CACHE)})
MAIN = f"{ROOT}/pkg/main.py"
TAIL = "\ndef add(a, b):\n    \n"


def sent(fake) -> str:
    """Everything the fake received, raw and decoded."""
    return "\n".join(r.raw_body.decode("utf-8", "replace") + json.dumps(r.body, ensure_ascii=False)
                     for r in fake.requests)


@pytest.fixture
def fake():
    from tests.fake_deepseek import FakeDeepSeek
    with FakeDeepSeek() as f:
        f.fim_handler = lambda body: "return a + b"
        yield f


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, fake):
    lsp_client.feature("deepseek/status")(lambda params: None)
    lsp_client.feature("deepseek/chatStream")(lambda params: None)
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT,
        workspace_folders=[types.WorkspaceFolder(uri=ROOT, name="ws")],
        initialization_options={"deepseek": {
            "baseUrl": fake.base_url, "chat": {"transcripts": False},
            "completion": {"debounceMs": 50, "adaptiveDebounce": False}}}))
    yield
    await lsp_client.shutdown_session()


async def complete(client: LanguageClient, text: str, uri: str = MAIN) -> None:
    open_doc(client, text, uri=uri)
    lines = text.split("\n")
    await client.text_document_inline_completion_async(
        inline_params(len(lines) - 1, len(lines[-1]), True, uri=uri))


# -- 1 and 6: masking, one test per member ---------------------------------------------------
@pytest.mark.parametrize("name", sorted(BOUNDARY))
async def test_a_token_after_an_escape_never_reaches_the_api(client, fake, name):
    text, secret = BOUNDARY[name]
    await complete(client, text + "\n" + TAIL)
    assert fake.fim_requests() and secret not in sent(fake)


@pytest.mark.parametrize("name", sorted(FORMS))
async def test_an_assignment_form_never_reaches_the_api(client, fake, name):
    text, secret = FORMS[name]
    await complete(client, text + "\n" + TAIL)
    assert fake.fim_requests() and secret not in sent(fake)


async def test_chat_masks_every_form_and_boundary(client, fake):
    body = "\n".join(t for t, _ in [*BOUNDARY.values(), *FORMS.values()])
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="deepseek.chat", arguments=[{"message": f"what is wrong here?\n{body}"}]))
    assert fake.chat_requests()
    everything = sent(fake)
    for _, secret in [*BOUNDARY.values(), *FORMS.values()]:
        assert secret not in everything, secret


# -- 4 and 5: cut windows and a token being typed ---------------------------------------------
async def test_a_token_cut_by_the_suffix_window_never_reaches_the_api(client, fake):
    text = "x = 1\n" + "print('" + "a" * 270 + " " + GH + "')\n"
    open_doc(client, text, uri=MAIN)
    await client.text_document_inline_completion_async(inline_params(0, 5, True, uri=MAIN))
    assert fake.fim_requests() and GH[:12] not in sent(fake)


@pytest.mark.parametrize("token", [GH, SK])
async def test_a_token_being_typed_never_reaches_the_api_whole(client, fake, token):
    from tests.conftest import change
    open_doc(client, "KEY = ''\n", uri=MAIN)
    for n, ch in enumerate(token):
        change(client, n + 2, 0, 7 + n, ch, uri=MAIN)
        if n % 4 == 3 or n == len(token) - 1:
            await client.text_document_inline_completion_async(inline_params(0, 8 + n, True, uri=MAIN))
    assert len(fake.fim_requests()) >= 5
    everything = sent(fake)
    assert token[:len(token) // 2] not in everything and token[:24] not in everything


# -- 2, 3, 7, 9: excluded files, as the file completed and as context --------------------------
EXCLUDED = {
    ".ENV": f"TOKEN={FILE_SECRET}\n",
    ".Env": f"TOKEN={FILE_SECRET}\n",
    "certs/Server.PEM": f"{FILE_SECRET}\n",
    "ID_RSA": f"{FILE_SECRET}\n",
    "Secrets.yaml": f"key: {FILE_SECRET}\n",
    ".AWS/Credentials": f"[default]\nkey={FILE_SECRET}\n",
    "link/settings.txt": f"API_TOKEN={FILE_SECRET}\n",  # a symlink to .env
    ".env~": f"TOKEN={FILE_SECRET}\n",
    ".env ": f"TOKEN={FILE_SECRET}\n",
    ".npmrc.bak": f"_auth={FILE_SECRET}\n",
    "deploy/secrets.yml.bak": f"k: {FILE_SECRET}\n",
    "gcp/prod-sa-key.json": f'{{"k": "{FILE_SECRET}"}}\n',
    ".config/gh/hosts.yml": f"oauth_token: {FILE_SECRET}\n",
    ".git/config": f"url = https://me:{FILE_SECRET}@github.com/x\n",
    "svc/internal/plan.py": f"PLAN = '{FILE_SECRET}'\n",  # nested .deepseekignore
    "svc/deep/q3.plan": f"{FILE_SECRET}\n",
}


def uri_of(rel: str) -> str:
    return f"{ROOT}/{rel.replace(' ', '%20')}"


@pytest.mark.parametrize("rel", sorted(EXCLUDED))
async def test_an_excluded_file_is_never_sent(client, fake, rel):
    uri = uri_of(rel)
    # as the file completed (opened as python, so it is a same-language neighbour too)
    await complete(client, EXCLUDED[rel] + TAIL, uri=uri)
    assert fake.fim_requests() == []
    # as context for another python file
    await complete(client, "import os\n" + TAIL)
    assert fake.fim_requests() and FILE_SECRET not in sent(fake)


async def test_vscode_user_settings_are_never_sent(client, fake):
    uri = "vscode-userdata:/home/me/.config/Code/User/settings.json"
    await complete(client, f'{{"github.token": "{FILE_SECRET}"}}\n', uri=uri)
    assert fake.fim_requests() == []
    await complete(client, "import os\n" + TAIL)
    assert fake.fim_requests() and FILE_SECRET not in sent(fake)
