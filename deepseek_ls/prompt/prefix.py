"""Prefix-completion code actions: request building and answer-to-edit (pure).

Each action becomes one ``POST /beta/chat/completions`` request whose last
message is the assistant's answer already begun::

    {"role": "assistant", "content": "```python\\n<code so far>", "prefix": true}

with ``stop: ["```"]``. The model continues the code and stops where it
would close the fence, so its answer is code and nothing needs parsing.
A :class:`PrefixPlan` holds the request and the document region that the
answer replaces; :meth:`PrefixPlan.edits` turns the answer into minimal
edits (code-point offsets).

Actions: ``complete`` (finish the function or block at the cursor),
``docstring`` (Python: add a docstring to the function at the cursor),
``fix`` (rewrite the lines of a diagnostic) and ``rewrite`` (rewrite a
selection following an instruction).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..api.chat import ChatRequest
from ..edits import Edit, minimal_edits
from ..snapshot import DocumentSnapshot
from .chat import context_for, language_tag

ACTIONS_SYSTEM_PROMPT = (
    "You are DeepSeek, an expert programmer editing code inside the user's editor. "
    "You answer with code only, inside one fenced code block, with no explanation. "
    "Keep the file's style and indentation, and change nothing you were not asked to change."
)
FENCE = "```"
#: max_tokens per action (a docstring is short; a rewrite scales with its region).
COMPLETE_MAX_TOKENS = 1024
DOCSTRING_MAX_TOKENS = 400
REWRITE_MIN_TOKENS = 256
REWRITE_MAX_TOKENS = 4096
#: Lines looked at above the cursor to find the function or block that contains it.
SCAN_LINES = 200

_DEF = re.compile(r"^([ \t]*)(?:async[ \t]+)?def[ \t]+\w+")
_STRING_START = re.compile(r"""^[ \t]*(?:[rRbBuUfF]{0,2})(?:\"\"\"|'''|"|')""")


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _line_end(text: str, offset: int) -> int:
    end = text.find("\n", offset)
    end = len(text) if end < 0 else end
    return end - 1 if end > 0 and text[end - 1] == "\r" else end


def _line_no(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


@dataclass(frozen=True)
class PrefixPlan:
    """One prefix-completion request and how its answer becomes an edit."""

    kind: str
    messages: tuple[dict[str, Any], ...]
    start: int                 # region of the document that the new text replaces
    end: int
    lead: str = ""             # text before the model's continuation (already in the prefix)
    close: str = ""            # text after it (e.g. a docstring's closing quotes)
    max_tokens: int = COMPLETE_MAX_TOKENS
    stop: tuple[str, ...] = (FENCE,)
    keep_newline: bool = False  # the region ends with a line break that must stay
    newline: str = "\n"

    def request(self, model: str, max_tokens: int | None = None) -> ChatRequest:
        """The non-streamed, non-thinking ``/beta/chat/completions`` request."""
        limit = min(self.max_tokens, max_tokens) if max_tokens else self.max_tokens
        return ChatRequest(model=model, messages=self.messages, thinking=False, max_tokens=limit,
                           stop=self.stop, stream=False, beta=True, temperature=0.0)

    def replacement(self, continuation: str) -> str:
        """The new text of the region, given the model's continuation."""
        if self.kind == "complete":
            return continuation.rstrip()
        if self.kind == "docstring":
            body = continuation.strip("\r\n").rstrip()
            body = body.removesuffix('"""').rstrip()
            indent = _indent_of(self.lead.lstrip("\n"))
            if "\n" in body:
                return f'{self.lead}{body}\n{indent}"""\n'
            return f'{self.lead}{body.strip()}"""\n'
        # fix / rewrite: the model rewrote the region, starting after `lead` (its indentation)
        text = (self.lead + continuation.lstrip("\r\n") if continuation.startswith(("\n", "\r\n"))
                else self.lead + continuation)
        text = _reindent(text.rstrip(), self.lead)
        return text + self.newline if self.keep_newline else text

    def edits(self, text: str, continuation: str) -> list[Edit]:
        """Minimal edits applying the answer to ``text`` (the document the plan was made from)."""
        new = self.replacement(continuation)
        if self.kind in ("complete", "docstring"):
            return [Edit(self.start, self.end, new)] if new.strip() else []
        if not new.strip():
            return []
        return minimal_edits(text, self.start, self.end, new)


def _reindent(text: str, base: str) -> str:
    """Indent continuation lines that the model wrote with less than the region's base indentation."""
    lines = text.split("\n")
    rest = [line for line in lines[1:] if line.strip()]
    if not base or not rest:
        return text
    least = min(len(_indent_of(line)) for line in rest)
    if least >= len(base):
        return text
    pad = base[: len(base) - least] if set(base) == {base[0]} else base
    return "\n".join([lines[0]] + [pad + line if line.strip() else line for line in lines[1:]])


def _messages(doc: DocumentSnapshot, start: int, end: int, instruction: str,
              prefix_code: str) -> tuple[dict[str, Any], ...]:
    context = context_for(doc.path, doc.language_id, doc.text, start, end)
    if context.selection:  # the model needs the file around the region, not only the region
        context = context_for(doc.path, doc.language_id, doc.text, start, start)
    tag = language_tag(doc.language_id)
    return (
        {"role": "system", "content": ACTIONS_SYSTEM_PROMPT},
        {"role": "user", "content": f"{context.render()}\n\n{instruction}"},
        {"role": "assistant", "content": f"{FENCE}{tag}\n{prefix_code}", "prefix": True},
    )


def _block_start(text: str, offset: int) -> int:
    """Start of the function or top-level block containing ``offset`` (a line start)."""
    start = _line_start(text, offset)
    cursor_line = text[start:_line_end(text, offset)]
    here = len(_indent_of(cursor_line)) if cursor_line.strip() else None
    pos = start
    best = start
    for _ in range(SCAN_LINES):
        if pos == 0:
            break
        prev = _line_start(text, pos - 1)
        line = text[prev:_line_end(text, prev)]
        pos = prev
        if not line.strip():
            continue
        indent = len(_indent_of(line))
        if here is None:
            here = indent + 1
        if indent < here:
            best = prev
            here = indent
            if indent == 0:
                break
    return best


def plan_complete(doc: DocumentSnapshot, offset: int) -> PrefixPlan:
    """Finish the function or block at the cursor: the model continues from the cursor."""
    text = doc.text
    offset = max(0, min(offset, len(text)))
    start = _block_start(text, offset)
    line = _line_no(text, offset)
    instruction = (f"Continue the code at line {line} of `{doc.path}`: finish the function or block "
                   f"that the cursor is in, then close the code block. Do not repeat code that is "
                   f"already there.")
    return PrefixPlan("complete", _messages(doc, offset, offset, instruction, text[start:offset]),
                      start=offset, end=offset, max_tokens=COMPLETE_MAX_TOKENS)


def _signature_end(text: str, def_start: int) -> int | None:
    """Offset just after the line break that ends a Python ``def`` signature, or None."""
    depth = 0
    pos = def_start
    while pos < len(text):
        end = _line_end(text, pos)
        code = text[pos:end].split("#", 1)[0].rstrip()
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        if depth <= 0 and code.endswith(":"):
            nl = text.find("\n", end)
            return len(text) if nl < 0 else nl + 1
        nl = text.find("\n", end)
        if nl < 0:
            return None
        pos = nl + 1
    return None


def docstring_site(doc: DocumentSnapshot, offset: int) -> tuple[int, int, str, str] | None:
    """Where a docstring goes for the Python function at the cursor (cheap: no prompt built).

    Returns ``(def_start, insert_at, lead, signature)``, or None when the
    cursor is not in an undocumented function.
    """
    if doc.language_id != "python":
        return None
    text = doc.text
    pos = _line_start(text, max(0, min(offset, len(text))))
    for _ in range(SCAN_LINES):
        line = text[pos:_line_end(text, pos)]
        if _DEF.match(line):
            break
        if pos == 0:
            return None
        pos = _line_start(text, pos - 1)
    else:
        return None
    def_start = pos
    def_indent = _indent_of(text[def_start:_line_end(text, def_start)])
    body = _signature_end(text, def_start)
    if body is None:
        return None
    if offset > body:  # the cursor must be in the signature or the body, not after the function
        scan = body
        while scan < offset:
            line = text[scan:_line_end(text, scan)]
            if line.strip() and len(_indent_of(line)) <= len(def_indent):
                return None
            nl = text.find("\n", scan)
            if nl < 0:
                break
            scan = nl + 1
    first_body = body
    while first_body < len(text) and not text[first_body:_line_end(text, first_body)].strip():
        nl = text.find("\n", first_body)
        if nl < 0:
            break
        first_body = nl + 1
    body_line = text[first_body:_line_end(text, first_body)]
    if body_line.strip() and _STRING_START.match(body_line):
        return None  # already documented
    indent = (_indent_of(body_line) if body_line.strip() and len(_indent_of(body_line)) > len(def_indent)
              else def_indent + "    ")
    lead = f'{indent}"""'
    signature = text[def_start:body]
    if not signature.endswith("\n"):
        signature += "\n"
        lead = "\n" + lead
    return def_start, body, lead, signature


def plan_docstring(doc: DocumentSnapshot, offset: int) -> PrefixPlan | None:
    """Add a docstring to the Python function at the cursor (None: no function, or it has one)."""
    site = docstring_site(doc, offset)
    if site is None:
        return None
    def_start, body, lead, signature = site
    line = _line_no(doc.text, def_start)
    instruction = (f"Write the docstring of the function at line {line} of `{doc.path}`: a one-line "
                   f"summary in the imperative mood; then, only if useful, a blank line and short notes on "
                   f"arguments, return value and errors. Stop after the docstring's closing quotes.")
    prefix_code = signature + lead.lstrip("\n")
    return PrefixPlan("docstring", _messages(doc, def_start, def_start, instruction, prefix_code),
                      start=body, end=body, lead=lead, max_tokens=DOCSTRING_MAX_TOKENS,
                      stop=('"""', FENCE))


def _region_plan(kind: str, doc: DocumentSnapshot, start: int, end: int, what: str) -> PrefixPlan:
    text = doc.text
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    if start > end:
        start, end = end, start
    line_start = _line_start(text, start)
    lead = ""
    if not text[line_start:start].strip():  # the region starts its line: rewrite whole lines
        start = line_start
        lead = _indent_of(text[start:_line_end(text, start)])
    keep_newline = end > start and text[end - 1] == "\n"  # whole lines selected: the break stays
    old = text[start:end].removesuffix("\n").removesuffix("\r")
    first, last = _line_no(text, start), _line_no(text, start + len(old))
    instruction = (f"{what}\n\nLines {first}-{last} of `{doc.path}` are:\n\n{FENCE}{language_tag(doc.language_id)}\n"
                   f"{old}\n{FENCE}\n\nReply with the new version of these lines only, with their "
                   f"indentation, then close the code block.")
    tokens = min(REWRITE_MAX_TOKENS, max(REWRITE_MIN_TOKENS, len(old) // 2 + REWRITE_MIN_TOKENS))
    newline = "\r\n" if text[start:end].endswith("\r\n") else "\n"
    return PrefixPlan(kind, _messages(doc, start, end, instruction, lead), start=start, end=end, lead=lead,
                      max_tokens=tokens, keep_newline=keep_newline, newline=newline)


def plan_fix(doc: DocumentSnapshot, start: int, end: int, message: str) -> PrefixPlan:
    """Fix the problem reported on the lines of ``[start, end)`` (whole lines are rewritten)."""
    text = doc.text
    start = _line_start(text, max(0, min(start, len(text))))
    if end > start and _line_start(text, end) == end and end > 0:
        end -= 1  # a diagnostic ending at column 0 ends on the previous line
    end = _line_end(text, max(start, min(end, len(text))))
    what = f"Fix this problem reported by a diagnostic: {' '.join(message.split())}"
    return _region_plan("fix", doc, start, end, what)


def plan_rewrite(doc: DocumentSnapshot, start: int, end: int, instruction: str) -> PrefixPlan:
    """Rewrite the selection ``[start, end)`` following ``instruction``."""
    what = f"Rewrite the selected code following this instruction: {' '.join(instruction.split())}"
    return _region_plan("rewrite", doc, start, end, what)


def title_snippet(message: str, limit: int = 60) -> str:
    """A short one-line form of a diagnostic message for an action title."""
    one = " ".join(message.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"
