"""Names written in other scripts are asked of the editor too (review of issue 12): the
pattern of ``editor_names`` took only ASCII identifiers, so ``面积(w, h)`` or ``größe()``
(valid names in Python, TypeScript/JavaScript and Go) were never sent in
``deepseek/definitions``, and their definitions never came from the editor. Positions are
code points here (the LSP side converts them to the negotiated encoding)."""

from __future__ import annotations

import pytest

from deepseek_ls.context.parse import editor_names

CASES = {
    "python": 's = "🚀🚀"; v = 面积(2, 3) + größe() + _私有.x\n',
    "typescript": 'const s = "🚀"; const v = 面积(2, 3) + größe() + $元素.x;\n',
    "go": 's := "🚀"; v := 面积(2, 3) + größe() + 包裹.X\n',
}


@pytest.mark.parametrize("language", sorted(CASES))
def test_names_in_other_scripts_are_asked_at_their_code_point_column(language: str) -> None:
    line = CASES[language]
    names = editor_names([line, ""], 0, language, set(), 16)
    for name in ("面积", "größe"):
        assert name in names, names
        assert names[name] == (0, line.index(name))
    qualifier = {"python": "_私有", "typescript": "$元素", "go": "包裹"}[language]
    assert names.get(qualifier) == (0, line.index(qualifier))
    assert not any(ch in "".join(names) for ch in "🚀\"'")  # nothing from inside the string


def test_a_name_never_starts_with_a_digit() -> None:
    names = editor_names(["x = 9abc + 面积9(1)", ""], 0, "python", set(), 16)
    assert "9abc" not in names and "面积9" in names
