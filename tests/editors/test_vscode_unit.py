"""The VS Code extension's own unit tests (node --test), run from pytest so
that README's one test command covers them. Needs Node >= 20 and npm; the
real-editor end-to-end test is `bash editors/vscode/scripts/e2e.sh`."""

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "editors" / "vscode" / "scripts" / "unit.sh"

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="npm (Node >= 20) not found")


def test_vscode_extension_unit_tests() -> None:
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=900)
    tail = (out.stdout + out.stderr)[-4000:]
    assert out.returncode == 0, tail
    assert "fail 0" in out.stdout, tail
