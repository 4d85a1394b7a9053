"""The secret guard's holes found by a fresh tester, each fixed as a kind.

Every member of each kind has its own case here (core); tests/test_lsp_secret_guard.py
sends the same members through the LSP to the fake DeepSeek and checks it never
receives the secret bytes.
"""

from __future__ import annotations

import os

import pytest

from deepseek_ls.policy import ExclusionPolicy, Masker, find_secrets, mask_fim
from deepseek_ls.prompt.fim import build_fim_prompt
from deepseek_ls.snapshot import DocumentSnapshot

GH = "ghp_R8x2Kd93LmQpZ7vT1yWb4Nc6Hf0Js5Ua2Ge8"  # 40 characters
SK = "sk-4f9a2b7c1d8e3f6a5b4c9d0e1f2a3b4c"
AWS = "AKIAIOSFODNN7EXAMPLE"

# -- 1: a token right after an escape or a URL encoding ------------------------------------
BOUNDARY = {
    "backslash-n": ('print("tokens:\\n' + GH + '")', GH),
    "backslash-t": ('x = "x\\t' + SK + '"', SK),
    "backslash-r": ('x = "a\\r' + GH + '"', GH),
    "backslash-backslash": ('x = "C:\\\\' + GH + '"', GH),
    "escaped-quote": ('x = "\\"' + GH + '\\""', GH),
    "unicode-escape": ('x = "\\u0022' + GH + '"', GH),
    "hex-escape": ('x = "\\x3d' + SK + '"', SK),
    "url-space": ("curl -H Authorization:Bearer%20" + GH, GH),
    "url-equals": ("https://x.io/?q=token%3D" + GH, GH),
    "url-comma": ("a%2C" + GH, GH),
    "aws-after-newline-escape": ('"\\n' + AWS + '"', AWS),
    "aws-after-url-encoding": ("id%3D" + AWS, AWS),
    "equals": ("TOKEN=" + GH, GH),
    "colon": ("token:" + GH, GH),
    "comma": ("a," + SK, SK),
}


@pytest.mark.parametrize("name", sorted(BOUNDARY))
def test_a_token_after_an_escape_or_url_encoding_is_masked(name):
    text, secret = BOUNDARY[name]
    out = Masker().mask(text + "\n")
    assert secret not in out and secret[:12] not in out, out


@pytest.mark.parametrize("text", ["xghp_R8x2Kd93LmQpZ7vT1yWb4Nc6Hf0Js5Ua2Ge8", "mask-4f9a2b7c1d8e3f6a5b4c9d0e",
                                  "BAKIAIOSFODNN7EXAMPLE"])
def test_a_token_glued_to_a_word_is_still_not_one(text):
    assert Masker().mask(text) == text


# -- 2: exclusion ignores case --------------------------------------------------------------
@pytest.mark.parametrize("path", [".ENV", ".Env", "app/.ENV.LOCAL", "Server.PEM", "certs/TLS.Key", "ID_RSA",
                                  "Secrets.yaml", "C:/Users/Me/.AWS/Credentials", "/home/me/.SSH/Id_Ed25519",
                                  "CREDENTIALS.JSON", ".NPMRC"])
def test_exclusion_is_case_insensitive(path):
    policy = ExclusionPolicy()
    uri = "file:///" + path.lstrip("/")
    assert policy.check(uri) is not None, path


def test_reinclusion_is_case_insensitive_too():
    policy = ExclusionPolicy()
    assert policy.check("file:///p/.ENV.EXAMPLE") is None
    assert policy.check("file:///p/ID_RSA.PUB") is None


def test_user_globs_and_ignore_files_are_case_insensitive(tmp_path):
    (tmp_path / ".deepseekignore").write_text("Private/\n")
    policy = ExclusionPolicy(lambda: ("*.SQL",))
    policy.set_roots([str(tmp_path)])
    assert policy.check((tmp_path / "db" / "dump.sql").as_uri()) is not None
    assert policy.check((tmp_path / "PRIVATE" / "plan.py").as_uri()) is not None
    assert policy.check((tmp_path / "public" / "plan.py").as_uri()) is None


