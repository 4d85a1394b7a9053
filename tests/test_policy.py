"""The policy core: which files are never sent, and masking of secrets in what is sent."""

from __future__ import annotations

import pytest

from deepseek_ls.policy import (
    DEFAULT_EXCLUDE,
    IGNORE_FILE,
    ExclusionPolicy,
    Masker,
    find_secrets,
    has_placeholder,
    mask_fim,
    uri_path,
)
from deepseek_ls.prompt.fim import build_fim_prompt
from deepseek_ls.settings import build_settings
from deepseek_ls.snapshot import DocumentSnapshot

ROOT = "/work/project"


def policy(*globs: str, roots=(ROOT,)) -> ExclusionPolicy:
    p = ExclusionPolicy(lambda: globs)
    p.set_roots(roots)
    return p


EXCLUDED = [
    # environment files
    ".env", "app/.env", ".env.local", ".env.production", "config/prod.env", ".envrc",
    # keys, certificates, key stores
    "/home/me/.ssh/id_rsa", "/home/me/.ssh/id_ed25519", "/home/me/.ssh/id_ecdsa", "deploy/id_rsa_github",
    "/etc/ssh/ssh_host_ed25519_key", "certs/server.pem", "tls/server.key", "store.p12", "cert.pfx",
    "android/release.keystore", "java/trust.jks", "AuthKey_ABC.p8", "putty.ppk", "ca.crt", "me.cer",
    "vault.kdbx", "secring.gpg", "client.ovpn", "/home/me/.ssh/some_other_key",
    # credential files of tools
    "/home/me/.netrc", "C:/Users/me/_netrc", "/home/me/.pgpass", "/home/me/.my.cnf", "/home/me/.git-credentials",
    ".npmrc", ".pypirc", "/home/me/.docker/config.json", "/home/me/.gem/credentials", ".htpasswd",
    "/home/me/.vault-token", "config/master.key", "config/credentials.yml.enc",
    "infra/prod.tfvars", "infra/terraform.tfstate", "infra/terraform.tfstate.backup",
    # cloud providers
    "/home/me/.aws/credentials", "/home/me/.config/gcloud/application_default_credentials.json",
    "keys/my-project-service-account.json", "/home/me/.azure/msal_token_cache.json", "/home/me/.kube/config",
    "kubeconfig",
    # secret stores by name
    "secrets.yaml", "deploy/secrets.yml", "secrets.json", "secrets.toml", "credentials.json", "app.secret",
    "auth.json", "/home/me/.s3cfg", "/home/me/.bash_history", "/home/me/.zsh_history", "/home/me/.psql_history",
]
ALLOWED = [
    "main.py", "pkg/example.py", ".env.example", "app/.env.sample", ".env.template", "/home/me/.ssh/id_rsa.pub",
    "/home/me/.ssh/known_hosts", "/home/me/.ssh/config", "README.md", "environment.py", "keyboard.py",
    "tokens.py", "secrets_manager.py", "config.json", "settings.json", "package.json", "keys.py",
    "/home/me/.aws/config", "docker-compose.yml", "src/credentials_form.tsx", "app/credentials/views.py",
    "src/history.py",
]


@pytest.mark.parametrize("path", EXCLUDED)
def test_default_list_excludes(path):
    full = path if path.startswith(("/", "C:")) else f"{ROOT}/{path}"
    uri = "file://" + ("/" if full.startswith("C:") else "") + full
    why = policy().check(uri)
    assert why is not None, path
    assert why.source == "default list" and why.pattern in DEFAULT_EXCLUDE


@pytest.mark.parametrize("path", ALLOWED)
def test_default_list_allows(path):
    full = path if path.startswith("/") else f"{ROOT}/{path}"
    assert policy().check("file://" + full) is None, path


