"""Decode JSON from outside (the editor, the DeepSeek API) without crashing on hostile shapes.

``json.loads`` raises more than ``ValueError``: a deeply nested body
(``[[[[…]]]]`` a thousand deep) raises ``RecursionError``, an absurd one
``MemoryError``. Python 3.11 also refuses integers of more than 4300
digits (``ValueError``). :func:`loads` turns all of these into one
:class:`ValueError` with a short reason, so every caller has one failure
to handle.
"""

from __future__ import annotations

import json
from typing import Any


def loads(data: str | bytes | bytearray) -> Any:
    """``json.loads`` that only ever raises ``ValueError`` (message: the reason, no data)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except MemoryError:
        raise ValueError("the JSON is too large to decode") from None
    except UnicodeDecodeError:
        raise ValueError("the JSON is not valid UTF-8") from None
    except ValueError as exc:
        raise ValueError(str(exc) or "not JSON") from None
    except TypeError as exc:  # not text at all
        raise ValueError(f"not JSON text ({exc})") from None


def clean_text(text: str) -> str:
    """``text`` with every lone UTF-16 surrogate (half an emoji) replaced by U+FFFD.

    Such text comes from an editor's bad edit or a ``"\\ud83d"`` escape in JSON;
    UTF-8 cannot encode it, so a file, the ledger or a terminal would refuse it.
    A surrogate pair split in two code points is joined back into its character.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
