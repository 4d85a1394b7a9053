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
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from cachetools import LRUCache
from pathspec import GitIgnoreSpec

from .prompt.fim import FimPrompt

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
)

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
            GitIgnoreSpec.from_lines([line])
        except Exception:
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


class _RootIgnore:
    """One workspace folder's ``.deepseekignore``, re-read when it changes."""

    def __init__(self, root: str, clock: Callable[[], float]) -> None:
        self.root = root
        self.path = os.path.join(root, IGNORE_FILE)
        self.clock = clock
        self.lines: list[str] = []
        self.spec = GitIgnoreSpec.from_lines([])
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
        self._stamp = stamp
        lines: list[str] = []
        if stamp is not None:
            try:
                with open(self.path, encoding="utf-8", errors="replace") as fh:
                    lines = [line.rstrip("\r\n") for line in fh]
            except OSError:
                lines = []
        self.lines = _valid_lines(lines, self.path)
        self.spec = GitIgnoreSpec.from_lines(self.lines)
        return True


class ExclusionPolicy:
    """Decides which documents are never sent.

    ``user_globs`` gives the current ``deepseek.exclude`` (read on each
    call: settings may change); ``roots`` are the workspace folders
    (filesystem paths). :meth:`check` is cheap after the first call for a URI
    (decisions are cached until a setting or an ignore file changes).
    """

    def __init__(self, user_globs: Callable[[], Sequence[str]] = tuple,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._user_globs = user_globs
        self._clock = clock
        self._roots: list[_RootIgnore] = []
        self._globs: tuple[str, ...] | None = None
        self._base = GitIgnoreSpec.from_lines(DEFAULT_EXCLUDE)
        self._base_lines: list[str] = list(DEFAULT_EXCLUDE)
        self._cache: LRUCache[str, Exclusion | None] = LRUCache(maxsize=1024)

    def set_roots(self, roots: Iterable[str]) -> None:
        """The workspace folders (filesystem paths); longest first, so nested folders win."""
        wanted = sorted({os.path.normpath(r).replace("\\", "/") for r in roots if r}, key=len, reverse=True)
        if [r.root for r in self._roots] != wanted:
            self._roots = [_RootIgnore(r, self._clock) for r in wanted]
            self._cache.clear()

    def _refresh(self) -> None:
        globs = tuple(g.strip() for g in self._user_globs() if isinstance(g, str) and g.strip())
        if globs != self._globs:
            self._globs = globs
            self._base_lines = [*DEFAULT_EXCLUDE, *_valid_lines(globs, "deepseek.exclude")]
            self._base = GitIgnoreSpec.from_lines(self._base_lines)
            self._cache.clear()
        if any([r.refresh() for r in self._roots]):
            self._cache.clear()

    def _relative(self, path: str) -> tuple[_RootIgnore | None, str]:
        for root in self._roots:
            prefix = root.root.rstrip("/") + "/"
            if path.startswith(prefix):
                return root, path[len(prefix):]
        return None, path.lstrip("/")

    def check(self, uri: str) -> Exclusion | None:
        """Why ``uri`` is excluded, or None when it may be sent."""
        self._refresh()
        if uri in self._cache:
            return self._cache[uri]
        result = self._decide(uri)
        self._cache[uri] = result
        return result

    def _decide(self, uri: str) -> Exclusion | None:
        path = uri_path(uri)
        if path is None:
            return None
        root, rel = self._relative(path)
        if not rel:
            return None
        hit = self._base.check_file(rel)
        if hit.include and hit.index is not None:
            n_default = len(DEFAULT_EXCLUDE)
            source = "default list" if hit.index < n_default else "setting deepseek.exclude"
            return Exclusion(self._base_lines[hit.index], source)
        if root is not None:
            hit = root.spec.check_file(rel)
            if hit.include and hit.index is not None:
                return Exclusion(root.lines[hit.index].strip(), f"workspace file {IGNORE_FILE}")
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
    *(("aws-access-key", rf"{p}[A-Z0-9]{{16}}(?![A-Za-z0-9])") for p in ("AKIA", "ASIA", "ABIA", "ACCA")),
    *(("github-token", rf"{p}_[A-Za-z0-9]{{36,255}}(?![A-Za-z0-9])") for p in ("ghp", "gho", "ghu", "ghs", "ghr")),
    ("github-token", r"github_pat_[A-Za-z0-9_]{22,255}"),
    ("gitlab-token", r"glpat-[A-Za-z0-9_-]{20,}"),
    ("slack-token", r"xox[abposre]-[A-Za-z0-9-]{10,}"),
    ("slack-webhook", r"https://hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+"),
    *(("stripe-key", rf"{p}_{e}_[A-Za-z0-9]{{16,}}") for p in ("sk", "rk") for e in ("live", "test")),
    ("google-api-key", r"AIza[0-9A-Za-z_-]{35}"),
    # OpenAI, DeepSeek, Anthropic and similar "sk-..." keys (at least one digit: not a word)
    ("api-key", r"sk-(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{20,}"),
    ("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("npm-token", r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"),
    ("pypi-token", r"pypi-AgE[A-Za-z0-9_-]{50,}"),
    ("huggingface-token", r"hf_[A-Za-z0-9]{34,}(?![A-Za-z0-9])"),
    ("sendgrid-key", r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"),
    *(("shopify-token", rf"shp{p}_[a-fA-F0-9]{{32}}(?![A-Za-z0-9])") for p in ("at", "ca", "pa", "ss")),
    *(("digitalocean-token", rf"do{p}_v1_[a-f0-9]{{64}}(?![A-Za-z0-9])") for p in ("o", "p", "r")),
    ("azure-storage-key", r"AccountKey=(?P<secret>[A-Za-z0-9+/]{80,}={0,2})"),
)
_LITERAL = re.compile(r"[A-Za-z0-9_:/=.-]+")


#: (the literal the pattern starts with, kind, pattern)
_TOKENS = tuple((_LITERAL.match(p).group(0), kind, re.compile(p))  # type: ignore[union-attr]
                for kind, p in _TOKEN_PATTERNS)

#: Password in a URL: scheme://user:PASSWORD@host
_URL_PASSWORD = re.compile(r"://[^\s:/@'\"`]{1,100}:(?P<value>[^\s@/'\"`]{3,200})@")

#: ``name = "value"`` where the name says secret. Found from keyword hits (see _assignments).
_SECRET_WORDS = ("password", "passwd", "passphrase", "pwd", "secret", "token", "api_key", "apikey",
                 "api-key", "access_key", "accesskey", "private_key", "auth_key", "credential")
_ASSIGN_TAIL = re.compile(
    r"""["']?\s*(?:=|:=|:|=>|,)\s*(?:(?P<q>["'`])(?P<quoted>[^"'`\s\\]{8,300})(?P=q)"""
    r"""|(?P<bare>[A-Za-z0-9+/=_~!@#$%^&*-]{16,300})(?![\w.(]))""")
_PLACEHOLDER_VALUE = re.compile(
    r"(?i)^(?:x+|\*+|\.+|-+|changeme|change_me|password\d*|secret\d*|redacted|none|null|nil|true|false"
    r"|your[-_].*|my[-_].*|example.*|sample.*|dummy.*|placeholder.*|test.*|todo.*|fake.*)$")

#: Private key blocks (PEM and PGP), also inside JSON/strings with ``\n`` escapes.
_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_BODY = re.compile(r"""(?:[A-Za-z]+-[A-Za-z]+:[^\n]*|[A-Za-z0-9+/=\s"',]|\\[nr])*""")
_BODY_LINE = re.compile(r"""[A-Za-z0-9+/=\s"',]*(?:\\[nr][A-Za-z0-9+/=\s"',]*)*|[A-Za-z]+-[A-Za-z]+:[^\n]*""")


def _entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _secret_value(value: str, bare: bool) -> bool:
    """Does an assigned value look like a real secret (not a placeholder, an identifier or prose)?"""
    if _PLACEHOLDER_VALUE.match(value) or value.startswith(("$", "{", "<", "%", "#")) or "{{" in value \
            or "${" in value or value.startswith(PLACEHOLDER_PREFIX):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    if bare:
        return has_digit and has_alpha and _entropy(value) >= 3.5
    return (has_digit and has_alpha) or (len(value) >= 20 and _entropy(value) >= 3.5)


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
    for literal, kind, pattern in _TOKENS:
        if literal not in text:
            continue
        group = "secret" if "secret" in pattern.groupindex else 0
        for m in pattern.finditer(text):
            start = m.start()
            if start and (text[start - 1].isalnum() or text[start - 1] == "_"):
                continue
            spans.append((m.start(group), m.end(group), kind))
    if "://" in text:
        for m in _URL_PASSWORD.finditer(text):
            spans.append((m.start("value"), m.end("value"), "url-password"))
    spans.extend(_assignments(text))
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


def _assignments(text: str) -> list[tuple[int, int, str]]:
    lower = text.lower()
    found: list[tuple[int, int, str]] = []
    seen: set[int] = set()
    for word in _SECRET_WORDS:
        i = lower.find(word)
        while i >= 0:
            # the whole name around the keyword
            end = i + len(word)
            while end < len(text) and (text[end].isalnum() or text[end] in "_.-"):
                end += 1
            if end not in seen:
                seen.add(end)
                m = _ASSIGN_TAIL.match(text, end)
                if m is not None:
                    group = "quoted" if m.group("quoted") is not None else "bare"
                    value = m.group(group)
                    if _secret_value(value, bare=group == "bare"):
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

    def mask_messages(self, messages: Iterable[dict]) -> tuple[dict, ...]:
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
