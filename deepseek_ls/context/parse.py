"""Parse one file with tree-sitter: its imports, top-level definitions and identifier uses.

Languages: Python, TypeScript/TSX, JavaScript/JSX and Go, through the
maintained grammar wheels (``tree-sitter-python`` ...). Nothing here reads
files or knows the workspace: :mod:`.resolve` maps imports to files.

Positions are 0-based lines and **code-point** columns (tree-sitter gives
UTF-8 byte columns; they are converted per line).
"""

from __future__ import annotations

import bisect
import builtins
import dataclasses
import functools
import keyword
import math
import re
from dataclasses import dataclass, field
from typing import Any

import tree_sitter as ts

#: chars per token for the cheap estimate (DeepSeek's tokenizer gives ~3.5-4 on code)
CHARS_PER_TOKEN = 3.5
#: a definition is sent whole when it has at most this many lines (and fits its item budget)
SHORT_LINES = 12
#: members listed in a class/interface/struct outline at most
OUTLINE_MEMBERS = 24

_EXT_LANGUAGE = {
    ".py": "python", ".pyi": "python",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".go": "go",
}
_LSP_LANGUAGE = {
    "python": "python", "typescript": "typescript", "typescriptreact": "tsx",
    "javascript": "javascript", "javascriptreact": "javascript", "go": "go",
}