@pytest.mark.parametrize("uri,excluded", [
    ("file:///c%3A/Users/me/project/.env", True),            # Windows, as VS Code sends it
    ("file:///C:/Users/me/.aws/credentials", True),
    ("file:///work/project/dir%20with%20space/.env.local", True),
    ("vscode-remote://ssh-remote%2Bhost/home/me/app/.env", True),
    ("git:/work/project/.env?%7B%22ref%22%3A%22HEAD%22%7D", True),  # the diff view of a committed .env
    ("vscode-vfs://github/me/repo/secrets.yaml", True),
    ("untitled:Untitled-1", False),                            # no name: nothing to match (text is masked)
    ("file:///work/project/main.py", False),
    ("not a uri at all", False),
    ("", False),
])
def test_non_file_and_odd_uris(uri, excluded):
    assert (policy().check(uri) is not None) is excluded


def test_uri_path():
    assert uri_path("file:///c%3A/x/.env") == "c:/x/.env"
    assert uri_path("untitled:Untitled-1") is None
    assert uri_path("file:///work/a%23b.py") == "/work/a#b.py"


def test_user_globs_add_and_reinclude():
    p = policy("*.sql", "config/*.ini", "!server.pem")
    assert p.check(f"file://{ROOT}/db/dump.sql").source == "setting deepseek.exclude"
    assert p.check(f"file://{ROOT}/config/app.ini").pattern == "config/*.ini"
    assert p.check(f"file://{ROOT}/other/app.ini") is None  # anchored at the workspace root
    assert p.check(f"file://{ROOT}/certs/server.pem") is None  # re-included by the user
    assert p.check(f"file://{ROOT}/certs/client.pem") is not None


def test_invalid_patterns_are_skipped_not_fatal(tmp_path, caplog):
    (tmp_path / IGNORE_FILE).write_text("!\n*.dump\n\\\n")
    p = ExclusionPolicy(lambda: ("!", "*.sql"))
    p.set_roots([str(tmp_path)])
    assert p.check((tmp_path / "a.sql").as_uri()).pattern == "*.sql"
    assert p.check((tmp_path / "a.dump").as_uri()).pattern == "*.dump"
    assert p.check((tmp_path / ".env").as_uri()) is not None
    assert "not a valid gitignore pattern" in caplog.text


def test_user_globs_are_read_again_when_settings_change():
    globs: list[str] = []
    p = ExclusionPolicy(lambda: globs)
    uri = "file:///p/notes.txt"
    assert p.check(uri) is None
    globs.append("*.txt")
    assert p.check(uri) is not None
    globs.clear()
    assert p.check(uri) is None


def test_workspace_ignore_file(tmp_path):
    now = [0.0]
    (tmp_path / IGNORE_FILE).write_text("# ours\nprivate/\n*.dump\n!.env\n")
    p = ExclusionPolicy(lambda: (), clock=lambda: now[0])
    p.set_roots([str(tmp_path)])
    base = tmp_path.as_uri()
    why = p.check(f"{base}/private/notes.md")
    assert why is not None and why.pattern == "private/" and IGNORE_FILE in why.source
    assert p.check(f"{base}/data/x.dump") is not None
    assert p.check(f"{base}/.env") is not None  # the workspace file cannot lift the defaults
    assert p.check(f"{base}/main.py") is None
    # edited: picked up (checked at most once a second)
    (tmp_path / IGNORE_FILE).write_text("main.py\n")
    now[0] += 2
    assert p.check(f"{base}/main.py") is not None
    assert p.check(f"{base}/private/notes.md") is None
    (tmp_path / IGNORE_FILE).unlink()
    now[0] += 2
    assert p.check(f"{base}/main.py") is None


def test_nested_roots_use_the_innermost_ignore_file(tmp_path):
    inner = tmp_path / "sub"
    inner.mkdir()
    (inner / IGNORE_FILE).write_text("*.txt\n")
    p = ExclusionPolicy(lambda: ())
    p.set_roots([str(tmp_path), str(inner)])
    assert p.check((inner / "a.txt").as_uri()) is not None
    assert p.check((tmp_path / "a.txt").as_uri()) is None


