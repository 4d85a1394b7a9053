"""What may leave the machine: excluded files and masked secrets (no LSP here).

Two guards stand between the editor's text and the API:

* **Exclusions**: files people keep secrets in (``.env``, private keys, key
  stores, cloud and tool credential files, ...) are never sent: no ghost
  text, no code action, no chat about them, and they are never context for
  another file. :data:`DEFAULT_EXCLUDE` is the built-in list (gitignore
  syntax); the user adds globs with the setting ``deepseek.exclude`` (where
  ``!pattern`` may also re-include a file the defaults exclude), and a
  workspace adds its own with a ``.deepseekignore`` file at its root
  (gitignore syntax; it can only add exclusions, never lift the defaults or
  the user's). :class:`ExclusionPolicy` answers "is this URI excluded, and
  why".
* **Masking**: in every text that is sent (FIM prompt and suffix, chat and
  code-action messages), secret-looking tokens (private key blocks and
  well-known high-confidence token formats, plus quoted values assigned to
  names like ``password`` or ``api_key``) are replaced by a placeholder
  ``<REDACTED:kind:xxxxxx>``. The same secret gives the same placeholder in
  one server process (an HMAC with a per-process key, so the placeholder
  says nothing about the secret), so prompts stay byte-identical between
  keystrokes and DeepSeek's prompt cache keeps working. :class:`Masker`
  masks, and restores placeholders in an answer that is applied to the
  user's file (code actions), so an edit never writes a placeholder over a
  real secret.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import math
import os
import re
import secrets as _secrets
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from cachetools import LRUCache, TTLCache

from .lazy import LazyModule
from .prompt.fim import FimPrompt

if TYPE_CHECKING:
    import pathspec
    from pathspec import GitIgnoreSpec
else:
    pathspec = LazyModule("pathspec")  # imported at the first check, not at start-up

log = logging.getLogger(__name__)

#: Name of the per-workspace exclusion file (gitignore syntax), read at each workspace folder's root.
IGNORE_FILE = ".deepseekignore"

#: The built-in exclusion list, in gitignore syntax (a pattern without ``/``
#: matches a file name in any folder). Lines starting with ``!`` re-include.
DEFAULT_EXCLUDE: tuple[str, ...] = (
    # environment files (templates meant to be committed stay in: they hold no secrets)
    ".env", ".env.*", "*.env", ".envrc",
    "!.env.example", "!.env.sample", "!.env.template", "!.env.dist", "!.env.defaults",
    "!*.env.example", "!*.env.sample", "!*.env.template",
    # private keys, certificates, key stores
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "!id_*.pub", "ssh_host_*_key",
    "*.pem", "*.key", "*.p8", "*.p12", "*.pfx", "*.pkcs12", "*.ppk", "*.der", "*.crt", "*.cer",
    "*.csr", "*.p7b", "*.jks", "*.keystore", "*.truststore", "*.bks", "*.kdbx", "*.keychain",
    "*.keychain-db", "*.gpg", "*.pgp", "secring.*", "*.ovpn",
    # credential files of common tools
    ".netrc", "_netrc", ".pgpass", ".my.cnf", ".git-credentials", ".npmrc", ".pypirc",
    ".dockercfg", "**/.docker/config.json", "**/.gem/credentials", ".htpasswd", "htpasswd",
    "*.htpasswd", "**/.ssh/*", "!**/.ssh/*.pub", "!**/.ssh/known_hosts*", "!**/.ssh/config",
    ".vault-token", "**/.vault-token", "vault.yml", "vault.yaml", "*.vault", "*.vault.yml",
    "*.vault.yaml", "master.key", "credentials.yml.enc", "*.tfvars", "*.tfvars.json",
    "*.tfstate", "*.tfstate.*", ".terraformrc", "terraform.rc",
    # cloud providers
    "**/.aws/credentials", "**/.aws/sso/cache/*", "**/.aws/cli/cache/*",
    "application_default_credentials.json", "**/.config/gcloud/**", "*service-account*.json",
    "*service_account*.json", "**/.azure/**", "**/.kube/config", "kubeconfig", "*.kubeconfig",
    # secret stores by name
    "secrets.yaml", "secrets.yml", "secrets.json", "secrets.toml", "secrets.env",
    "secret.yaml", "secret.yml", "secret.json", "credentials.json", "credentials.yaml",
    "credentials.yml", "credentials.xml", "*.secret", "*.secrets", "auth.json", ".s3cfg", ".boto",
    # shell and database histories (commands typed with passwords and tokens)
    ".*history",
    # more tool and cloud credential files: service-account keys by their usual names,
    # the GitHub CLI's token file, and git's own config (remote URLs may carry user:token@)
    "*-sa-key.json", "*_sa_key.json", "*-sa.json", "**/.config/gh/hosts.yml", "**/.git/config",
)

#: URI schemes whose documents are never sent: VS Code's user data (its user
#: ``settings.json`` holds tokens of extensions, e.g. ``github.token``).
EXCLUDED_SCHEMES: frozenset[str] = frozenset({"vscode-userdata"})

#: Suffixes editors and people give copies of a file (backups, swap files);
#: a copy of a secret file is as secret as the file (``.npmrc.bak``, ``.env~``).
BACKUP_SUFFIXES: tuple[str, ...] = ("~", ".bak", ".backup", ".orig", ".old", ".save", ".swp", ".swo",
                                    ".tmp", ".copy", ".prev")
#: Seconds a decision for a URI is reused before the symlink target and nested ignore files are checked again.
DECISION_TTL = 2.0

PLACEHOLDER_PREFIX = "<REDACTED:"
#: Characters each side of a seam between parts checked for a secret across it.
_SEAM = 600
_PLACEHOLDER = re.compile(r"<REDACTED:[a-z0-9-]+:[0-9a-f]{6}>")


# ---------------------------------------------------------------------------
# exclusions
# ---------------------------------------------------------------------------
def _valid_lines(lines: Iterable[str], where: str) -> list[str]:
    """The lines that are valid gitignore patterns; each invalid one is logged and skipped."""
    out = []
    for line in lines:
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except (ValueError, re.error):  # pathspec's GitIgnorePatternError, or a bad character class
            log.warning("%s: %r is not a valid gitignore pattern; ignored", where, line)
            continue
        out.append(line)
    return out


def uri_path(uri: str) -> str | None:
    """The file path a document URI names (``/``-separated, unquoted), or None.

    ``file:`` and other hierarchical schemes (``vscode-remote:``, ``git:``,
    ``vscode-vfs:`` ...) give their path; ``untitled:`` and URIs without a
    path give None (nothing to match: such a document is not excluded, its
    text is still masked).
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    if parts.scheme in ("untitled", "") and not parts.path.startswith("/"):
        return None
    path = unquote(parts.path).replace("\\", "/")
    if not path or path == "/":
        return None
    if re.match(r"^/[A-Za-z]:/", path):  # file:///c:/Users/... on Windows
        path = path[1:]
    return path


