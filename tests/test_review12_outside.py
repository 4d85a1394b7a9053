"""Review of issue 12: what the resolver reads from outside the workspace or through symlinks.

The workspace folder is itself a Python package (it has an ``__init__.py``), as many
repositories are. Its parent folder holds files that are not part of the workspace.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import inline_params, open_doc, server_env

SECRET = "Zq8Wx7Ec6Rv5Tb4Yn3Um2Ik1Ol0P"
PARENT = Path(tempfile.mkdtemp(prefix="deepseek-ls-review12-out-"))
WORKSPACE = PARENT / "proj"
ROOT = WORKSPACE.as_uri()
FILES = {
    # outside the workspace (its parent folder): never the user's project
    "notes_outside.py": f"def private_notes():\n    return 'call bob, door code {SECRET}'\n",
    "proj/__init__.py": "",
    "proj/sub/__init__.py": "",
    "proj/.deepseekignore": "private/\n",
    "proj/private/keys.py": f"def signing_key():\n    return '{SECRET}'\n",
    "proj/.env": f"DB_PASSWORD_VALUE = '{SECRET}'\n",
}
for rel, body in FILES.items():
    (PARENT / rel).parent.mkdir(parents=True, exist_ok=True)
    (PARENT / rel).write_text(body)
# symlinks inside the workspace to what is excluded
os.symlink("../.env", WORKSPACE / "sub" / "settings_link.py")
os.symlink("../private", WORKSPACE / "sub" / "linked_private")

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "deepseek_ls"], server_env=server_env())


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, fake):
    fake.fim_handler = lambda body: "\u00a7"
    lsp_client.feature("deepseek/status")(lambda params: None)
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT,
        workspace_folders=[types.WorkspaceFolder(uri=ROOT, name="proj")],
        initialization_options={"deepseek": {"baseUrl": fake.base_url,
                                             "completion": {"debounceMs": 50, "adaptiveDebounce": False}}}))
    yield
    await lsp_client.shutdown_session()


async def prompt_of(client: LanguageClient, fake, text: str, line: int) -> str:
    uri = f"{ROOT}/sub/app.py"
    open_doc(client, text, uri=uri)
    await client.text_document_inline_completion_async(inline_params(line, 4, True, uri=uri))
    return fake.fim_requests()[-1].body["prompt"]


async def test_absolute_import_is_not_read_from_the_workspaces_parent(client: LanguageClient, fake):
    """`from notes_outside import private_notes` resolves to ../notes_outside.py, a file
    outside the workspace (the folder above the workspace's top package is a root)."""
    prompt = await prompt_of(client, fake, "from notes_outside import private_notes\n\n"
                                           "def f():\n    x = private_notes()\n    \n", 4)
    assert "def private_notes():" not in prompt, "a file outside the workspace was sent as context"


async def test_relative_import_above_the_workspace_is_not_read(client: LanguageClient, fake):
    prompt = await prompt_of(client, fake, "from ...notes_outside import private_notes\n\n"
                                           "def f():\n    x = private_notes()\n    \n", 4)
    assert "def private_notes():" not in prompt, "a relative import above the workspace was read"


async def test_symlink_to_env_file_is_never_context(client: LanguageClient, fake):
    prompt = await prompt_of(client, fake, "from .settings_link import DB_PASSWORD_VALUE\n\n"
                                           "def f():\n    x = DB_PASSWORD_VALUE\n    \n", 4)
    assert "DB_PASSWORD_VALUE =" not in prompt and SECRET not in prompt


async def test_symlinked_folder_into_ignored_dir_is_never_context(client: LanguageClient, fake):
    prompt = await prompt_of(client, fake, "from .linked_private.keys import signing_key\n\n"
                                           "def f():\n    x = signing_key()\n    \n", 4)
    assert "def signing_key():" not in prompt and SECRET not in prompt