def test_exclusion_message_says_why_and_that_nothing_is_sent():
    why = policy().check(f"file://{ROOT}/.env.local")
    text = why.message(".env.local")
    assert ".env.local" in text and "`.env.*`" in text and "default list" in text and "never" in text


def test_exclude_setting_coercion():
    settings, problems = build_settings({"exclude": ["*.sql", "  ", " a/b "]})
    assert settings.exclude == ("*.sql", "a/b") and not problems
    settings, problems = build_settings({"exclude": "*.sql"})
    assert settings.exclude == ("*.sql",)
    settings, problems = build_settings({"exclude": [1, 2]})
    assert settings.exclude == () and "deepseek.exclude" in problems[0] and "list of strings" in problems[0]


# ---------------------------------------------------------------------------
# masking
# ---------------------------------------------------------------------------
GH = "ghp_" + "a1B2c3D4e5" * 3 + "F6g7H8"
SECRETS = {
    "aws-access-key": 'aws_id = "AKIAIOSFODNN7EXAMPLE"',
    "aws-session": 'id = "ASIAY34FZKBOKMUTVV7A"',
    "github-token": f"token: {GH}",
    "github-pat": "GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF",
    "gitlab-token": "glpat-abcdefghij0123456789",
    "slack-token": "SLACK=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
    "slack-webhook": "hook = 'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX'",
    "stripe-key": "stripe.api_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'",
    "google-api-key": "key=AIzaSyA-1234567890abcdefghijklmnopqrstu",
    "deepseek-key": "DEEPSEEK_API_KEY=sk-0123456789abcdef0123456789abcdef",
    "openai-key": 'client = OpenAI(api_key="sk-proj-AbC123dEf456GhI789jKl012MnO345")',
    "anthropic-key": "ANTHROPIC=sk-ant-api03-AbCdEf0123456789-AbCdEf0123456789",
    "jwt": "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9",
    "npm-token": "//registry.npmjs.org/:_authToken=npm_" + "A1b2C3d4E5" * 3 + "F6g7H8",
    "huggingface-token": "HF_TOKEN=hf_" + "AbCdEfGhIj" * 3 + "KlMn",
    "sendgrid-key": "SG." + "a" * 10 + "B1" * 6 + "." + "c" * 20 + "D2" * 11 + "e",
    "azure-storage": "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + "Ab1+" * 22 + "==;",
    "url-password": "DATABASE_URL = 'postgres://admin:hunter2pass@db.internal:5432/app'",
    "password-assign": 'db_password = "s3cr3tP4ss!"',
    "yaml-secret": "client_secret: 9f8e7d6c5b4a39281706",
    "json-secret": '{"apiKey": "Zx9Qw8Er7Ty6Ui5Op4"}',
    "bare-env-style": "export API_TOKEN=Zx9Qw8Er7Ty6Ui5Op4As3Df2",
    "php-define": "define('DB_PASSWORD', 'Zx9Qw8Er7Ty6');",
}
SECRET_VALUES = {
    "aws-access-key": "AKIAIOSFODNN7EXAMPLE", "aws-session": "ASIAY34FZKBOKMUTVV7A", "github-token": GH,
    "github-pat": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF",
    "gitlab-token": "glpat-abcdefghij0123456789",
    "slack-token": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
    "slack-webhook": "XXXXXXXXXXXXXXXXXXXXXXXX", "stripe-key": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "google-api-key": "AIzaSyA-1234567890abcdefghijklmnopqrstu",
    "deepseek-key": "sk-0123456789abcdef0123456789abcdef",
    "openai-key": "sk-proj-AbC123dEf456GhI789jKl012MnO345",
    "anthropic-key": "sk-ant-api03-AbCdEf0123456789-AbCdEf0123456789",
    "jwt": "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9", "npm-token": "A1b2C3d4E5A1b2C3d4E5",
    "huggingface-token": "AbCdEfGhIjAbCdEfGhIj", "sendgrid-key": "B1B1B1B1B1B1",
    "azure-storage": "Ab1+" * 22, "url-password": "hunter2pass", "password-assign": "s3cr3tP4ss!",
    "yaml-secret": "9f8e7d6c5b4a39281706", "json-secret": "Zx9Qw8Er7Ty6Ui5Op4",
    "bare-env-style": "Zx9Qw8Er7Ty6Ui5Op4As3Df2", "php-define": "Zx9Qw8Er7Ty6",
}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_each_secret_kind_is_masked(name):
    m = Masker(key=b"k" * 32)
    text = f"before\n{SECRETS[name]}\nafter\n"
    out = m.mask(text)
    assert SECRET_VALUES[name] not in out
    assert has_placeholder(out)
    assert out.startswith("before\n") and out.endswith("\nafter\n")
    assert m.unmask(out) == text