@dataclass(frozen=True)
class Exclusion:
    """Why a document is excluded: the pattern and where it comes from."""

    pattern: str
    source: str  # "default" | "setting deepseek.exclude" | "<root>/.deepseekignore"

    def message(self, name: str) -> str:
        """One sentence for the user (status and refusals)."""
        return (f"{name} is excluded (pattern `{self.pattern}` from the {self.source}): "
                "DeepSeek never sees this file.")


class _IgnoreFile:
    """One folder's ``.deepseekignore`` (patterns relative to that folder), re-read when it changes.

    Patterns are matched case-insensitively (both sides lower-cased): file
    systems on Windows and macOS are, and a secret file named ``.ENV`` is as
    secret as ``.env``.
    """

    def __init__(self, root: str, clock: Callable[[], float]) -> None:
        self.root = root
        self.path = os.path.join(root, IGNORE_FILE)
        self.clock = clock
        self.lines: list[str] = []
        self.spec = pathspec.GitIgnoreSpec.from_lines([])
        self._stamp: tuple[float, int] | None = None
        self._checked = -1e9

    def refresh(self) -> bool:
        """Re-read the file when its mtime or size changed (checked at most once a second)."""
        now = self.clock()
        if now - self._checked < 1.0:
            return False
        self._checked = now
        try:
            st = os.stat(self.path)
            stamp: tuple[float, int] | None = (st.st_mtime, st.st_size)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return False
        lines: list[str] = []
        if stamp is not None and not stat.S_ISREG(st.st_mode):
            # a FIFO (or a device) by that name: reading it would block forever, and the
            # policy is asked on the event loop (the whole server hung on a didOpen)
            log.warning("%s is not a regular file; it is ignored", self.path)
        elif stamp is not None:
            try:
                with open(self.path, encoding="utf-8", errors="replace") as fh:
                    lines = [line.rstrip("\r\n") for line in fh]
            except OSError:
                lines = []
        valid = _valid_lines(lines, self.path)
        self.spec = _spec(valid)  # first: a failure here (pathspec broken) leaves no half state
        self.lines, self._stamp = valid, stamp
        return True


_RootIgnore = _IgnoreFile  # the name before nested ignore files were read


def _spec(lines: Sequence[str]) -> GitIgnoreSpec:
    """A case-insensitive spec: patterns lower-cased (paths are lower-cased when checked)."""
    return pathspec.GitIgnoreSpec.from_lines([line.lower() for line in lines])


