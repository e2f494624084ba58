import ast

import pytest

from trainer import bundle
from trainer.bundle import BundleError, build_bundle


@pytest.mark.parametrize("packing", ["plain", "minify", "lzma"])
def test_every_packing_compiles_and_shrinks(packing):
    code = build_bundle(packing)
    compile(code, "train_gpt.py", "exec")
    if packing != "plain":
        assert len(code) < len(build_bundle("plain"))


def test_plain_bundle_is_one_module_with_a_main_guard():
    tree = ast.parse(build_bundle("plain"))
    assert isinstance(tree.body[1], ast.ImportFrom) and tree.body[1].module == "__future__"
    assert not [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.level > 0]
    names = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert len(names) == len(set(names)) and "main" in names and "GPT" in names and "Muon" in names
    assert ast.unparse(tree.body[-1]).startswith("if __name__ == '__main__':")


def test_minified_bundle_drops_docstrings():
    code = build_bundle("minify").decode()
    assert "Muon: momentum SGD" not in code
    assert "def _parse(name: str, raw: str, kind: str) -> object:\n text = raw.strip()" in code  # one-space indents


def test_a_name_defined_twice_is_refused(tmp_path, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / f"{name}.py").write_text("from __future__ import annotations\n\ndef helper():\n    return 1\n")
    monkeypatch.setattr(bundle, "PACKAGE_DIR", tmp_path)
    monkeypatch.setattr(bundle, "MODULES", ("a", "b"))
    with pytest.raises(BundleError, match="b.py defines helper, already defined in a.py"):
        build_bundle("plain")


def test_an_aliased_relative_import_is_refused(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text("X = 1\n")
    (tmp_path / "b.py").write_text("from .a import X as Y\n")
    monkeypatch.setattr(bundle, "PACKAGE_DIR", tmp_path)
    monkeypatch.setattr(bundle, "MODULES", ("a", "b"))
    with pytest.raises(BundleError, match="cannot be bundled"):
        build_bundle("plain")