NOT_SECRETS = [
    "def tokenize(text):\n    token = next_token()\n    return token\n",
    "password = os.environ['DB_PASSWORD']\n",
    "api_key = settings.api_key\n",
    'api_key = "${API_KEY}"\n',
    "password: changeme\n",
    'password = "password"\n',
    'token_type = "access_token"\n',
    'secret = "<your-secret-here>"\n',
    "AKIA is the prefix of AWS keys\n",
    "from sklearn.model_selection import train_test_split  # sk-learn\n",
    "id = '123e4567-e89b-12d3-a456-426614174000'\n",
    "url = 'https://example.com:8443/path'\n",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n",
    "if line.startswith('-----BEGIN RSA PRIVATE KEY-----'):\n    parse(line)\n",
    "for line in lines:\n    if line.startswith('-----END RSA PRIVATE KEY-----'):\n        break\n",
    "const task = 'ask-the-user-for-a-name-please';\n",
    "😋 naïve 中文 text with no secrets\n",
]


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_ordinary_text_is_left_alone(text):
    assert Masker().mask(text) == text


PEM_BODY = ("MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n"
            "aFDrBz9vFqU4yJ4zpQ1kXxPq9Zq8b7s6T5r4E3w2Q1a0Z9y8X7w6V5u4T3s2R1q0\n")
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}-----END RSA PRIVATE KEY-----\n"


def _assert_no_key(out: str) -> None:
    for line in PEM_BODY.splitlines():
        assert line not in out and line[:20] not in out


def test_private_key_block_keeps_its_markers():
    out = Masker().mask(f"KEY = '''\n{PEM}'''\nprint(KEY)\n")
    _assert_no_key(out)
    assert "-----BEGIN RSA PRIVATE KEY-----\n<REDACTED:private-key:" in out
    assert ">\n-----END RSA PRIVATE KEY-----" in out and out.endswith("'''\nprint(KEY)\n")