# -- 3: symlinks ---------------------------------------------------------------------------
@pytest.fixture
def linked(tmp_path):
    (tmp_path / ".env").write_text("TOKEN=Zq8Wx7Ec6Rv5Tb4Yn3Um2\n")
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_rsa").write_text("key\n")
    (tmp_path / "link").mkdir()
    os.symlink(tmp_path / ".env", tmp_path / "link" / "settings.txt")
    os.symlink(tmp_path / ".ssh", tmp_path / "keys")
    return tmp_path


def test_a_file_symlink_to_a_secret_file_is_excluded(linked):
    policy = ExclusionPolicy()
    policy.set_roots([str(linked)])
    why = policy.check((linked / "link" / "settings.txt").as_uri())
    assert why is not None and why.pattern.endswith(".env") and "link" in why.source


def test_a_folder_symlink_to_a_secret_folder_is_excluded(linked):
    policy = ExclusionPolicy()
    policy.set_roots([str(linked)])
    assert policy.check((linked / "keys" / "id_rsa").as_uri()) is not None
    assert policy.check((linked / "link" / "other.py").as_uri()) is None  # not a link, not excluded


def test_a_link_made_later_is_seen_after_the_decision_expires(tmp_path):
    now = [0.0]
    policy = ExclusionPolicy(clock=lambda: now[0])
    (tmp_path / ".env").write_text("X=1\n")
    uri = (tmp_path / "notes.txt").as_uri()
    assert policy.check(uri) is None
    os.symlink(tmp_path / ".env", tmp_path / "notes.txt")
    now[0] += 5
    assert policy.check(uri) is not None


# -- 4: a window cut through a token -------------------------------------------------------
def _prompt(text: str, offset: int):
    doc = DocumentSnapshot("file:///p/a.py", "a.py", "python", text)
    return mask_fim(build_fim_prompt(doc, offset))


def test_the_suffix_window_cut_through_a_token_sends_no_part_of_it():
    line = "print('" + "a" * 270 + " " + GH + "')\n"
    fim = _prompt("x = 1\n" + line, len("x = 1\n"))
    assert GH[:12] not in fim.suffix, fim.suffix[-40:]


@pytest.mark.parametrize("cut_after", [5, 12, 23, 39])
def test_a_token_cut_at_any_length_by_the_suffix_is_masked(cut_after):
    line = "print('" + "a" * (300 - 8 - cut_after) + " " + GH + "')\n"
    fim = _prompt("x = 1\n" + line, len("x = 1\n"))
    assert GH[:9] not in fim.suffix, fim.suffix[-40:]


def test_an_enormous_line_cut_by_the_prefix_window_starts_after_the_token():
    # one 28k-character line: the window falls back to a character cut at a multiple of 4096
    for before in (12288 - 20, 12288 - 5, 12288 - 36):
        head = "data = '" + "Zz, " * 5000
        text = head[:before] + GH + " " + "Zz, " * 4000
        text = text[:28049]
        fim = _prompt(text + "\n", len(text))
        window = fim.prompt[fim.head_len:]
        assert len(text) - len(window) > before  # the cut is inside the token
        assert GH[-12:] not in fim.prompt and GH[-4:] not in window[:8], window[:50]


# -- 5: a token being typed ----------------------------------------------------------------
@pytest.mark.parametrize("token", [GH, SK, AWS, "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
                                   "glpat-abcdefghij0123456789", "github_pat_11ABCDEFG0123456789_abcdefgh",
                                   "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "AIzaSyA-1234567890abcdefghijklmnopqrstu",
                                   "hf_AbCd3fGhIjAbCdEfGhIjAbCdEfGhIjKlMn", "npm_A1b2C3d4E5A1b2C3d4E5A1b2C3d4E5F6g7H8"])
def test_a_token_typed_one_character_at_a_time_is_masked_early(token):
    m = Masker()
    sent = []
    for n in range(1, len(token) + 1):
        out = m.mask_parts(f"KEY = '{token[:n]}", "'\n")
        sent.append(out[0])
    leaked = max(len(os.path.commonprefix([s.removeprefix("KEY = '"), token])) for s in sent)
    assert leaked <= len(token) - (len(token) - 20 if len(token) > 32 else 0) and leaked < 24, leaked