def _backup_stems(name: str) -> list[str]:
    """The names ``name`` may be a copy of: without trailing blanks and dots, backup
    suffixes (``.bak``, ``~`` ...) and a swap file's leading dot (``.secrets.yml.swp``)."""
    out: list[str] = []
    current = name
    for _ in range(4):
        stripped = current.rstrip(" .") if current.rstrip(" .") else current
        for suffix in BACKUP_SUFFIXES:
            if stripped.endswith(suffix) and len(stripped) > len(suffix):
                was_swap = suffix in (".swp", ".swo")
                stripped = stripped[: -len(suffix)]
                if was_swap and stripped.startswith(".") and len(stripped) > 1:
                    out.append(stripped)
                    stripped = stripped[1:]
                break
        if stripped == current:
            break
        out.append(stripped)
        current = stripped
    return out


class ExclusionPolicy:
    """Decides which documents are never sent.

    ``user_globs`` gives the current ``deepseek.exclude`` (read on each
    call: settings may change); ``roots`` are the workspace folders
    (filesystem paths). Matching is case-insensitive. A ``.deepseekignore``
    in any folder between a workspace root and the file counts (patterns
    relative to its folder; it can only add exclusions), and so do those of
    the folders above a root up to its repository's root (a root that is a
    subfolder of a ``.git``/``.hg``/``.svn`` checkout). A ``file:`` URI is
    checked under its own path and under the path its symlinks resolve to.
    :meth:`check` is cheap: a decision is reused for :data:`DECISION_TTL`
    seconds (and until a setting or an ignore file changes).
    """

    def __init__(self, user_globs: Callable[[], Sequence[str]] = tuple,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._user_globs = user_globs
        self._clock = clock
        self._roots: list[_IgnoreFile] = []
        #: root -> the ignore files of the folders above it up to its repository's root (a
        #: workspace opened on a subfolder of a repository keeps the repository's exclusions)
        self._above: dict[str, list[_IgnoreFile]] = {}
        self._nested: LRUCache[str, _IgnoreFile] = LRUCache(maxsize=512)
        self._globs: tuple[str, ...] | None = None
        #: the defaults and deepseek.exclude, compiled by the first check (_refresh)
        self._base: GitIgnoreSpec
        self._base_lines: list[str] = list(DEFAULT_EXCLUDE)
        self._cache: LRUCache[str, tuple[Exclusion | None, float]] = LRUCache(maxsize=1024)

    def set_roots(self, roots: Iterable[str]) -> None:
        """The workspace folders (filesystem paths); longest first, so nested folders win."""
        wanted = sorted({os.path.normpath(r).replace("\\", "/") for r in roots if r}, key=len, reverse=True)
        if [r.root for r in self._roots] != wanted:
            self._roots = [_IgnoreFile(r, self._clock) for r in wanted]
            self._above = {r: [_IgnoreFile(a, self._clock) for a in _folders_up_to_repository(r)] for r in wanted}
            self._nested.clear()
            self._cache.clear()

    def _refresh(self) -> None:
        globs = tuple(g.strip() for g in self._user_globs() if isinstance(g, str) and g.strip())
        if globs != self._globs:
            lines = [*DEFAULT_EXCLUDE, *_valid_lines(globs, "deepseek.exclude")]
            self._base = _spec(lines)  # first: a failure here (pathspec broken) leaves no half state
            self._base_lines = lines
            self._globs = globs
            self._cache.clear()
        if any([r.refresh() for r in self._roots] + [a.refresh() for above in self._above.values() for a in above]):
            self._cache.clear()

    def _relative(self, path: str) -> tuple[_IgnoreFile | None, str]:
        low = path.lower()
        for root in self._roots:
            prefix = root.root.rstrip("/") + "/"
            if low.startswith(prefix.lower()):
                return root, path[len(prefix):]
        return None, path.lstrip("/")

    def check(self, uri: str) -> Exclusion | None:
        """Why ``uri`` is excluded, or None when it may be sent."""
        self._refresh()
        now = self._clock()
        hit = self._cache.get(uri)
        if hit is not None and now - hit[1] < DECISION_TTL:
            return hit[0]
        result = self._decide(uri)
        self._cache[uri] = (result, now)
        return result

    def _decide(self, uri: str) -> Exclusion | None:
        scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
        if scheme in EXCLUDED_SCHEMES:
            return Exclusion(f"{scheme}:", "default list (the editor's user data)")
        path = uri_path(uri)
        if path is None:
            return None
        why = self._decide_path(path)
        if why is None and scheme == "file":
            real = _realpath(path)
            if real is not None and real != path:
                why = self._decide_path(real)
                if why is not None:
                    why = dataclasses.replace(why, source=f"{why.source}, via a link to {real}")
        return why

    def _decide_path(self, path: str) -> Exclusion | None:
        root, rel = self._relative(path)
        if not rel:
            return None
        folder, _, name = rel.rpartition("/")
        candidates = [rel, *((f"{folder}/{stem}" if folder else stem) for stem in _backup_stems(name))]
        for candidate in candidates:
            why = self._decide_rel(root, candidate)
            if why is not None:
                if candidate != rel:
                    why = dataclasses.replace(why, source=f"{why.source}, as a copy of {candidate.rpartition('/')[2]}")
                return why
        return None

    def _decide_rel(self, root: _IgnoreFile | None, rel: str) -> Exclusion | None:
        low = rel.lower()
        hit = self._base.check_file(low)
        if hit.include and hit.index is not None:
            n_default = len(DEFAULT_EXCLUDE)
            source = "default list" if hit.index < n_default else "setting deepseek.exclude"
            return Exclusion(self._base_lines[hit.index], source)
        if root is None:
            return None
        hit = root.spec.check_file(low)
        if hit.include and hit.index is not None:
            return Exclusion(root.lines[hit.index].strip(), f"workspace file {IGNORE_FILE}")
        for above in self._above.get(root.root, ()):
            if not above.lines:
                continue
            below = os.path.relpath(root.root, above.root).replace(os.sep, "/")
            hit = above.spec.check_file(f"{below}/{rel}".lower())
            if hit.include and hit.index is not None:
                where = os.path.relpath(above.path, root.root).replace(os.sep, "/")
                return Exclusion(above.lines[hit.index].strip(), f"repository file {where}")
        # nested .deepseekignore files, from the root's subfolders down to the file's folder
        parts = rel.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            ignore = self._ignore_file(f"{root.root.rstrip('/')}/{sub}")
            if not ignore.lines:
                continue
            hit = ignore.spec.check_file("/".join([*parts[depth:], rel.rsplit('/', 1)[-1]]).lower())
            if hit.include and hit.index is not None:
                return Exclusion(ignore.lines[hit.index].strip(), f"workspace file {sub}/{IGNORE_FILE}")
        return None

    def _ignore_file(self, folder: str) -> _IgnoreFile:
        ignore = self._nested.get(folder)
        if ignore is None:
            ignore = self._nested[folder] = _IgnoreFile(folder, self._clock)
        ignore.refresh()
        return ignore


#: files or folders that mark a project's root (a file outside every workspace folder is taken
#: to belong to the nearest folder above it holding one)
PROJECT_MARKERS = (".git", ".hg", ".svn", IGNORE_FILE, "pyproject.toml", "setup.py", "setup.cfg",
                   "package.json", "tsconfig.json", "go.mod", "go.work", "Cargo.toml")
#: folder -> the root of its project ("" for none), see :func:`find_project_root`
_project_roots: TTLCache[str, str] = TTLCache(maxsize=1024, ttl=30.0)


def _nearest_holding(folder: str, markers: tuple[str, ...], limit: int) -> str | None:
    """The nearest folder at or above ``folder`` (``limit`` folders looked at, at most) holding
    one of ``markers``; None when none does or the filesystem cannot be asked."""
    at = folder
    for _ in range(limit):
        try:
            if any(os.path.exists(os.path.join(at, marker)) for marker in markers):
                return at
        except (OSError, ValueError):
            return None
        parent = os.path.dirname(at)
        if parent == at:
            return None
        at = parent
    return None


def find_project_root(folder: str) -> str | None:
    """The nearest folder at or above ``folder`` holding one of :data:`PROJECT_MARKERS`, or None
    (a filesystem path; cached 30 s)."""
    folder = os.path.normpath(folder)
    hit = _project_roots.get(folder)
    if hit is None:
        hit = _project_roots[folder] = _nearest_holding(folder, PROJECT_MARKERS, 64) or ""
    return hit or None


def project_root(folder: str) -> str:
    """The root of the project ``folder`` lies in: :func:`find_project_root`, else ``folder``
    itself (a filesystem path).

    Used for files outside every workspace folder (or with no workspace at all), so their own
    project's ``.deepseekignore`` applies to them."""
    return find_project_root(folder) or os.path.normpath(folder)


#: folders that mark a repository's root (see :func:`_folders_up_to_repository`)
VCS_MARKERS = (".git", ".hg", ".svn")


def _folders_up_to_repository(root: str) -> list[str]:
    """The folders above ``root`` up to the root of the repository it lies in (the nearest one
    holding a :data:`VCS_MARKERS` entry), nearest first; empty when ``root`` is itself a
    repository's root or lies in none (no ignore file of an unrelated folder above is read)."""
    repository = _nearest_holding(root, VCS_MARKERS, 1 + 64)  # root and 64 folders above it
    out: list[str] = []
    at = root
    while repository is not None and at != repository:
        at = os.path.dirname(at)
        out.append(at)
    return out


def _realpath(path: str) -> str | None:
    """``path`` with its symlinks resolved (``/``-separated), or None when that fails."""
    try:
        return os.path.realpath(path).replace("\\", "/")
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------
# masking
# ---------------------------------------------------------------------------
#: Well-known token formats: (kind, pattern). Each pattern starts with a
#: literal (so the regex engine can skip to it, and a plain substring test
#: skips the pattern when the literal is absent: this is the hot path of
#: every keystroke); the secret is the group ``secret`` if the pattern has
#: one, else the whole match. A match must not follow
#: a letter, digit or ``_`` (checked in code: a leading ``\b`` would cost
#: the engine its literal search).
_TOKEN_PATTERNS: tuple[tuple[str, str], ...] = (
    # Minimum lengths are those of a recognisable *start* of a token:
    # a token being typed, or cut by a prompt window, is masked before it is whole.
    *(("aws-access-key", rf"{p}[A-Z0-9]{{8,16}}(?![A-Za-z0-9])") for p in ("AKIA", "ASIA", "ABIA", "ACCA")),
    *(("aws-access-key", rf"{p}(?=[a-z]*[0-9])[a-z0-9]{{16}}(?![A-Za-z0-9])") for p in ("akia", "asia")),
    *(("github-token", rf"{p}_[A-Za-z0-9]{{8,255}}(?![A-Za-z0-9])") for p in ("ghp", "gho", "ghu", "ghs", "ghr")),
    ("github-token", r"github_pat_[A-Za-z0-9_]{8,255}"),
    ("gitlab-token", r"glpat-[A-Za-z0-9_-]{8,}"),
    ("slack-token", r"xox[abposre]-[A-Za-z0-9-]{8,}"),
    ("slack-webhook", r"https://hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+"),
    *(("stripe-key", rf"{p}_{e}_[A-Za-z0-9]{{8,}}") for p in ("sk", "rk") for e in ("live", "test")),
    ("google-api-key", r"AIza[0-9A-Za-z_-]{12,}"),
    # OpenAI, DeepSeek, Anthropic and similar "sk-..." keys (at least one digit: not a word)
    ("api-key", r"sk-(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{16,}"),
    ("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("npm-token", r"npm_(?:[A-Za-z0-9]{36}|(?=[A-Za-z]*[0-9])[A-Za-z0-9]{12,35})(?![A-Za-z0-9])"),
    ("pypi-token", r"pypi-AgE[A-Za-z0-9_-]{16,}"),
    ("huggingface-token", r"hf_(?:[A-Za-z0-9]{34,}|(?=[A-Za-z]*[0-9])[A-Za-z0-9]{12,33})(?![A-Za-z0-9])"),
    ("sendgrid-key", r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{8,43}(?![A-Za-z0-9_-])"),
    *(("shopify-token", rf"shp{p}_[a-fA-F0-9]{{12,32}}(?![A-Za-z0-9])") for p in ("at", "ca", "pa", "ss")),
    *(("digitalocean-token", rf"do{p}_v1_[a-f0-9]{{12,64}}(?![A-Za-z0-9])") for p in ("o", "p", "r")),
    ("azure-storage-key", r"AccountKey=(?P<secret>[A-Za-z0-9+/]{20,}={0,2})"),
    # PuTTY private key file body: the lines after "Private-Lines: N"
    ("private-key", r"Private-Lines: *\d+\r?\n(?P<secret>(?:[A-Za-z0-9+/=]+(?:\r?\n|$))+)"),
)
_LITERAL = re.compile(r"[A-Za-z0-9_:/=.-]+")


#: (the literal the pattern starts with, kind, pattern)
_TOKENS = tuple((_LITERAL.match(p).group(0), kind, re.compile(p))  # type: ignore[union-attr]  # each pattern starts with a literal
                for kind, p in _TOKEN_PATTERNS)

#: Password in a URL: scheme://user:PASSWORD@host
#: (the user may be empty: ``redis://:pw@host``; the password may hold ``@``: the last ``@`` ends it)
_URL_PASSWORD = re.compile(r"://[^\s:/@'\"`]{0,100}:(?P<value>[^\s/'\"`?#]{3,200})@")

#: ``Authorization: Bearer <token>`` / ``Basic <base64>`` (found from a lower-cased keyword hit)
_AUTH = re.compile(r"(?i)(?:bearer|basic)[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{12,}=*)")

#: A chain of quoted token-like pieces joined by ``+``, a line break or nothing (a key split in parts).
_CONCAT = re.compile(r"""(?:["'][A-Za-z0-9_+/=-]{2,}["'][ \t]*(?:\+|\\?\r?\n|(?=["']))[ \t\r\n+]*)+"""
                     r"""["'][A-Za-z0-9_+/=-]{2,}["']""")
_PIECE = re.compile(r"""["']([A-Za-z0-9_+/=-]*)["']""")

#: ``name = "value"`` where the name says secret. Found from keyword hits (see _assignments).
_SECRET_WORDS = ("password", "passwd", "passphrase", "pwd", "secret", "token", "api_key", "apikey",
                 "api-key", "access_key", "accesskey", "private_key", "auth_key", "credential")
#: Words that say secret only as the last part of a name (``DB_PASS``, ``pw``; not ``compass``, ``pwm``).
_SECRET_SUFFIX_WORDS = ("pass", "pw")
_ASSIGN_TAIL = re.compile(
    r"""["']?\]?\s*(?::\s*[A-Za-z_][\w.\[\]| ,]{0,40}?\s*(?==))?"""  # os.environ["X"] = / name: str =
    r"""(?:(?:=|:=|:|=>|,)[ \t]*(?:(?P<q>["'`])(?P<quoted>[^"'`\s\\]{8,300})(?P=q)"""
    r"""|(?P<bare>[A-Za-z0-9+/=_~!@#$%^&*-]{16,300})(?![\w.(])"""
    r"""|(?P<short>[A-Za-z0-9+/=_~!@#$%^&*.-]{8,15})[ \t]*(?=\r?\n|$))"""  # YAML/INI: password: Sup3rS3cret!
    r"""|>(?P<xml>[^<\s]{6,200})</)""")  # <password>...</password>
_PLACEHOLDER_VALUE = re.compile(
    r"(?i)^(?:x+|\*+|\.+|-+|changeme|change_me|password\d*|secret\d*|redacted|none|null|nil|true|false"
    r"|your[-_].*|my[-_].*|example.*|sample.*|dummy.*|placeholder.*|test.*|todo.*|fake.*)$")

#: Private key blocks (PEM and PGP), also inside JSON/strings with ``\n`` escapes.
_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
#: (also inside comment lines: ``# ``, ``// ``, `` * ``, ``; ``, ``! ``)
_BODY = re.compile(r"""(?:[A-Za-z]+-[A-Za-z]+:[^\n]*|[A-Za-z0-9+/=\s"',#;*!]|\\[nr])*""")
_BODY_LINE = re.compile(
    r"""[A-Za-z0-9+/=\s"',#;*!]*(?:\\[nr][A-Za-z0-9+/=\s"',#;*!]*)*|[#;*!/ \t]*[A-Za-z]+-[A-Za-z]+:[^\n]*""")


def _entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _secret_value(value: str, bare: bool, short: bool = False) -> bool:
    """Does an assigned value look like a real secret (not a placeholder, an identifier or prose)?"""
    if _PLACEHOLDER_VALUE.match(value) or value.startswith(("$", "{", "<", "%", "#", PLACEHOLDER_PREFIX)) \
            or "{{" in value or "${" in value:
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    if short:  # an unquoted value alone at the end of its line
        return has_digit and has_alpha and _entropy(value) >= 2.5 and not value.replace(".", "").isdigit()
    if bare:
        return has_digit and has_alpha and _entropy(value) >= 3.5
    if not has_digit and ("/" in value or "." in value):  # a path, a URL, a dotted name
        return False
    return (has_digit and has_alpha) or (len(value) >= 20 and _entropy(value) >= 3.5)


#: What may stand right before a token although it ends in a letter or digit:
#: an escape (``\n \t \\ \" \u00XX \x2C``) or a URL encoding (``%20 %3D %2C``).
_ESCAPE_BEFORE = re.compile(r"(?:\\[ntrfvbae0'\"\\/]|\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}|%[0-9A-Fa-f]{2})$")


def _boundary(text: str, start: int) -> bool:
    """May a token start at ``start``: not glued to a word, or right after an escape or URL encoding."""
    if not start:
        return True
    before = text[start - 1]
    if not (before.isalnum() or before == "_"):
        return True
    return _ESCAPE_BEFORE.search(text, max(0, start - 6), start) is not None


def find_secrets(text: str) -> list[tuple[int, int, str]]:
    """Spans ``(start, end, kind)`` of the secrets in ``text``, sorted, not overlapping."""
    spans: list[tuple[int, int, str]] = []
    if "PRIVATE KEY" in text:
        covered_ends: set[int] = set()
        for m in _BEGIN.finditer(text):
            body = _BODY.match(text, m.end())
            start, stop = m.end(), body.end() if body else m.end()
            end = _END.match(text, stop)
            if end is not None:
                covered_ends.add(end.start())
            if len(text[start:stop].strip()) >= 16 or end is not None:
                spans.append((start, stop, "private-key"))
        for m in _END.finditer(text):
            if m.start() in covered_ends:
                continue
            # the text starts inside a key block (a window cut above its BEGIN): walk back over its lines
            stop = m.start()
            start = stop
            while start > 0:
                line_start = text.rfind("\n", 0, start - 1) + 1
                if not _BODY_LINE.fullmatch(text, line_start, start):
                    break
                start = line_start
            if len(text[start:stop].strip()) >= 16:
                spans.append((start, stop, "private-key"))
    any_literal = False
    for literal, kind, pattern in _TOKENS:
        if literal not in text:
            continue
        any_literal = True
        group = "secret" if "secret" in pattern.groupindex else 0
        for m in pattern.finditer(text):
            if not _boundary(text, m.start()):
                continue
            spans.append((m.start(group), m.end(group), kind))
    if "://" in text:
        spans.extend((m.start("value"), m.end("value"), "url-password") for m in _URL_PASSWORD.finditer(text))
    lower = text.lower()
    if "bearer" in lower or "basic" in lower:
        for m in _AUTH.finditer(text):
            value = m.group("secret")
            if any(c.isdigit() for c in value) and any(c.isalpha() for c in value) and _boundary(text, m.start()):
                spans.append((m.start("secret"), m.end("secret"), "auth-header"))
    spans.extend(_assignments(text, lower))
    if any_literal:  # a key split in parts has its recognisable start in its first part
        spans.extend(_concatenated(text))
    if not spans:
        return spans
    spans = [_trim(text, span) for span in spans]
    spans.sort()
    merged = [spans[0]]
    for span in spans[1:]:
        last = merged[-1]
        if span[0] < last[1]:  # overlapping: the earlier (or longer) one wins
            if span[1] > last[1] and span[2] == last[2]:
                merged[-1] = (last[0], span[1], last[2])
            continue
        merged.append(span)
    return merged


def _trim(text: str, span: tuple[int, int, str]) -> tuple[int, int, str]:
    """A key block's span without the blank space (and ``\\n`` escapes) at its edges."""
    start, end, kind = span
    if kind != "private-key":
        return span
    while start < end and (text[start] in " \t\r\n" or text.startswith("\\n", start)):
        start += 2 if text[start] == "\\" else 1
    while end > start and (text[end - 1] in " \t\r\n" or text[end - 2:end] == "\\n"):
        end -= 2 if text[end - 1] == "n" and text[end - 2:end] == "\\n" else 1
    return start, end, kind


def _concatenated(text: str) -> list[tuple[int, int, str]]:
    """Quoted pieces of one secret split across concatenated strings (``"sk-4f9a" + "3f6a..."``)."""
    found: list[tuple[int, int, str]] = []
    if '"' not in text and "'" not in text:
        return found
    for chain in _CONCAT.finditer(text):
        pieces = list(_PIECE.finditer(text, chain.start(), chain.end()))
        joined = "".join(p.group(1) for p in pieces)
        hits = [span for span in find_secrets(joined) if span[2] != "secret"] if len(joined) >= 12 else []
        if not hits:
            continue
        pos = 0
        for piece in pieces:
            lo, hi = pos, pos + len(piece.group(1))
            pos = hi
            for start, end, kind in hits:
                if start < hi and end > lo and hi > lo:
                    found.append((piece.start(1) + max(0, start - lo), piece.start(1) + min(hi, end) - lo, kind))
                    break
    return found


def _assignments(text: str, lower: str | None = None) -> list[tuple[int, int, str]]:
    lower = text.lower() if lower is None else lower
    found: list[tuple[int, int, str]] = []
    seen: set[int] = set()
    for word in (*_SECRET_WORDS, *_SECRET_SUFFIX_WORDS):
        suffix_only = word in _SECRET_SUFFIX_WORDS
        i = lower.find(word)
        while i >= 0:
            # the whole name around the keyword
            end = i + len(word)
            while end < len(text) and (text[end].isalnum() or text[end] in "_.-"):
                end += 1
            if suffix_only and (end != i + len(word) or (i and (lower[i - 1].isalnum()))):
                i = lower.find(word, end)
                continue
            if end not in seen:
                seen.add(end)
                m = _ASSIGN_TAIL.match(text, end)
                if m is not None:
                    group = next(g for g in ("quoted", "bare", "short", "xml") if m.group(g) is not None)
                    value = m.group(group)
                    if _secret_value(value, bare=group == "bare", short=group == "short"):
                        found.append((m.start(group), m.end(group), "secret"))
            i = lower.find(word, end)
    return found


class Masker:
    """Replaces secrets in outgoing text with stable placeholders, and can put them back.

    ``key``: the HMAC key of the placeholders' short digests (random per
    process by default). Remembers up to ``remember`` placeholder→secret
    pairs, in memory only, for :meth:`unmask`.
    """

    def __init__(self, key: bytes | None = None, remember: int = 4096) -> None:
        self._key = key or _secrets.token_bytes(32)
        self._known: LRUCache[str, str] = LRUCache(maxsize=remember)
        self._cache: LRUCache[str, str] = LRUCache(maxsize=64)

    def placeholder(self, secret: str, kind: str) -> str:
        digest = hmac.new(self._key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:6]
        mark = f"{PLACEHOLDER_PREFIX}{kind}:{digest}>"
        self._known[mark] = secret
        return mark

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced by its placeholder (cached: prompts repeat)."""
        if not text:
            return text
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        spans = find_secrets(text)
        out = text
        if spans:
            pieces: list[str] = []
            last = 0
            for start, end, kind in spans:
                pieces.append(text[last:start])
                pieces.append(self.placeholder(text[start:end], kind))
                last = end
            pieces.append(text[last:])
            out = "".join(pieces)
        if len(text) >= 256:  # only worth remembering for the long, repeated parts
            self._cache[text] = out
        return out

    def mask_parts(self, *parts: str) -> tuple[str, ...]:
        """Mask consecutive parts of one text (e.g. FIM prompt and suffix) as if joined.

        A secret that straddles a boundary (the cursor inside a token) is
        masked as a whole: its placeholder ends the part where it starts and
        the rest of it is left out of the next part. Each part alone is
        masked through the cache; only a secret across a seam costs a scan
        of the joined text.
        """
        for i in range(len(parts) - 1):
            a = parts[i][max(0, len(parts[i]) - _SEAM):]
            b = parts[i + 1][:_SEAM]
            if any(start < len(a) < end for start, end, _ in find_secrets(a + b)):
                return self._mask_joined(parts)
        return tuple(self.mask(p) for p in parts)

    def _mask_joined(self, parts: Sequence[str]) -> tuple[str, ...]:
        joined = "".join(parts)
        spans = find_secrets(joined)
        bounds = []
        pos = 0
        for p in parts:
            bounds.append((pos, pos + len(p)))
            pos += len(p)
        out: list[str] = []
        for lo, hi in bounds:
            pieces: list[str] = []
            at = lo
            for start, end, kind in spans:
                if end <= lo or start >= hi:
                    continue
                if start < lo:  # started in an earlier part: its placeholder is there
                    at = max(at, min(end, hi))
                    continue
                pieces.append(joined[at:start])
                pieces.append(self.placeholder(joined[start:end], kind))
                at = min(end, hi)
            pieces.append(joined[at:hi])
            out.append("".join(pieces))
        return tuple(out)

    def mask_messages(self, messages: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
        """Chat messages with every string ``content`` masked (other fields kept)."""
        out = []
        for message in messages:
            content = message.get("content")
            if isinstance(content, str):
                message = {**message, "content": self.mask(content)}
            out.append(message)
        return tuple(out)

    def unmask(self, text: str) -> str:
        """Put back the secrets of placeholders this masker made (unknown ones stay)."""
        if PLACEHOLDER_PREFIX not in text:
            return text
        return _PLACEHOLDER.sub(lambda m: self._known.get(m.group(0), m.group(0)), text)


def has_placeholder(text: str) -> bool:
    """True when ``text`` contains a mask placeholder (or the start of one)."""
    return PLACEHOLDER_PREFIX in text or "<REDACTED" in text


#: The process-wide masker: one key, so one secret has one placeholder everywhere.
MASKER = Masker()


def mask_fim(fim: FimPrompt, masker: Masker | None = None) -> FimPrompt:
    """``fim`` with secrets masked in its prompt and suffix (the same object when there are none).

    The prompt's head (everything before the current file's window, stable
    while typing) and the window are masked apart, so the head comes from
    the masker's cache; ``head_len`` follows the masked head.
    """
    masker = masker or MASKER
    head, window, suffix = masker.mask_parts(fim.prompt[: fim.head_len], fim.prompt[fim.head_len:], fim.suffix)
    if len(head) == fim.head_len and head + window == fim.prompt and suffix == fim.suffix:
        return fim
    return dataclasses.replace(fim, prompt=head + window, suffix=suffix, head_len=len(head))
