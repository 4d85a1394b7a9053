"""`deepseek-ls complete`: what its project is, and what of it may be sent (review of issue 12).

- The file's own project's ``.deepseekignore`` keeps the file itself home, as in an editor
  (the CLI's policy had no folder, so only the built-in list was checked: the file was sent).
- A folder no project marker names (``/tmp``, a home folder: README's own first example) is no
  project: the file's imports are read from its folder, but no project block is built from
  whatever else lies there (it sent other people's files of a shared ``/tmp``).
"""

import subprocess
import sys

import pytest

from deepseek_ls.policy import project_root
from tests.lsp_raw import env_without_deepseek


def run(args, env, timeout=30):
    return subprocess.run([sys.executable, "-m", "deepseek_ls", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def env_for(fake, tmp_path):
    return env_without_deepseek(DEEPSEEK_API_KEY="sk-test", DEEPSEEK_BASE_URL=fake.base_url,
                                DEEPSEEK_LS_DATA_DIR=str(tmp_path / "data"))


@pytest.mark.parametrize("layout", ["root", "nested", "marker-and-root", "glob"])
@pytest.mark.parametrize("flags", [[], ["--no-context"]])
def test_complete_refuses_a_file_its_projects_deepseekignore_excludes(tmp_path, fake, layout, flags):
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    source = project / "app" / "prod_settings.py"
    source.write_text('def db():\n    """PRIVATE_MARKER"""\n    \n', encoding="utf-8")
    if layout == "root":  # the ignore file alone marks the project
        (project / ".deepseekignore").write_text("app/prod_settings.py\n", encoding="utf-8")
    elif layout == "nested":  # in the file's own folder, below the project's marker
        (project / "pyproject.toml").write_text("[project]\nname = 'p'\n", encoding="utf-8")
        (project / "app" / ".deepseekignore").write_text("prod_settings.py\n", encoding="utf-8")
    elif layout == "marker-and-root":
        (project / ".git").mkdir()
        (project / ".deepseekignore").write_text("/app/prod_settings.py\n", encoding="utf-8")
    else:
        (project / "package.json").write_text("{}\n", encoding="utf-8")
        (project / ".deepseekignore").write_text("**/prod_*.py\n", encoding="utf-8")
    out = run(["complete", *flags, f"{source}:3:5"], env_for(fake, tmp_path))
    assert out.returncode == 2, out.stderr
    assert ".deepseekignore" in out.stderr and "never" in out.stderr, out.stderr
    assert fake.fim_requests() == []


def test_complete_through_a_link_to_an_ignored_file_is_refused(tmp_path, fake):
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    (project / ".git").mkdir()
    (project / ".deepseekignore").write_text("app/private.py\n", encoding="utf-8")
    (project / "app" / "private.py").write_text("x = 1\n", encoding="utf-8")
    link = tmp_path / "elsewhere.py"
    link.symlink_to(project / "app" / "private.py")
    out = run(["complete", f"{link}:1:1"], env_for(fake, tmp_path))
    assert out.returncode == 2, out.stderr
    assert fake.fim_requests() == []


def test_complete_in_a_folder_that_is_no_project_reads_its_imports_but_builds_no_project_block(tmp_path, fake):
    folder = tmp_path / "scratch"  # like /tmp or a home folder: no project marker above it
    folder.mkdir()
    if project_root(str(folder)) != str(folder):
        pytest.skip("a project marker sits above the test's temporary folder")
    # somebody else's files in the same folder, importing each other (a project block's material)
    (folder / "theirs_lib.py").write_text('def their_helper(x):\n    """THEIRS_MARKER"""\n    return x\n',
                                          encoding="utf-8")
    (folder / "theirs_app.py").write_text("from theirs_lib import their_helper\n\ntheir_helper(1)\n",
                                          encoding="utf-8")
    # the user's own import of a sibling file still reaches the prompt
    (folder / "mine_lib.py").write_text('def my_helper(n):\n    """MINE_MARKER"""\n    return n\n',
                                        encoding="utf-8")
    source = folder / "fib.py"
    source.write_text("from mine_lib import my_helper\n\ndef fib(n):\n    my_helper(n)\n    \n", encoding="utf-8")
    out = run(["complete", f"{source}:5:5"], env_for(fake, tmp_path))
    assert out.returncode == 0, out.stderr
    prompt = fake.fim_requests()[-1].body["prompt"]
    assert "MINE_MARKER" in prompt
    assert "THEIRS_MARKER" not in prompt and "theirs_lib" not in prompt


def test_complete_in_a_marked_project_still_builds_its_project_block(tmp_path, fake):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "setup.cfg").write_text("[metadata]\nname = p\n", encoding="utf-8")
    (project / "lib.py").write_text('def shared(x):\n    """SHARED_MARKER"""\n    return x\n', encoding="utf-8")
    (project / "a.py").write_text("from lib import shared\n\nshared(1)\n", encoding="utf-8")
    (project / "b.py").write_text("from lib import shared\n\nshared(2)\n", encoding="utf-8")
    source = project / "c.py"
    source.write_text("def f():\n    \n", encoding="utf-8")  # imports nothing: only the project block
    out = run(["complete", f"{source}:2:5"], env_for(fake, tmp_path))
    assert out.returncode == 0, out.stderr
    assert "SHARED_MARKER" in fake.fim_requests()[-1].body["prompt"]