def test_a_typed_token_keeps_a_stable_prompt_start():
    m = Masker()
    head = "import os\n" * 40
    a = m.mask_parts(head, "KEY = '" + GH[:20])
    b = m.mask_parts(head, "KEY = '" + GH[:21])
    assert a[0] == b[0] == head


# -- 6: assignment forms -------------------------------------------------------------------
FORMS = {
    "typed-annotation": ('db_password: str = "Tr0ub4dor3xyzQ"', "Tr0ub4dor3xyzQ"),
    "environ-subscript": ('os.environ["OPENAI_API_KEY"] = "Zq8Wx7Ec6Rv5Tb4Y"', "Zq8Wx7Ec6Rv5Tb4Y"),
    "authorization-dict": ('headers = {"Authorization": "Bearer Zx81kLm29QpR7vT3"}', "Zx81kLm29QpR7vT3"),
    "curl-header": ('curl -H "Authorization: Bearer Zx81kLm29QpR7vT3" https://x', "Zx81kLm29QpR7vT3"),
    "basic-auth": ('auth = "Basic YWRtaW46c2VjcmV0UGFzczk="', "YWRtaW46c2VjcmV0UGFzczk="),
    "url-empty-user": ("REDIS = 'redis://:Red1sPassw0rdXyz@cache:6379/0'", "Red1sPassw0rdXyz"),
    "url-at-in-password": ("URL = 'https://bob:p@ssW0rd9XyzQ@host/x'", "ssW0rd9XyzQ"),
    "pem-in-comments": ("# -----BEGIN RSA PRIVATE KEY-----\n# MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfnygWyF8\n"
                        "# aFDrBz9vFqU4yJ4zpQ1kXxPq9Zq8b7s6T5r4\n# -----END RSA PRIVATE KEY-----",
                        "MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfnygWyF8"),
    "pem-in-slash-comments": ("// -----BEGIN PRIVATE KEY-----\n// MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfnygWyF8\n"
                              "// -----END PRIVATE KEY-----", "MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfnygWyF8"),
    "putty-ppk": ("PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: me\nPublic-Lines: 1\n"
                  "AAAAB3NzaC1yc2EAAAABJQAAAQEAhl\nPrivate-Lines: 2\nAAABAQCyq8Ey2ZV3QxSGm1rZ9Xc4\n"
                  "Xc4Lm7Qq0Pz9Rt6Yu2Io8Pa5Sd3\nPrivate-MAC: 0f9e8d", "AAABAQCyq8Ey2ZV3QxSGm1rZ9Xc4"),
    "aws-lower-case": ("aws_access_key_id = akiaiosfodnn7example", "akiaiosfodnn7example"),
    "concatenated": ('KEY = "sk-4f9a2b7c1d8e" + "3f6a5b4c9d0e1f2a"', "3f6a5b4c9d0e1f2a"),
    "concatenated-lines": ('KEY = ("ghp_R8x2Kd93LmQp"\n       "Z7vT1yWb4Nc6Hf0Js5Ua2Ge8")', "Z7vT1yWb4Nc6Hf0Js5Ua2Ge8"),
    "yaml-unquoted": ("db:\n  password: Sup3rS3cret!\n", "Sup3rS3cret!"),
    "ini-unquoted": ("[db]\npassword = hunter22\n", "hunter22"),
    "xml-element": ("<password>Sup3rS3cret9</password>", "Sup3rS3cret9"),
    "db-pass": ('DB_PASS = "Vx9Kq2Wm"', "Vx9Kq2Wm"),
    "pw": ('pw="Vx9Kq2Wm7"', "Vx9Kq2Wm7"),
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_assignment_forms_are_masked(name):
    text, secret = FORMS[name]
    out = Masker().mask(f"before\n{text}\nafter\n")
    assert secret not in out, out
    assert "<REDACTED:" in out and out.startswith("before\n") and out.endswith("\nafter\n")


ORDINARY = [
    "compass = 'North123x'\n",
    "bypass = 'Route9abc'\n",
    "pwm_level = 'High2000x'\n",
    "password: str\n",
    "password: Optional[str] = None\n",
    "def check(password: str = DEFAULT) -> bool:\n",
    "token: Token\n",
    "headers['Authorization'] = f'Bearer {token}'\n",
    "# use Bearer authentication here\n",
    "s = 'abc' + 'def' + 'ghi'\n",
    "print('value:', 'x' + 'y')\n",
    "url = 'http://localhost:8080?next=a@b'\n",
    "mail = 'mailto:bob@example.com'\n",
    "version: 1.2.3\n",
    "<password></password>\n",
    "<token>{{ token }}</token>\n",
    "password = getpass()\n",
    "print('\\n' + name)\n",
    "x = '%20' + value\n",
    "HIGHLIGHT_PASS = True\n",
    # seen in real libraries (lsprotocol, this project): a value on the next line, a path
    '{"completionTokens": self.completion_tokens,\n "promptCacheHitTokens": self.hit_tokens}\n',
    '__all__ = [\n    "SemanticTokensDeltaPartialResult",\n    "SemanticTokensDeltaRequest",\n]\n',
    'TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL = "textDocument/semanticTokens/full"\n',
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_code_is_left_alone(text):
    assert Masker().mask(text) == text, find_secrets(text)


# -- 7: more secret-bearing names ----------------------------------------------------------
@pytest.mark.parametrize("path", [".env~", ".env ", ".env.", "app/.env.bak", ".npmrc.bak", "deploy/secrets.yml.bak",
                                  "secrets.yml.orig", ".secrets.yml.swp", ".env.swp", "id_rsa.old", "server.pem~",
                                  "credentials.json.backup", "gcp/my-sa-key.json", "prod-service-account.json",
                                  "/home/me/.config/gh/hosts.yml", "repo/.git/config"])
def test_more_secret_bearing_names_are_excluded(path):
    assert ExclusionPolicy().check("file:///" + path.lstrip("/")) is not None, path


def test_vscode_user_settings_are_excluded():
    assert ExclusionPolicy().check("vscode-userdata:/home/me/.config/Code/User/settings.json") is not None


@pytest.mark.parametrize("path", ["main.py.bak", "notes.txt~", "app.py.orig", ".swp", "settings.json",
                                  "repo/.git/HEAD", "config.old", "environment.py~", "service.json"])
def test_copies_of_ordinary_files_stay_in(path):
    assert ExclusionPolicy().check("file:///p/" + path) is None, path


# -- 9: nested .deepseekignore -------------------------------------------------------------
def test_nested_ignore_files_add_exclusions_relative_to_their_folder(tmp_path):
    now = [0.0]
    policy = ExclusionPolicy(clock=lambda: now[0])
    policy.set_roots([str(tmp_path)])
    sub = tmp_path / "svc"
    sub.mkdir()
    (sub / ".deepseekignore").write_text("*.sql\n/local.py\ndata/\n")
    uri = lambda p: (tmp_path / p).as_uri()
    assert policy.check(uri("svc/dump.sql")) is not None
    assert "svc/.deepseekignore" in policy.check(uri("svc/deep/dump.sql")).source
    assert policy.check(uri("svc/local.py")) is not None
    assert policy.check(uri("svc/deep/local.py")) is None  # anchored to its own folder
    assert policy.check(uri("svc/data/x.py")) is not None
    assert policy.check(uri("dump.sql")) is None  # not above its folder
    assert policy.check(uri("other/dump.sql")) is None


def test_a_nested_ignore_file_cannot_lift_an_exclusion(tmp_path):
    policy = ExclusionPolicy(lambda: ("*.sql",))
    policy.set_roots([str(tmp_path)])
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / ".deepseekignore").write_text("!.env\n!*.sql\n")
    assert policy.check((tmp_path / "svc" / ".env").as_uri()) is not None
    assert policy.check((tmp_path / "svc" / "a.sql").as_uri()) is not None


def test_a_nested_ignore_file_is_read_again_when_it_changes(tmp_path):
    now = [0.0]
    policy = ExclusionPolicy(clock=lambda: now[0])
    policy.set_roots([str(tmp_path)])
    (tmp_path / "svc").mkdir()
    uri = (tmp_path / "svc" / "plan.md").as_uri()
    assert policy.check(uri) is None
    (tmp_path / "svc" / ".deepseekignore").write_text("plan.md\n")
    now[0] += 5
    assert policy.check(uri) is not None
    (tmp_path / "svc" / ".deepseekignore").write_text("other.md\n# longer now\n")
    now[0] += 5
    assert policy.check(uri) is None