def test_private_key_variants():
    m = Masker()
    # in a JSON string with \n escapes (a GCP service-account file)
    escaped = PEM.replace("\n", "\\n")
    out = m.mask('{"type": "service_account", "private_key": "' + escaped + '", "client_email": "x@y"}')
    _assert_no_key(out.replace("\\n", "\n"))
    assert '"client_email": "x@y"' in out
    # OpenSSH, EC, encrypted, PGP
    for label in ("OPENSSH PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "PGP PRIVATE KEY BLOCK"):
        text = f"-----BEGIN {label}-----\n{PEM_BODY}-----END {label}-----\n"
        _assert_no_key(m.mask(text))
    # with PEM headers
    text = ("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F17F5316E2BAC89\n\n"
            f"{PEM_BODY}-----END RSA PRIVATE KEY-----\n")
    _assert_no_key(m.mask(text))


def test_private_key_cut_by_the_prompt_window():
    m = Masker()
    # no END (the prompt stops inside the block)
    _assert_no_key(m.mask(f"x = 1\n-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}"))
    # no BEGIN (the window starts inside the block)
    out = m.mask(f"# Path: keys.py\n{PEM_BODY}-----END RSA PRIVATE KEY-----\nprint(1)\n")
    _assert_no_key(out)
    assert out.startswith("# Path: keys.py\n") and out.endswith("-----END RSA PRIVATE KEY-----\nprint(1)\n")


def test_same_secret_same_placeholder_different_secrets_differ():
    m = Masker()
    a = m.mask(f"x = 1\nt = '{GH}'\n")
    b = m.mask(f"y = 2\nz = 3\nt = '{GH}'\n")
    other = "ghp_" + "Z9y8X7w6V5" * 3 + "u4T3s2"
    c = m.mask(f"t = '{other}'\n")
    mark = a.split("t = '")[1].split("'")[0]
    assert mark in b and mark not in c and mark.startswith("<REDACTED:github-token:")
    # another process (another key) gives other placeholders: they tell nothing about the secret
    assert Masker().mask(f"t = '{GH}'\n") != m.mask(f"t = '{GH}'\n")


def test_mask_parts_across_the_cursor():
    m = Masker()
    prompt, suffix = m.mask_parts(f"x = 1\nt = '{GH[:20]}", f"{GH[20:]}'\nprint(t)\n")
    assert GH[:8] not in prompt and GH[20:] not in suffix and GH[-10:] not in prompt + suffix
    assert prompt.startswith("x = 1\nt = '<REDACTED:github-token:") and suffix == "'\nprint(t)\n"
    # a key block split by the cursor
    cut = len(PEM) // 2
    prompt, suffix = m.mask_parts(PEM[:cut], PEM[cut:] + "done\n")
    _assert_no_key(prompt + suffix)
    assert suffix.endswith("-----END RSA PRIVATE KEY-----\ndone\n")
    # nothing across the seam: each part on its own
    assert m.mask_parts("a = 1\n", "b = 2\n") == ("a = 1\n", "b = 2\n")


def test_find_secrets_spans_do_not_overlap():
    text = f"url = 'https://user:{GH}@github.com/x'\nkey = '{GH}'\n"
    spans = find_secrets(text)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert GH not in Masker().mask(text)


def test_mask_fim_keeps_head_length_right():
    other = DocumentSnapshot("file:///p/conf.py", "conf.py", "python", f"TOKEN = '{GH}'\n")
    doc = DocumentSnapshot("file:///p/main.py", "main.py", "python",
                           "import conf\nAWS = 'AKIAIOSFODNN7EXAMPLE'\ndef f():\n    \n")
    offset = doc.text.index("    \n") + 4
    fim = build_fim_prompt(doc, offset, others=(other,))
    masked = mask_fim(fim)
    assert GH not in masked.prompt and "AKIAIOSFODNN7EXAMPLE" not in masked.prompt
    assert masked.prompt[: masked.head_len].endswith("# Path: main.py\n")
    assert masked.prompt.endswith("def f():\n    ")
    clean = build_fim_prompt(DocumentSnapshot("file:///p/a.py", "a.py", "python", "x = 1\n"), 6)
    assert mask_fim(clean) is clean


def test_mask_messages_masks_content_only():
    m = Masker()
    messages = ({"role": "user", "content": f"what is {GH}?"},
                {"role": "assistant", "content": "```python\nx = 'AKIAIOSFODNN7EXAMPLE'", "prefix": True})
    out = m.mask_messages(messages)
    assert GH not in out[0]["content"] and "AKIAIOSFODNN7EXAMPLE" not in out[1]["content"]
    assert out[1]["prefix"] is True and out[1]["role"] == "assistant"
    assert messages[0]["content"] == f"what is {GH}?"  # the caller's messages are untouched


def test_unmask_leaves_unknown_placeholders():
    assert Masker().unmask("x = <REDACTED:secret:abcdef>") == "x = <REDACTED:secret:abcdef>"
    assert has_placeholder("value = '<REDACTED:api-key:0a1b2c>'") and not has_placeholder("x = 1")


def test_docs_list_every_default_pattern():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "SECRETS.md").read_text(encoding="utf-8")
    for pattern in DEFAULT_EXCLUDE:
        shown = pattern.lstrip("!").removeprefix("**/")
        assert f"`{shown}`" in doc, pattern
