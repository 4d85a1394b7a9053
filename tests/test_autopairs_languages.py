"""Issue 9 follow-up (fix9): closers after the cursor in real languages.

Each case: the cursor line (``before|after``, ``after`` the editor's
auto-inserted closer), the raw model answer, the document's language and
the exact line after applying the item (the suggestion inserted at the
cursor over the ``replaced_chars`` characters after it).
"""

import pytest

from deepseek_ls.completion.postprocess import postprocess, quote_at_end, replaced_chars


def accept(before: str, after: str, raw: str, language: str) -> str:
    line_prefix = before[before.rfind("\n") + 1:]
    line_suffix = after.split("\n", 1)[0]
    text = postprocess(raw, multiline=False, line_prefix=line_prefix, line_suffix=line_suffix,
                       following=after, context_before=before, language_id=language)
    assert text, "the suggestion was dropped"
    return before + text + after[replaced_chars(text, line_prefix, line_suffix, language):]


# -- a suggestion that ends by opening a block of its own ------------------------
@pytest.mark.parametrize("language, before, after, raw, result", [
    ("javascript", "function f(", ")", "a, b) {", "function f(a, b) {"),
    ("javascript", "if (", ")", "x > 0) {", "if (x > 0) {"),
    ("javascript", "for (let i = 0; ", ")", "i < n; i++) {", "for (let i = 0; i < n; i++) {"),
    ("javascript", "const f = (", ")", "a, b) => {", "const f = (a, b) => {"),
    ("javascript", "  foo(", ")", "function (err) {", "  foo(function (err) {)"),  # own ( closed: ) kept
    ("javascript", "foo(function(", "))", "a) {", "foo(function(a) {)"),  # the outer ) stays
    ("javascript", "app.get('/', (", "))", "req, res) => {", "app.get('/', (req, res) => {)"),
    ("typescript", "xs.map((", "))", "x: number) => [", "xs.map((x: number) => [)"),
    ("javascript", "if (f(", "))", "a)) {", "if (f(a)) {"),
    ("go", "func f(", ")", "a int) error {", "func f(a int) error {"),
    ("go", "\tif err := g(", ")", "); err != nil {", "\tif err := g(); err != nil {"),
    ("c", "int main(", ")", "void) {", "int main(void) {"),
    ("cpp", "while (", ")", "it != end) {", "while (it != end) {"),
    ("java", "public int f(", ")", "int a) {", "public int f(int a) {"),
    ("typescript", "function f(", ")", "a: number): string {", "function f(a: number): string {"),
    ("rust", "fn f(", ")", "x: &str) -> usize {", "fn f(x: &str) -> usize {"),
    ("rust", "let v = vec![", "]", "1, 2].iter().map(|x| {", "let v = vec![1, 2].iter().map(|x| {"),
    ("python", "x = foo(", ")", "a) + [", "x = foo(a) + ["),
    ("python", "d = dict(", ")", "a=1, b={", "d = dict(a=1, b={)"),  # nothing closed: ) kept
    ("python", "if check(", "):", "x) and (", "if check(x) and ():"),  # code after it: kept
])
def test_a_suggestion_opening_a_block_replaces_the_closer_it_runs_through(
        language, before, after, raw, result):
    assert accept(before, after, raw, language) == result


# -- apostrophes and brackets the scan must not count ------------------------------
@pytest.mark.parametrize("language, before, after, raw, result", [
    ("rust", "fn f(", ")", "x: &'a str) -> &'a str {", "fn f(x: &'a str) -> &'a str {"),
    ("rust", "fn f<'a>(", ")", "x: &'a str)", "fn f<'a>(x: &'a str)"),
    ("rust", "fn name(", ")", "&self) -> &'static str {", "fn name(&self) -> &'static str {"),
    ("rust", "let c = f(", ")", "'(')", "let c = f('(')"),            # a char literal
    ("rust", "let c = f(", ")", "'\\'')", "let c = f('\\'')"),
    ("rust", "'outer: loop { g(", ")", "x); break 'outer; }", "'outer: loop { g(x); break 'outer; }"),
    ("javascript", "f(", ")", "x) // don't", "f(x) // don't"),
    ("javascript", "f(", ")", "x) /* it's (odd */", "f(x) /* it's (odd */"),
    ("go", "f(", ")", "x) // (see below", "f(x) // (see below"),
    ("c", "f(", ")", "x); /* it's */", "f(x); /* it's */"),
    ("python", "x = foo(", ")", "a)  # it's", "x = foo(a)  # it's"),
    ("python", "x = foo(", ")", "a)  # (see", "x = foo(a)  # (see"),
    ("ruby", "puts(", ")", "x) # it's (", "puts(x) # it's ("),
    ("lua", "print(", ")", "x) -- it's (", "print(x) -- it's ("),
    ("sql", "SELECT count(", ")", "*) -- it's (", "SELECT count(*) -- it's ("),
    # the comment after the cursor (already in the line) is not code either
    ("javascript", "f(", ") // it's (", "x);", "f(x); // it's ("),
    ("python", "foo(", ")  # it's (", "a)", "foo(a)  # it's ("),
    ("rust", "fn f(", ") // don't", "x: &'a str)", "fn f(x: &'a str) // don't"),
])
def test_comments_and_lifetimes_do_not_hide_the_closer(language, before, after, raw, result):
    assert accept(before, after, raw, language) == result


