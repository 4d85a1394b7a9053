"""A workspace opened on a subfolder of a repository keeps the repository's ``.deepseekignore``
(review of issue 12). Only the ignore files between a workspace root and the file counted, so
a monorepo's ``services/app`` opened alone (VS Code on the folder, Neovim finding its
``pyproject.toml``) sent the files the repository's root ``.deepseekignore`` excludes: when
completing in them, and as project context for the files beside them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deepseek_ls.policy import IGNORE_FILE, ExclusionPolicy
from tests.lsp_raw import env_without_deepseek


def _repo(tmp_path: Path, marker: str = ".git") -> tuple[Path, Path]:
    repo = tmp_path / "mono"
    app = repo / "services" / "app"
    app.mkdir(parents=True)
    (repo / marker).mkdir()
    (repo / IGNORE_FILE).write_text("services/app/prod_settings.py\n**/*.dump\n", encoding="utf-8")
    (app / "prod_settings.py").write_text('def db_password():\n    """REPO_SECRET"""\n    return 1\n', encoding="utf-8")
    (app / "main.py").write_text("from prod_settings import db_password\n\ndef f():\n    db_password()\n    \n",
                                 encoding="utf-8")
    return repo, app


@pytest.mark.parametrize("marker", [".git", ".hg", ".svn"])
def test_the_repositorys_ignore_file_applies_to_a_workspace_on_its_subfolder(tmp_path: Path, marker: str) -> None:
    repo, app = _repo(tmp_path, marker)
    policy = ExclusionPolicy(lambda: ())
    policy.set_roots([str(app)])
    why = policy.check((app / "prod_settings.py").as_uri())
    assert why is not None and why.pattern == "services/app/prod_settings.py"
    assert "../../.deepseekignore" in why.source and str(tmp_path) not in why.source
    assert policy.check((app / "data" / "x.dump").as_uri()) is not None  # a glob of the repository's file
    assert policy.check((app / "main.py").as_uri()) is None


def test_an_ignore_file_above_the_repository_is_not_read(tmp_path: Path) -> None:
    (tmp_path / IGNORE_FILE).write_text("*.py\n", encoding="utf-8")  # someone else's folder above
    repo, app = _repo(tmp_path)
    policy = ExclusionPolicy(lambda: ())
    policy.set_roots([str(app)])
    assert policy.check((app / "main.py").as_uri()) is None


def test_without_a_repository_no_ignore_file_above_the_workspace_is_read(tmp_path: Path) -> None:
    (tmp_path / IGNORE_FILE).write_text("*.py\n", encoding="utf-8")
    app = tmp_path / "proj"
    app.mkdir()
    policy = ExclusionPolicy(lambda: ())
    policy.set_roots([str(app)])
    assert policy.check((app / "main.py").as_uri()) is None


def test_an_edit_of_the_repositorys_ignore_file_is_picked_up(tmp_path: Path) -> None:
    now = [0.0]
    repo, app = _repo(tmp_path)
    policy = ExclusionPolicy(lambda: (), clock=lambda: now[0])
    policy.set_roots([str(app)])
    assert policy.check((app / "main.py").as_uri()) is None
    (repo / IGNORE_FILE).write_text("services/app/main.py\n", encoding="utf-8")
    now[0] += 2
    assert policy.check((app / "main.py").as_uri()) is not None
    assert policy.check((app / "prod_settings.py").as_uri()) is None


def test_complete_in_a_subproject_keeps_the_repositorys_exclusions(tmp_path: Path, fake) -> None:
    repo, app = _repo(tmp_path)
    (app / "pyproject.toml").write_text("[project]\nname = 'app'\n", encoding="utf-8")  # the CLI's project root
    env = env_without_deepseek(DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url,
                               DEEPSEEK_LS_DATA_DIR=str(tmp_path / "data"))

    def run(spec: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deepseek_ls", "complete", spec], capture_output=True,
                              text=True, env=env, timeout=60)

    refused = run(f"{app / 'prod_settings.py'}:3:5")
    assert refused.returncode == 2 and ".deepseekignore" in refused.stderr, refused.stderr
    assert fake.fim_requests() == []
    done = run(f"{app / 'main.py'}:5:5")
    assert done.returncode == 0, done.stderr
    assert "REPO_SECRET" not in fake.fim_requests()[-1].body["prompt"]


def test_the_server_on_a_subfolder_keeps_the_repositorys_exclusions(tmp_path: Path, fake) -> None:
    from tests.lsp_raw import RawServer

    repo, app = _repo(tmp_path)
    server = RawServer(env_without_deepseek(DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url,
                                            DEEPSEEK_LS_DATA_DIR=str(tmp_path / "data")))
    try:
        server.request(1, "initialize", {"processId": None, "rootUri": app.as_uri(),
                                         "workspaceFolders": [{"uri": app.as_uri(), "name": "app"}],
                                         "capabilities": {"textDocument": {"inlineCompletion": {}}}})
        server.response(1)
        server.notify("initialized", {})
        for n, (name, line) in enumerate((("main.py", 4), ("prod_settings.py", 2)), start=2):
            uri = (app / name).as_uri()
            server.notify("textDocument/didOpen", {"textDocument": {
                "uri": uri, "languageId": "python", "version": 1, "text": (app / name).read_text(encoding="utf-8")}})
            server.request(n, "textDocument/inlineCompletion", {
                "textDocument": {"uri": uri}, "position": {"line": line, "character": 4},
                "context": {"triggerKind": 1}})
            server.response(n, timeout=30)
        prompts = [r.body["prompt"] for r in fake.fim_requests()]
        assert len(prompts) == 1, "the excluded file itself is never completed"
        assert "REPO_SECRET" not in prompts[0] and "def f():" in prompts[0]
    finally:
        server.close()