def rough_tokens(text: str) -> int:
    """Cheap token estimate of ``text``: characters / :data:`CHARS_PER_TOKEN`, rounded up.

    The context budget's rule (fast, run per item); not the chat prompt's deliberately high
    :func:`deepseek_ls.prompt.chat.estimate_tokens`, which fits text into a model's window."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def language_of(path: str, language_id: str = "") -> str | None:
    """The grammar for a file (``python``, ``typescript``, ``tsx``, ``javascript``, ``go``) or None."""
    by_id = _LSP_LANGUAGE.get(language_id.lower())
    if by_id is not None:
        if by_id == "typescript" and path.endswith(".tsx"):
            return "tsx"
        return by_id
    dot = path.rfind(".")
    return _EXT_LANGUAGE.get(path[dot:].lower()) if dot >= 0 else None


@functools.cache
def _parser(language: str) -> ts.Parser:
    if language == "python":
        import tree_sitter_python as mod
        capsule = mod.language()
    elif language in ("typescript", "tsx"):
        import tree_sitter_typescript as tsmod
        capsule = tsmod.language_tsx() if language == "tsx" else tsmod.language_typescript()
    elif language == "javascript":
        import tree_sitter_javascript as jsmod
        capsule = jsmod.language()
    elif language == "go":
        import tree_sitter_go as gomod
        capsule = gomod.language()
    else:
        raise ValueError(f"no grammar for {language!r}")
    return ts.Parser(ts.Language(capsule))


@dataclass(frozen=True)
class Import:
    """One name an import binds in a file.

    ``module`` is the specifier as written (``..a.b``, ``./x``, ``github.com/a/b``);
    ``name`` the imported member (``None``: the binding is the module itself,
    used as ``local.X``).
    """

    local: str
    module: str
    name: str | None  # "*": ``from m import *`` (every public name of the module)
    line: int
    #: the local name was written (``import x as y``, Go ``import y "a/x"``), not derived
    aliased: bool = False


@dataclass(frozen=True)
class Definition:
    """A top-level definition: ``text`` is what goes into the prompt (the
    whole definition when short, else its signature/outline; the first line
    always as written), ``line`` its first line (0-based) in the file."""

    name: str
    kind: str
    line: int
    end_line: int
    text: str

    @property
    def tokens(self) -> int:
        return rough_tokens(self.text)


@dataclass
class Parsed:
    """What one parse of a file gives."""

    language: str
    imports: list[Import] = field(default_factory=list)
    definitions: dict[str, Definition] = field(default_factory=dict)
    #: re-exports ``export {A} from './x'`` / ``from .x import A`` in ``__init__``: name -> module
    reexports: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: ``export * from './x'``: modules
    star_exports: list[str] = field(default_factory=list)
    #: identifier uses: name -> lines (0-based, sorted, unique)
    uses: dict[str, list[int]] = field(default_factory=dict)
    #: qualified uses ``q.Name`` (q a plain identifier): (q, Name) -> lines
    qualified: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: first use of each name: (line, code-point column)
    first_use: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Go: the package name
    package: str = ""
    #: TypeScript/JavaScript: the name of the ``export default`` definition ("" if none)
    default_export: str = ""
    #: every identifier-like word of the file (strings and comments too; for popularity)
    words: frozenset[str] = frozenset()
    text: str = ""
    #: the syntax tree has errors (half-typed code): definitions may be missing or cut
    has_error: bool = False

    def lines_of(self, names: set[str] | frozenset[str]) -> dict[str, list[int]]:
        """Lines (0-based, sorted) where each of ``names`` occurs as a word, not after a
        ``.`` (``x.name`` is another object's member). A regex over the text: cheap,
        also counts strings and comments."""
        names = {n for n in names if n in self.words}
        if not names:
            return {}
        pattern = re.compile(r"(?<![\w$.])(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
                             + r")(?![\w$])")
        out: dict[str, list[int]] = {}
        for m in pattern.finditer(self.text):
            line = self.row_of(m.start())
            found = out.setdefault(m.group(1), [])
            if not found or found[-1] != line:
                found.append(line)
        return out

    def qualified_of(self, qualifiers: set[str]) -> dict[tuple[str, str], list[int]]:
        """Lines of each ``q.Name`` for ``q`` in ``qualifiers`` (regex, as :meth:`lines_of`)."""
        qualifiers = {q for q in qualifiers if all(part in self.words for part in q.split("."))}
        if not qualifiers:
            return {}
        pattern = re.compile(r"(?<![\w$.])(" + "|".join(map(re.escape, sorted(qualifiers, key=len, reverse=True)))
                             + r")\s*\.\s*([A-Za-z_$][\w$]*)")
        out: dict[tuple[str, str], list[int]] = {}
        for m in pattern.finditer(self.text):
            line = self.row_of(m.start())
            found = out.setdefault((m.group(1), m.group(2)), [])
            if not found or found[-1] != line:
                found.append(line)
        return out

    def row_of(self, offset: int) -> int:
        """The 0-based line of character ``offset`` of the text."""
        return bisect.bisect_right(self._line_starts(), offset) - 1

    def _line_starts(self) -> list[int]:
        starts = self.__dict__.get("_starts")
        if starts is None:
            starts = [0, *(m.end() for m in _NEWLINE.finditer(self.text))]
            self.__dict__["_starts"] = starts
        return starts


_NEWLINE = re.compile("\n")
_WORDS = re.compile(r"[A-Za-z_$\u00c0-\uffff][\w$]*")


def _text(node: ts.Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def _string_value(node: ts.Node | None) -> str:
    return _text(node).strip("'\"`")


_IDENT_TYPES = {"identifier", "type_identifier", "property_identifier", "field_identifier",
                "package_identifier", "shorthand_property_identifier"}
_QUALIFIED = {"attribute": ("object", "attribute"), "member_expression": ("object", "property"),
              "selector_expression": ("operand", "field"), "qualified_type": ("package", "name"),
              "nested_type_identifier": ("module", "name")}


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def _docstring_line(body: ts.Node | None) -> str | None:
    """The first line of a Python docstring at the start of ``body`` (with its quotes closed)."""
    if body is None or not body.named_children:
        return None
    first = body.named_children[0]
    if first.type != "expression_statement" or not first.named_children or first.named_children[0].type != "string":
        return None
    raw = _text(first.named_children[0])
    lines = raw.split("\n")
    if len(lines) <= 3:
        return raw
    quote = '"""' if raw.lstrip("rbuRBU").startswith('"""') else "'''" if "'''" in raw[:6] else '"'
    return f"{lines[0].rstrip()} ...{quote}"


class _Source:
    """The file's bytes and line starts, for code-point columns and line slices."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8", "surrogatepass")
        self.lines = text.split("\n")
        self._byte_lines: list[bytes] | None = None

    def column(self, row: int, byte_col: int) -> int:
        if self._byte_lines is None:
            self._byte_lines = self.data.split(b"\n")
        line = self._byte_lines[row] if row < len(self._byte_lines) else b""
        return len(line[:byte_col].decode("utf-8", "replace"))

    def span(self, start: ts.Node, end_byte: int) -> str:
        return self.data[start.start_byte:end_byte].decode("utf-8", "replace")

    def line_range(self, first: int, last: int) -> str:
        return "\n".join(self.lines[first:last + 1])


def _render(src: _Source, node: ts.Node, start: ts.Node, language: str, item_chars: int,
            members: list[ts.Node] | None, body: ts.Node | None, doc_node: ts.Node | None = None) -> str:
    """The text for a definition: whole when short, else its head and an outline ("" when
    ``item_chars`` is 0: not rendered)."""
    if item_chars <= 0:
        return ""
    first_row, last_row = start.start_point.row, node.end_point.row
    # whole lines: the first line as written (its indentation too), the last to its end
    whole = src.line_range(first_row, last_row)
    if last_row - first_row + 1 <= SHORT_LINES and len(whole) <= item_chars:
        return whole
    if body is None:  # no body to cut at: the first lines that fit
        return _cut_text(whole, item_chars, language)
    body_row = body.start_point.row
    cut = src.lines[body_row][:src.column(body_row, body.start_point.column)]
    if body_row > first_row and not cut.strip():
        head_lines = src.lines[first_row:body_row]  # the body starts on a line of its own
    else:
        head_lines = [*src.lines[first_row:body_row], cut]
    head_text = "\n".join(line.rstrip() for line in head_lines).rstrip()
    if language != "python" and not head_text.endswith("{"):
        head_text += " {"
    indent = "    " if language == "python" else "  "
    parts = [head_text]
    doc = _docstring_line(doc_node if doc_node is not None else body) if language == "python" else None
    if doc:
        parts.append("\n".join(indent + d.strip() if i == 0 else d for i, d in enumerate(doc.split("\n"))))
    total = sum(len(p) + 1 for p in parts)
    for member in (members or [])[:OUTLINE_MEMBERS]:
        line = _member_line(src, member, language)
        if not line:
            continue
        if total + len(line) + 1 > item_chars:
            continue  # a shorter member may still fit
        parts.append(line)
        total += len(line) + 1
    parts.append(indent + "..." if language == "python" else indent + "// ...\n}")
    return "\n".join(parts)


def _member_line(src: _Source, member: ts.Node, language: str) -> str:
    """One member of a class/interface/struct as a line (a method's signature without body)."""
    node = member
    if language == "python" and node.type == "decorated_definition":
        node = node.child_by_field_name("definition") or node
    body = node.child_by_field_name("body")
    row = member.start_point.row
    indent = src.lines[row][:len(src.lines[row]) - len(src.lines[row].lstrip())]
    name = _text(node.child_by_field_name("name"))
    limit = CONSTRUCTOR_CHARS if name == ("__init__" if language == "python" else "constructor") else MEMBER_CHARS
    if language == "python" and node.type == "function_definition" and body is not None:
        params = node.child_by_field_name("parameters")
        ret = node.child_by_field_name("return_type")
        prefix = "async def" if _text(node).startswith("async") else "def"
        returns = f" -> {_text(ret)}" if ret else ""
        for form in _parameter_forms(params, language):
            if len(sig := f"{indent}{prefix} {name}{form}{returns}") <= limit:
                return sig + ": ..."
        return f"{indent}{prefix} {name}(...)" + (returns if len(returns) < 60 else "") + ": ..."
    if language == "python" and node.type == "expression_statement":
        line = src.lines[row]
        return line.rstrip() if len(line) <= 120 else ""
    if body is not None and body.start_point.row >= row:
        sig = src.span(member, body.start_byte).strip()
        params = node.child_by_field_name("parameters")
        full = _text(params) if params is not None else ""
        shortened = ([sig.replace(full, form, 1) for form in _parameter_forms(params, language)]
                     if full and full in sig else [sig])
        for candidate in shortened:
            if line := _one_line(indent + candidate, limit):
                return line + ("" if language == "python" else ";")
        return ""
    if language == "python":
        return ""
    line = src.lines[row]
    if member.end_point.row > row:
        line = indent + src.span(member, member.end_byte)
    return _one_line(line)


#: a member's line in an outline at most (characters); longer signatures are shortened by
#: :func:`_parameter_forms`
MEMBER_CHARS = 160
#: a constructor's line (``__init__``, ``constructor``): a call of the class needs its parameters
CONSTRUCTOR_CHARS = 320
#: a parameter's default value is kept in a shortened signature when at most this long
_DEFAULT_CHARS = 24


def _parameter_forms(params: ts.Node | None, language: str) -> list[str]:
    """Ways to write the parameter list ``params``, longest first: as written (folded to one line),
    without type annotations, then the names alone. A call needs the names (keyword arguments,
    the order) more than their types: a constructor of 15 annotated parameters fits an outline
    line only without its types (``click``'s ``ProgressBar.__init__`` was shown as ``(...)``)."""
    if params is None:
        return []
    untyped: list[str] = []
    names: list[str] = []
    for p in params.named_children:
        if p.type == "comment":
            continue
        if language == "python":  # a typed or defaulted parameter's name (or splat) comes first
            wrapped = p.type in ("typed_parameter", "typed_default_parameter", "default_parameter")
            name_node = p.named_children[0] if wrapped and p.named_children else p  # else *args, *, / as written
        else:  # TypeScript/JavaScript: required_parameter / optional_parameter / a bare pattern
            name_node = p.child_by_field_name("pattern") or p
        name = _text(name_node)
        if p.type == "optional_parameter":
            name += "?"
        value = p.child_by_field_name("value")
        untyped.append(f"{name}={_text(value)}" if value is not None and len(_text(value)) <= _DEFAULT_CHARS
                       else f"{name}=..." if value is not None else name)
        names.append(name)
    forms = [_one_line(_text(params), 10**6), f"({', '.join(untyped)})", f"({', '.join(names)})"]
    return list(dict.fromkeys(forms))  # in order, each once


def _one_line(text: str, limit: int = MEMBER_CHARS) -> str:
    """``text`` with its line breaks and runs of blanks folded (indentation kept); "" when too long."""
    indent = text[:len(text) - len(text.lstrip())]
    folded = indent + " ".join(text.split())
    return folded if len(folded) <= limit else ""


def _own_line(src: _Source, node: ts.Node) -> bool:
    """True when ``node`` starts its line (only blanks before it): not a trailing comment."""
    row = node.start_point.row
    return not src.lines[row][:src.column(row, node.start_point.column)].strip()


def _comment_above(src: _Source, node: ts.Node, max_chars: int = 0) -> str:
    """The doc comment right above ``node`` (Go/TS), or "": comments on lines of their own
    (a trailing comment of the line above is not one).

    ``max_chars`` 0: short (at most 3 of its first 4 lines); else the whole comment, its lines
    unindented, up to :data:`SHORT_LINES` lines and ``max_chars`` characters (the lines nearest
    ``node`` kept)."""
    prev = node.prev_sibling
    if prev is None or prev.type != "comment" or prev.end_point.row != node.start_point.row - 1 \
            or not _own_line(src, prev):
        return ""
    rows = [prev.start_point.row]
    limit = SHORT_LINES if max_chars else 4
    p = prev.prev_sibling
    while (p is not None and p.type == "comment" and p.end_point.row == rows[0] - 1 and len(rows) < limit
           and _own_line(src, p)):
        rows.insert(0, p.start_point.row)
        p = p.prev_sibling
    text = src.line_range(rows[0], prev.end_point.row)
    lines = text.split("\n")
    if max_chars:
        lines = [line.strip() for line in lines]
        while len(lines) > 1 and sum(len(line) + 1 for line in lines) > max_chars:
            lines.pop(0)
        return "\n".join(lines) + "\n"
    if len(lines) > 3:
        lines = [*lines[:2], lines[-1]] if lines[-1].strip().endswith("*/") else lines[:2]
    return "\n".join(lines) + "\n"


def _dedent(text: str) -> str:
    """``text`` without its first line's indentation, on every line that has it."""
    lines = text.split("\n")
    indent = lines[0][:len(lines[0]) - len(lines[0].lstrip())]
    return "\n".join(line[len(indent):] if line.startswith(indent) else line for line in lines)


def _cut_text(text: str, item_chars: int, language: str) -> str:
    """``text`` whole when short (:data:`SHORT_LINES`, ``item_chars``), else its first lines that fit
    and an ellipsis comment."""
    lines = text.split("\n")
    if len(lines) <= SHORT_LINES and len(text) <= item_chars:
        return text
    out: list[str] = []
    total = 0
    for line in lines[:SHORT_LINES]:
        if total + len(line) + 1 > item_chars and out:
            break
        out.append(line)
        total += len(line) + 1
    out.append("    ..." if language == "python" else "  // ...")
    return "\n".join(out)


def _collect_uses(src: _Source, root: ts.Node, parsed: Parsed) -> None:
    """Every identifier use (name -> lines) and ``q.Name`` use in the file."""
    uses: dict[str, set[int]] = {}
    qualified: dict[tuple[str, str], set[int]] = {}
    first: dict[str, tuple[int, int]] = {}
    cursor = root.walk()
    stack = True
    while stack:
        node = cursor.node
        if node is not None:
            kind = node.type
            if kind in _IDENT_TYPES:
                name = _text(node)
                row = node.start_point.row
                uses.setdefault(name, set()).add(row)
                if name not in first:
                    first[name] = (row, src.column(row, node.start_point.column))
            elif kind in _QUALIFIED:
                left_field, right_field = _QUALIFIED[kind]
                left = node.child_by_field_name(left_field)
                right = node.child_by_field_name(right_field)
                if left is not None and right is not None and left.type in ("identifier", "package_identifier"):
                    qualified.setdefault((_text(left), _text(right)), set()).add(node.start_point.row)
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                stack = False
                break
    parsed.uses = {k: sorted(v) for k, v in uses.items()}
    parsed.qualified = {k: sorted(v) for k, v in qualified.items()}
    parsed.first_use = first


# -- Python -----------------------------------------------------------------

def _python(src: _Source, nodes: list[ts.Node], parsed: Parsed, item_chars: int) -> None:
    for node in nodes:
        kind = node.type
        if kind == "import_statement":
            for child in node.children_by_field_name("name"):
                if child.type == "aliased_import":
                    module = _text(child.child_by_field_name("name"))
                    parsed.imports.append(Import(_text(child.child_by_field_name("alias")), module, None,
                                                 node.start_point.row, aliased=True))
                else:
                    module = _text(child)
                    parsed.imports.append(Import(module.split(".")[0], module.split(".")[0], None,
                                                 node.start_point.row))
                    if "." in module:  # `import a.b` then `a.b.f()`: the submodule, used as `a.b.X`
                        parsed.imports.append(Import(module, module, None, node.start_point.row))
        elif kind == "import_from_statement":
            module = _text(node.child_by_field_name("module_name"))
            if any(c.type == "wildcard_import" for c in node.named_children):
                parsed.imports.append(Import("*", module, "*", node.start_point.row))
            for child in node.children_by_field_name("name"):
                if child.type == "aliased_import":
                    name = _text(child.child_by_field_name("name"))
                    local = _text(child.child_by_field_name("alias"))
                else:
                    name = local = _text(child)
                parsed.imports.append(Import(local, module, name, node.start_point.row))
        elif kind in ("function_definition", "class_definition", "decorated_definition"):
            inner = node.child_by_field_name("definition") if kind == "decorated_definition" else node
            if inner is None:
                continue
            name = _text(inner.child_by_field_name("name"))
            body = inner.child_by_field_name("body")
            is_class = inner.type == "class_definition"
            members = [m for m in (body.named_children if body is not None else [])
                       if m.type in ("function_definition", "decorated_definition", "expression_statement")
                       and not (m.type == "expression_statement" and m.named_children
                                and m.named_children[0].type == "string")] if is_class else None
            text = _render(src, node, node, "python", item_chars, members, body)
            parsed.definitions[name] = Definition(name, "class" if is_class else "function",
                                                  node.start_point.row, node.end_point.row, text)
        elif kind == "expression_statement" and node.named_children:
            assign = node.named_children[0]
            if assign.type != "assignment":
                continue
            names: list[str] = []
            chain: ts.Node | None = assign
            while chain is not None and chain.type == "assignment":  # `A = B = 1`: A and B
                left = chain.child_by_field_name("left")
                if left is not None and left.type == "identifier":
                    names.append(_text(left))
                elif left is not None and left.type in ("pattern_list", "tuple_pattern"):  # `A, B = 1, 2`
                    names.extend(_text(n) for n in left.named_children if n.type == "identifier")
                chain = chain.child_by_field_name("right")
            if not names:
                continue
            text = _python_comment_above(src, node, item_chars) + _render(
                src, node, node, "python", min(item_chars, 400), None, None)
            for name in names:
                parsed.definitions[name] = Definition(name, "variable", node.start_point.row, node.end_point.row,
                                                      text)


#: the statements that hold other statements (where an import may hide: ``if TYPE_CHECKING:``,
#: ``try: import x``, an import inside a function or method)
_PY_CONTAINERS = frozenset({
    "function_definition", "class_definition", "decorated_definition", "block", "if_statement",
    "elif_clause", "else_clause", "try_statement", "except_clause", "except_group_clause", "finally_clause",
    "with_statement", "for_statement", "while_statement", "match_statement", "case_clause"})
#: an indented import line (an import inside another statement)
_PY_INNER_IMPORT = re.compile(r"^[ \t]+(?:from[ \t]+\S+[ \t]+)?import\b", re.M)


def _python_inner_imports(src: _Source, root: ts.Node, parsed: Parsed, item_chars: int) -> None:
    """The imports inside other statements: ``if TYPE_CHECKING:`` / ``try:`` blocks and the
    bodies of functions and classes (``def f(): from .x import g``). Function-local imports
    are scoped to their function; the file's context takes them as its own. A walk of the
    statements only (no expressions), and none when no indented import line exists."""
    if not _PY_INNER_IMPORT.search(parsed.text):
        return
    stack = [n for n in root.named_children if n.type in _PY_CONTAINERS]
    while stack:
        node = stack.pop()
        for child in node.named_children:
            if child.type in ("import_statement", "import_from_statement"):
                _python(src, [child], parsed, item_chars)
            elif child.type in _PY_CONTAINERS:
                stack.append(child)


def _python_comment_above(src: _Source, node: ts.Node, item_chars: int) -> str:
    """The ``#`` comment lines right above a module-level assignment (``#: doc`` style), whole
    up to :data:`SHORT_LINES` lines and a quarter of ``item_chars`` (the nearest lines kept)."""
    if item_chars <= 0:
        return ""
    row = node.start_point.row
    lines: list[str] = []
    total = 0
    while row > 0 and len(lines) < SHORT_LINES:
        line = src.lines[row - 1]
        if not line.startswith("#") or line.startswith("#!") or total + len(line) + 1 > item_chars // 4:
            break
        lines.insert(0, line.rstrip())
        total += len(line) + 1
        row -= 1
    return "".join(line + "\n" for line in lines)


# -- TypeScript / JavaScript ---------------------------------------------------

_TS_DECLS = {"function_declaration": "function", "generator_function_declaration": "function",
             "class_declaration": "class", "abstract_class_declaration": "class",
             "interface_declaration": "interface", "type_alias_declaration": "type",
             "enum_declaration": "enum", "lexical_declaration": "const", "variable_declaration": "var",
             "function_signature": "function"}


def _ts(src: _Source, root: ts.Node, parsed: Parsed, item_chars: int) -> None:
    aliases: list[tuple[str, str]] = []  # `export { a as b }` within the file: (b, a)
    for node in root.named_children:
        kind = node.type
        if kind == "import_statement":
            source = _string_value(node.child_by_field_name("source"))
            clause = next((c for c in node.named_children if c.type == "import_clause"), None)
            if clause is None:
                continue
            for part in clause.named_children:
                if part.type == "identifier":  # default import
                    parsed.imports.append(Import(_text(part), source, "default", node.start_point.row))
                elif part.type == "namespace_import":
                    ident = next((c for c in part.named_children if c.type == "identifier"), None)
                    if ident is not None:
                        parsed.imports.append(Import(_text(ident), source, None, node.start_point.row))
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        if spec.type != "import_specifier":
                            continue
                        name = _text(spec.child_by_field_name("name"))
                        alias = spec.child_by_field_name("alias")
                        parsed.imports.append(Import(_text(alias) if alias else name, source, name,
                                                     node.start_point.row))
            continue
        if kind == "expression_statement" and node.named_children \
                and node.named_children[0].type == "assignment_expression":
            _cjs_export(src, node, node.named_children[0], parsed, item_chars, aliases)
            continue
        decl = node
        if kind == "export_statement":
            origin = node.child_by_field_name("source")
            clause = next((c for c in node.named_children if c.type == "export_clause"), None)
            if origin is not None:
                if clause is None:
                    parsed.star_exports.append(_string_value(origin))
                else:
                    for exported, name in _export_specs(clause):
                        parsed.reexports[exported] = (_string_value(origin), name)
                continue
            if clause is not None:  # `export { a as b }`: importers ask for b, the file defines a
                aliases.extend(_export_specs(clause))
                continue
            decl = node.child_by_field_name("declaration") or next(
                (c for c in node.named_children if c.type in _TS_DECLS), node)
            if any(c.type == "default" for c in node.children):
                value = node.child_by_field_name("value")
                if value is not None and value.type == "identifier":  # `export default make;`
                    parsed.default_export = _text(value)
                elif decl is not node:  # `export default function make() {}` / `class Store {}`
                    parsed.default_export = _text(decl.child_by_field_name("name"))
        if decl.type not in _TS_DECLS:
            continue
        if _require(node, parsed):
            continue
        doc = _comment_above(src, node)
        if decl.type in ("lexical_declaration", "variable_declaration"):
            declarators = [d for d in decl.named_children if d.type == "variable_declarator"]
            for declarator in declarators:
                name_node = declarator.child_by_field_name("name")
                if name_node is None or name_node.type != "identifier":
                    continue
                value = declarator.child_by_field_name("value")
                body = value.child_by_field_name("body") if value is not None and value.type in (
                    "arrow_function", "function_expression", "function") else None
                if len(declarators) > 1:  # `export const a = 1, b = 2`: this name's own declaration
                    text = doc + _ts_declarator(src, node, decl, declarator, item_chars)
                else:
                    text = doc + _render(src, node, node, "typescript", item_chars, None, body)
                parsed.definitions[_text(name_node)] = Definition(_text(name_node), "const", node.start_point.row,
                                                                  node.end_point.row, text)
            continue
        name = _text(decl.child_by_field_name("name"))
        if not name:
            continue
        body = decl.child_by_field_name("body")
        members = [m for m in body.named_children if m.type != "comment"] if body is not None and decl.type in (
            "class_declaration", "abstract_class_declaration", "interface_declaration") else None
        if decl.type in ("function_declaration", "generator_function_declaration"):
            members = None
        if decl.type == "enum_declaration" and body is not None:  # a long enum: an outline of its members
            members = [m for m in body.named_children if m.type != "comment"]
        text = doc + _render(src, node, node, "typescript", item_chars, members,
                             body if decl.type != "type_alias_declaration" else None)
        parsed.definitions[name] = Definition(name, _TS_DECLS[decl.type], node.start_point.row, node.end_point.row,
                                              text)
    imported = {imp.local: imp for imp in parsed.imports if imp.name is not None}
    for exported, local in aliases:
        if exported in parsed.definitions:
            continue
        if local in parsed.definitions:
            parsed.definitions[exported] = dataclasses.replace(parsed.definitions[local], name=exported)
        elif local in imported:  # `import { x } from './a'; export { x as y }`: a re-export
            parsed.reexports.setdefault(exported, (imported[local].module, imported[local].name or local))
    _ts_inner_imports(root, parsed)


def _export_specs(clause: ts.Node) -> list[tuple[str, str]]:
    """The names of an ``export { a, b as c }`` clause: (exported name, name in the file)."""
    out = []
    for spec in clause.named_children:
        name = _text(spec.child_by_field_name("name"))
        alias = spec.child_by_field_name("alias")
        out.append((_text(alias) if alias is not None else name, name))
    return out


#: ``require(`` / ``import(`` anywhere (a dynamic import, or a require inside a function)
_TS_CALL_IMPORT = re.compile(r"\b(?:require|import)\s*\(")
_TS_DECLARATIONS = ("lexical_declaration", "variable_declaration")


def _ts_inner_imports(root: ts.Node, parsed: Parsed) -> None:
    """``const m = await import("./x")`` and ``const {f} = require("./x")`` below the top level
    (inside a function, a block): their bindings, as the top-level ones (:func:`_require`).
    Only the nodes spanning a line that calls ``require(`` or ``import(`` are visited (a
    CommonJS file calls ``require(`` at its top: no walk of its whole tree for that)."""
    rows = sorted({parsed.row_of(m.start()) for m in _TS_CALL_IMPORT.finditer(parsed.text)})
    if not rows:
        return

    def spans(node: ts.Node) -> bool:
        i = bisect.bisect_left(rows, node.start_point.row)
        return i < len(rows) and rows[i] <= node.end_point.row

    stack = [root]
    while stack:
        for child in stack.pop().named_children:
            if not spans(child):
                continue
            if child.parent != root and child.type in _TS_DECLARATIONS and _require(child, parsed):
                continue
            stack.append(child)


#: CommonJS ``exports.name = …`` / ``module.exports.name = …`` (the name)
_CJS_NAMED = re.compile(r"(?:module\.)?exports\.([A-Za-z_$][\w$]*)")
_JS_FUNCTIONS = frozenset({"function_expression", "function", "arrow_function", "generator_function",
                           "generator_function_expression"})


def _cjs_export(src: _Source, node: ts.Node, assign: ts.Node, parsed: Parsed, item_chars: int,
                aliases: list[tuple[str, str]]) -> None:
    """CommonJS exports: ``module.exports = function name() {}`` (or a class, an arrow, a name
    defined elsewhere) is what ``const x = require(…)`` gets (the default export);
    ``exports.name = …`` and ``module.exports.name = …`` define ``name`` (a name defined
    elsewhere: as ``export { a as name }``)."""
    left, right = assign.child_by_field_name("left"), assign.child_by_field_name("right")
    if left is None or right is None:
        return
    target = "".join(_text(left).split())
    if right.type == "identifier":
        if target == "module.exports":
            parsed.default_export = _text(right)
        elif (m := _CJS_NAMED.fullmatch(target)) is not None:
            aliases.append((m.group(1), _text(right)))
        return
    if target == "module.exports":
        if right.type not in _JS_FUNCTIONS and right.type not in ("class", "class_expression"):
            return  # an object literal: its shorthand names are the file's own definitions
        name = _text(right.child_by_field_name("name")) or "module.exports"
        parsed.default_export = name
    elif (m := _CJS_NAMED.fullmatch(target)) is not None:
        name = m.group(1)
    else:
        return
    kind = "class" if right.type in ("class", "class_expression") else \
        "function" if right.type in _JS_FUNCTIONS else "const"
    body = right.child_by_field_name("body") if kind != "const" else None
    text = _comment_above(src, node) + _render(src, node, node, "typescript", item_chars, None, body)
    parsed.definitions[name] = Definition(name, kind, node.start_point.row, node.end_point.row, text)


def _ts_declarator(src: _Source, node: ts.Node, decl: ts.Node, declarator: ts.Node, item_chars: int) -> str:
    """One declarator of a multi-name ``const``/``let``/``var`` statement ``decl`` (``node``: it, or
    the ``export`` around it) as a statement of its own: ``export const b: number = 2;`` (its value
    cut when long; "" when ``item_chars`` is 0)."""
    if item_chars <= 0:
        return ""
    kind = next((c for c in decl.children if c.type in ("const", "let", "var")), None)
    keyword = _one_line(src.span(node, kind.end_byte), 10**6) + " " if kind is not None else ""
    return _cut_text(keyword + _dedent(src.span(declarator, declarator.end_byte)) + ";", item_chars, "typescript")


def _require(node: ts.Node, parsed: Parsed) -> bool:
    """CommonJS ``const {a, b: c} = require("./m")`` / ``const m = require("./m")``, and the
    dynamic ``const m = await import("./m")``: its imports (True when ``node`` is such a
    declaration)."""
    if node.type not in ("lexical_declaration", "variable_declaration"):
        return False
    found = False
    for declarator in node.named_children:
        value = declarator.child_by_field_name("value") if declarator.type == "variable_declarator" else None
        if value is not None and value.type == "await_expression" and value.named_children:
            value = value.named_children[0]  # `await import("./m")`
        if value is None or value.type != "call_expression" or \
                _text(value.child_by_field_name("function")) not in ("require", "import"):
            continue
        args = value.child_by_field_name("arguments")
        strings = [a for a in (args.named_children if args is not None else []) if a.type == "string"]
        target = declarator.child_by_field_name("name")
        if not strings or target is None:
            continue
        module, row = _string_value(strings[0]), node.start_point.row
        found = True
        if target.type == "identifier":  # `m.f()`, and `m()` for `module.exports = function`
            parsed.imports.append(Import(_text(target), module, None, row, aliased=True))
            parsed.imports.append(Import(_text(target), module, "default", row, aliased=True))
        elif target.type == "object_pattern":
            for part in target.named_children:
                if part.type == "shorthand_property_identifier_pattern":
                    parsed.imports.append(Import(_text(part), module, _text(part), row))
                elif part.type == "pair_pattern":
                    key, local = part.child_by_field_name("key"), part.child_by_field_name("value")
                    if key is not None and local is not None and local.type == "identifier":
                        parsed.imports.append(Import(_text(local), module, _text(key), row, aliased=True))
    return found


# -- Go -----------------------------------------------------------------------

def _go(src: _Source, root: ts.Node, parsed: Parsed, item_chars: int) -> None:
    for node in root.named_children:
        kind = node.type
        if kind == "package_clause":
            parsed.package = _text(next((c for c in node.named_children if c.type == "package_identifier"), None))
        elif kind == "import_declaration":
            specs = [s for c in node.named_children
                     for s in ([c] if c.type == "import_spec" else c.named_children if c.type == "import_spec_list"
                               else []) if s.type == "import_spec"]
            for spec in specs:
                path = _string_value(spec.child_by_field_name("path"))
                alias = spec.child_by_field_name("name")
                local = _text(alias) if alias is not None else path.rsplit("/", 1)[-1]
                if local in ("_", "."):
                    continue
                parsed.imports.append(Import(local, path, None, spec.start_point.row, aliased=alias is not None))
        elif kind == "function_declaration":
            name = _text(node.child_by_field_name("name"))
            text = _comment_above(src, node) + _render(src, node, node, "go", item_chars, None,
                                                       node.child_by_field_name("body"))
            parsed.definitions[name] = Definition(name, "func", node.start_point.row, node.end_point.row, text)
        elif kind == "method_declaration":
            receiver = _text(node.child_by_field_name("receiver"))
            rtype = re.sub(r"[^\w]", " ", receiver).split()
            name = f"{rtype[-1] if rtype else '?'}.{_text(node.child_by_field_name('name'))}"
            text = _comment_above(src, node) + _render(src, node, node, "go", item_chars, None,
                                                       node.child_by_field_name("body"))
            parsed.definitions[name] = Definition(name, "method", node.start_point.row, node.end_point.row, text)
        elif kind in ("type_declaration", "const_declaration", "var_declaration"):
            doc = _comment_above(src, node)
            specs = [c for c in node.named_children if c.type in ("type_spec", "type_alias", "const_spec", "var_spec")]
            for c in node.named_children:
                if c.type in ("var_spec_list", "const_spec_list"):
                    specs.extend(s for s in c.named_children if s.type in ("const_spec", "var_spec"))
            grouped = len(specs) > 1 or any(ch.type == "(" for ch in node.children)
            for index, spec in enumerate(specs):
                names = [_text(n) for n in spec.children_by_field_name("name") if n.is_named]
                if not names:
                    continue
                if grouped and spec.type in ("const_spec", "var_spec"):
                    text = _go_grouped_spec(src, kind, specs, index, item_chars)
                    for name in names:
                        parsed.definitions[name] = Definition(name, "const" if kind == "const_declaration" else "var",
                                                              spec.start_point.row, spec.end_point.row, text)
                    continue
                target = spec if grouped else node
                body = None
                members = None
                if spec.type == "type_spec":
                    type_node = spec.child_by_field_name("type")
                    if type_node is not None and type_node.type in ("struct_type", "interface_type"):
                        body = next((c for c in type_node.named_children
                                     if c.type in ("field_declaration_list",)), type_node if type_node.type ==
                                    "interface_type" else None)
                        if body is not None:
                            members = [m for m in body.named_children if m.type != "comment"]
                keyword = {"type_declaration": "type", "const_declaration": "const",
                           "var_declaration": "var"}[kind]
                text = _render(src, target, target, "go", item_chars, members, body)
                if grouped:
                    text = f"{keyword} {text.lstrip()}" if not text.lstrip().startswith(keyword) else text
                    text = _comment_above(src, spec) + text
                else:
                    text = doc + text
                for name in names:
                    parsed.definitions[name] = Definition(name, keyword, target.start_point.row,
                                                          target.end_point.row, text)


def _go_grouped_spec(src: _Source, kind: str, specs: list[ts.Node], index: int, item_chars: int) -> str:
    """One name of a ``const ( ... )`` / ``var ( ... )`` group: its whole doc comment and its line(s)
    (type, value, trailing comment) as a declaration of its own (``const X T = v // c``). A
    constant with neither type nor value repeats the last one above that has them (Go's implicit
    repetition, e.g. ``iota``): it is shown in a group after that one, so its type and value
    read right (``""`` when ``item_chars`` is 0)."""
    if item_chars <= 0:
        return ""
    spec = specs[index]
    keyword = "const" if kind == "const_declaration" else "var"
    own = src.line_range(spec.start_point.row, spec.end_point.row)
    source = None
    if keyword == "const" and spec.child_by_field_name("value") is None and spec.child_by_field_name("type") is None:
        source = next((specs[i] for i in range(index - 1, -1, -1)
                       if specs[i].child_by_field_name("value") is not None), None)
    if source is None:
        body = _cut_text(_dedent(own), max(item_chars // 2, item_chars - 200), "go")
        doc = _comment_above(src, spec, max(0, item_chars - len(body) - len(keyword) - 2) or 1)
        return f"{doc}{keyword} {body}"
    first = _cut_text(src.line_range(source.start_point.row, source.end_point.row), item_chars // 3, "go")
    gap = "\t// ...\n" if specs.index(source) < index - 1 else ""
    body = _cut_text(own, item_chars // 3, "go")
    doc = _comment_above(src, spec, max(1, item_chars - len(first) - len(body) - 20))
    doc = "".join(f"\t{line}\n" for line in doc.splitlines())
    return f"{keyword} (\n{first}\n{gap}{doc}{body}\n)"


def parse(text: str, language: str, item_tokens: int = 200, *, render: bool = True, uses: bool = False) -> Parsed:
    """Parse ``text`` as ``language`` (see :func:`language_of`).

    ``item_tokens`` bounds each definition's rendered text (estimated tokens):
    longer definitions are cut to their signature (and an outline of their
    members). ``render=False``: definitions without text (names and lines only,
    cheaper). ``uses=True``: also fill ``uses``/``qualified``/``first_use`` from the
    syntax tree (a walk of every node: costly on big files; the engine uses the
    regex-based :meth:`Parsed.lines_of` instead). Never raises on bad code.
    """
    src = _Source(text)
    tree = _parser(language).parse(src.data)
    parsed = Parsed(language)
    item_chars = int(item_tokens * CHARS_PER_TOKEN) if render else 0
    parsed.text = text
    parsed.words = frozenset(_WORDS.findall(text))
    root: Any = tree.root_node
    parsed.has_error = bool(root.has_error)
    if language == "python":
        _python(src, root.named_children, parsed, item_chars)
        _python_inner_imports(src, root, parsed, item_chars)
        for imp in parsed.imports:  # `from .x import A` in a package's __init__ re-exports A
            if imp.name == "*":
                parsed.star_exports.append(imp.module)
            elif imp.name is not None:
                parsed.reexports.setdefault(imp.local, (imp.module, imp.name))
    elif language == "go":
        _go(src, root, parsed, item_chars)
    else:
        _ts(src, root, parsed, item_chars)
    if uses:
        _collect_uses(src, tree.root_node, parsed)
    if parsed.has_error:
        _recover_imports(text, language, parsed)
    return parsed


#: a line that starts an import (any of the languages): the imports sit at the top of a file
_IMPORT_START = re.compile(r"^[ \t]*(?:from[ \t]+\S+[ \t]+import\b|import\b|export\b[^\n]*\bfrom\b|"
                           r"(?:const|let|var)\b[^\n]*\brequire\(|package\b)", re.M)


def _recover_imports(text: str, language: str, parsed: Parsed) -> None:
    """Half-typed code further down can make the parser wrap the whole file in an error and lose
    every import (seen on ``json/tool.py`` mid-way through a multi-line call). Parse the file's
    head alone (up to the end of its last import statement) and take its imports when it finds
    more."""
    starts = list(_IMPORT_START.finditer(text))
    if not starts:
        return
    last = starts[-1]
    end, depth = last.end(), 0
    for i in range(last.start(), len(text)):  # to the end of that statement (brackets closed)
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "\n" and depth <= 0:
            end = i + 1
            break
    else:
        end = len(text)
    head = text[:end]
    if len(head) == len(text):
        return
    again = parse(head, language, render=False)
    if len(again.imports) > len(parsed.imports):
        parsed.imports = again.imports
        for key, value in again.reexports.items():
            parsed.reexports.setdefault(key, value)
        parsed.star_exports = parsed.star_exports or again.star_exports
    if not parsed.package:
        parsed.package = again.package


def definition_at(parsed: Parsed, line: int) -> Definition | None:
    """The top-level definition whose lines contain ``line`` (0-based), if any."""
    best = None
    for d in parsed.definitions.values():
        if d.line <= line <= d.end_line and (best is None or d.line >= best.line):
            best = d
    return best


# -- names worth asking the editor about ----------------------------------------

_JS_WORDS = """break case catch class const continue debugger default delete do else export extends false finally
for function if import in instanceof let new null return super switch this throw true try typeof var void while with
yield async await of static get set undefined NaN Infinity arguments require module exports console window document
globalThis process Math JSON Object Array String Number Boolean Symbol BigInt Promise Error TypeError RangeError Map
Set WeakMap WeakSet Date RegExp parseInt parseFloat isNaN setTimeout clearTimeout setInterval clearInterval"""
_TS_WORDS = """abstract any as asserts declare enum implements infer interface is keyof namespace never private
protected public readonly satisfies type unique unknown string number boolean object symbol bigint override
Partial Required Readonly Record Pick Omit ReturnType Parameters Awaited"""
_GO_WORDS = """break case chan const continue default defer else fallthrough for func go goto if import interface map
package range return select struct switch type var true false nil iota bool byte complex64 complex128 error float32
float64 int int8 int16 int32 int64 rune string uint uint8 uint16 uint32 uint64 uintptr any comparable append cap
clear close complex copy delete imag len make max min new panic print println real recover"""

#: per language: keywords, literals and built-in names (never a project definition)
RESERVED: dict[str, frozenset[str]] = {
    "python": frozenset([*keyword.kwlist, *keyword.softkwlist, *dir(builtins), "self", "cls"]),
    "javascript": frozenset(_JS_WORDS.split()),
    "typescript": frozenset((_JS_WORDS + " " + _TS_WORDS).split()),
    "tsx": frozenset((_JS_WORDS + " " + _TS_WORDS).split()),
    "go": frozenset(_GO_WORDS.split()),
}
#: an identifier: a letter of any script (``面积``, ``größe``), ``_`` or ``$``, then word characters
_NAME = re.compile(r"(?:[^\W\d]|\$)[\w$]*")
_QUOTED = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|`[^`]*`")
_LINE_COMMENT = {"python": "#"}


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group(0))


def editor_names(lines: list[str], line: int, language: str, skip: set[str] | frozenset[str], limit: int,
                 above: int = 40, below: int = 10) -> dict[str, tuple[int, int]]:
    """At most ``limit`` names used in ``lines[line - above : line + below + 1]`` worth asking the
    editor's language servers about: name -> (0-based line, code-point column) of its last use
    in those lines (a use rather than the import at the top).

    Left out: keywords, literals and built-ins of ``language`` (:data:`RESERVED`), names in
    ``skip`` (resolved already), one-letter names, words in strings and line comments.
    Names used as a call, a qualifier or a type (``name(``, ``name.``, ``Name``) come first,
    then the others; nearest the cursor first within each group."""
    reserved = RESERVED.get(language, frozenset())
    comment = _LINE_COMMENT.get(language, "//")
    last = min(len(lines) - 1, line + below)
    rows = range(last, max(0, line - above) - 1, -1)
    found: dict[str, tuple[int, int, int, int]] = {}  # name -> (group, distance, row, column)
    for row in rows:
        text = _QUOTED.sub(_blank, lines[row])
        cut = text.find(comment)
        if cut >= 0:
            text = text[:cut]
        for m in reversed(list(_NAME.finditer(text))):
            name = m.group(0)
            if name in skip or name in reserved or len(name) < 2:
                continue
            after = text[m.end():].lstrip()[:1]
            group = 0 if after in ("(", ".") or name[0].isupper() else 1
            old = found.get(name)
            if old is None:
                found[name] = (group, abs(row - line), row, m.start())
            elif group < old[0]:  # called or qualified somewhere: first group, same position
                found[name] = (group, *old[1:])
    best = sorted(found.items(), key=lambda kv: kv[1][:2])[:limit]
    return {name: (row, column) for name, (_g, _d, row, column) in best}