def test_a_comment_or_lifetime_before_the_cursor_is_not_an_open_literal():
    assert quote_at_end("fn f<'a>(x: &'a str, ", "rust") == ""
    assert quote_at_end("let c = '", "rust") == "'"
    assert quote_at_end("x = 1  # it's ", "python") == ""
    assert quote_at_end("f(1) // don't ", "go") == ""
    assert quote_at_end("x = 'it", "python") == "'"
    # without the language a plain scan: an apostrophe opens a literal
    assert quote_at_end("x = 1  # it's ", "") == "'"


def test_brackets_in_comments_of_the_context_are_not_openers():
    # the ( in the comment on the line above would otherwise keep the ) of the answer
    before = "/* see (1 */\nlet x = f(\n    a,\n    "
    raw = "b)"
    text = postprocess(raw, multiline=False, line_prefix="    ", line_suffix="", following="",
                       context_before=before, language_id="javascript")
    assert text == "b)"
    before = "# note (\nx = "
    text = postprocess("y)", multiline=False, line_prefix="x = ", line_suffix="", following="",
                       context_before=before, language_id="python")
    assert text == "y"  # the ( is in a comment: the ) closes nothing


# -- JS/TS regex literals -----------------------------------------------------------
@pytest.mark.parametrize("language, before, after, raw, result", [
    ("javascript", "s.match(", ")", "/\\)/)", "s.match(/\\)/)"),
    ("javascript", "s.replace(", ")", "/[)]/g, '')", "s.replace(/[)]/g, '')"),
    ("typescript", "s.split(", ")", "/[(\\[]/);", "s.split(/[(\\[]/);"),
    ("javascript", "const r = [", "]", "/\\]/, /'/];", "const r = [/\\]/, /'/];"),
    ("javascript", "x = f(", ")", "a / b) / (c)", "x = f(a / b) / (c)"),  # divisions
    ("javascript", "x = f(", ")", "a[0] / 2, b) / (c)", "x = f(a[0] / 2, b) / (c)"),
    ("javascript", "ok(", ")", "(function () { return /\\)/; })())",
     "ok((function () { return /\\)/; })())"),
    ("typescript", "if (", ")", "typeof /[(]/ === 'object') {", "if (typeof /[(]/ === 'object') {"),
    ("javascript", "return f(", ")", "x, /'/)", "return f(x, /'/)"),  # a quote in a regex
    ("javascript", "const ok = f(", ")", "x) && /\\(/.test(y)", "const ok = f(x) && /\\(/.test(y)"),
])
def test_closers_inside_a_regex_literal_are_not_counted(language, before, after, raw, result):
    assert accept(before, after, raw, language) == result


# -- a blank line at a partial indentation: the block stays consistent ---------------
def accept_block(before: str, after: str, raw: str, language: str) -> str:
    line_prefix = before[before.rfind("\n") + 1:]
    text = postprocess(raw, multiline=True, line_prefix=line_prefix, line_suffix=after.split("\n", 1)[0],
                       following=after, context_before=before, language_id=language)
    assert text, "the suggestion was dropped"
    return before + text + after


@pytest.mark.parametrize("language, before, after, raw, lines", [
    # the first line's whitespace is on top of the cursor's: the next line says so
    ("python", "class A:\n    def f(self):\n    ", "\n", "    x = 1\n        return x",
     ["        x = 1", "        return x"]),
    ("go", "func f() {\n\t", "\n}\n", "\ta()\n\t\tb()", ["\t\ta()", "\t\tb()"]),
    ("javascript", "function f() {\n  ", "\n}\n", "  a();\n    b();", ["    a();", "    b();"]),
    ("c", "int f(void) {\n  ", "\n}\n", "  a();\n    return 0;", ["    a();", "    return 0;"]),
    ("python", "def f():\n    for x in xs:\n    ", "\n", "    y = x\n        print(y)",
     ["        y = x", "        print(y)"]),
    # the first line's whitespace repeats the cursor's: stripped as before
    ("python", "def f():\n    ", "\n", "    x = 1\n    return x", ["    x = 1", "    return x"]),
    ("go", "func f() {\n\t", "\n}\n", "\ta()\n\tb()", ["\ta()", "\tb()"]),
    # a first line that opens a block: the next line is deeper either way
    ("python", "def f(x):\n    ", "\n", "    if x:\n        return 1", ["    if x:", "        return 1"]),
    ("javascript", "function f() {\n  ", "\n}\n", "  if (x) {\n    a();\n  }", ["  if (x) {", "    a();", "  }"]),
])
def test_a_blank_lines_block_keeps_one_indentation(language, before, after, raw, lines):
    result = accept_block(before, after, raw, language)
    start = before.count("\n")
    assert result.split("\n")[start:start + len(lines)] == lines


def test_a_single_line_at_a_partial_indentation_is_stripped():
    # ambiguous (column 4 + 4, or column 4): models mostly repeat the indentation
    assert accept_block("def f():\n    ", "\n", "    return 1", "python") == "def f():\n    return 1\n"
    assert accept_block("func f() {\n\t", "\n}\n", "\treturn", "go") == "func f() {\n\treturn\n}\n"


def test_a_first_line_alone_leaves_the_indentation_undecided():
    from deepseek_ls.completion.postprocess import indent_undecided
    # the stream has only the first line: the next one decides, nothing is shown early
    assert indent_undecided("    x = 1", "    ")
    assert indent_undecided("\ta()", "\t")
    assert not indent_undecided("    x = 1\n        return x", "    ")  # decided
    assert not indent_undecided("    if x:", "    ")  # opens a block: stripped either way
    assert not indent_undecided("x = 1", "    ")  # no extra indentation
    assert not indent_undecided("    x = 1", "def f(")  # not a blank line
