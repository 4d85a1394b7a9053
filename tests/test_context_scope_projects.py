"""Which project a file belongs to, for context and exclusions (fresh review of issue 12).

- A tab from another project (a file outside every workspace folder) or an untitled buffer is
  never context for a file of the workspace (other open files, snippets).
- A file outside every workspace folder honours its own project's ``.deepseekignore`` (the
  nearest folder above it with a project marker), for its own completions too.
- With no workspace folder at all, the open file's project root is where ``.deepseekignore``
  is read: an ignored sibling is never context, an ignored file gets no completion.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import inline_params, open_doc, server_env

BASE = Path(tempfile.mkdtemp(prefix="deepseek-ls-scope-"))
A = BASE / "a"                  # the workspace folder
B = BASE / "b"                  # another project (its own .git and .deepseekignore)
LONE = BASE / "lone"            # no workspace: a folder with a .deepseekignore
FILES = {
    "a/main.py": "def connect_db(url):\n    return make_conn\n",
    "b/.git/HEAD": "ref: refs/heads/main\n",
    "b/.deepseekignore": "conf.py\n",
    "b/conf.py": "OUTSIDE_MARKER = 'b-project-settings'\n",
    "b/tool.py": "def outside_tab_marker():\n    return 1\n",
    "lone/.deepseekignore": "lib.py\nsecret_*.py\n",
    "lone/lib.py": "def alpha_fn(x):\n    return 'lone-sibling-marker'\n",
    "lone/main.py": "from lib import alpha_fn\n\ndef f():\n    return alpha_fn(\n",
    "lone/secret_notes.py": "NOTES = 'lone-ignored-marker'\n",
}
for rel, body in FILES.items():
    (BASE / rel).parent.mkdir(parents=True, exist_ok=True)
    (BASE / rel).write_text(body)

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "deepseek_ls"], server_env=server_env())


async def start(client: LanguageClient, fake, root: Path | None) -> None:
    fake.fim_handler = lambda body: "\u00a7"
    client.feature("deepseek/status")(lambda params: None)
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=root.as_uri() if root else None,
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)] if root else None,
        initialization_options={"deepseek": {"baseUrl": fake.base_url,
                                             "completion": {"debounceMs": 50, "adaptiveDebounce": False}}}))


@pytest_lsp.fixture(config=SERVER)
async def in_a(lsp_client: LanguageClient, fake):
    await start(lsp_client, fake, A)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def no_workspace(lsp_client: LanguageClient, fake):
    await start(lsp_client, fake, None)
    yield
    await lsp_client.shutdown_session()


def all_prompts(fake) -> str:
    return "\n".join(r.body.get("prompt", "") + r.body.get("suffix", "") for r in fake.fim_requests())


async def test_a_tab_from_another_project_or_untitled_is_never_context(in_a: LanguageClient, fake):
    client = in_a
    open_doc(client, (B / "tool.py").read_text(), uri=(B / "tool.py").as_uri())
    open_doc(client, "def scratch():\n    return 'untitled-marker'\n", uri="untitled:Untitled-1")
    main = (A / "main.py").as_uri()
    open_doc(client, (A / "main.py").read_text(), uri=main)
    await client.text_document_inline_completion_async(inline_params(1, 20, True, uri=main))
    prompts = all_prompts(fake)
    assert "# Path: main.py" in prompts, "sanity: the workspace file got its completion"
    assert "outside_tab_marker" not in prompts and "untitled-marker" not in prompts


async def test_a_file_outside_the_workspace_honours_its_own_projects_ignore_file(in_a: LanguageClient, fake):
    client = in_a
    conf = (B / "conf.py").as_uri()
    open_doc(client, (B / "conf.py").read_text(), uri=conf)
    await client.text_document_inline_completion_async(inline_params(0, 10, True, uri=conf))
    tool = (B / "tool.py").as_uri()
    open_doc(client, (B / "tool.py").read_text(), uri=tool)
    await client.text_document_inline_completion_async(inline_params(1, 12, True, uri=tool))
    prompts = all_prompts(fake)
    assert "b-project-settings" not in prompts, "b/.deepseekignore lists conf.py: nothing of it is sent"
    assert "outside_tab_marker" in prompts, "a file of b that is not ignored still gets completions"


@pytest.mark.parametrize("opened", ["main", "ignored"])
async def test_without_a_workspace_the_files_own_deepseekignore_applies(no_workspace: LanguageClient, fake,
                                                                       opened: str):
    client = no_workspace
    if opened == "ignored":  # the ignored file itself: no completion, nothing sent
        uri = (LONE / "secret_notes.py").as_uri()
        open_doc(client, (LONE / "secret_notes.py").read_text(), uri=uri)
        await client.text_document_inline_completion_async(inline_params(0, 5, True, uri=uri))
        assert "lone-ignored-marker" not in all_prompts(fake)
        return
    main = (LONE / "main.py").as_uri()
    open_doc(client, (LONE / "lib.py").read_text(), uri=(LONE / "lib.py").as_uri())  # an ignored tab too
    open_doc(client, (LONE / "main.py").read_text(), uri=main)
    await client.text_document_inline_completion_async(inline_params(3, 20, True, uri=main))
    prompts = all_prompts(fake)
    assert "# Path: main.py" in prompts or "main.py" in prompts, "sanity: main.py got its completion"
    assert "lone-sibling-marker" not in prompts, "lone/.deepseekignore lists lib.py: never context"
