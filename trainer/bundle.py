"""Write the trainer as one self-contained train_gpt.py: the file a submission ships.

The shared golfcore modules it uses (the log grammar, the limits) and the training modules
are concatenated in dependency order with their imports of each other removed, so the script
needs only torch, numpy, sentencepiece and brotli.
Packings: `plain` (readable source), `minify` (docstrings and comments dropped,
one-space indents), `lzma` (the minified source in an lzma+base85 self-extractor).

    python -m trainer.bundle -o train_gpt.py [--packing plain|minify|lzma]
"""
from __future__ import annotations

import argparse
import ast
import base64
import lzma
import re
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
GOLFCORE_DIR = PACKAGE_DIR.parent / "golfcore"
GOLFCORE_MODULES = ("vocabulary", "loggrammar")  # inlined first; they import nothing of ours
# Dependency order: each module only imports from modules listed before it.
MODULES = (
    "presets", "config", "shards", "tokenizer_bytes", "model", "rowquant", "gptq", "lqer", "quantize",
    "muon", "optimizers", "ema", "evaluate", "ttt", "artifact", "runtime", "codesize", "train",
)
PACKINGS = ("plain", "minify", "lzma")
HEADER = '''"""train_gpt.py: the golf reference trainer in one file (bundled from the `trainer` package).

    torchrun --standalone --nproc_per_node=8 train_gpt.py

Settings come from environment variables (PRESET, SEED, DATA_PATH, TOKENIZER_PATH, ...).
"""
from __future__ import annotations
'''
FOOTER = '\n\nif __name__ == "__main__":\n    main()\n'


class BundleError(RuntimeError):
    pass


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _module_body(path: Path, defined: dict[str, str]) -> str:
    """The module's source minus its future, relative and golfcore imports, after checking that
    every imported name of ours exists and no top-level name is defined twice."""
    name = path.stem
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    drop: list[tuple[int, int]] = []
    for node in tree.body:
        ours = isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").split(".")[0] == "golfcore")
        if ours:
            for alias in node.names:
                if alias.asname or alias.name not in defined:
                    raise BundleError(f"{name}.py: `from {'.' * node.level}{node.module} import {alias.name}` "
                                      "cannot be bundled")
        if ours or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            drop.append((node.lineno, node.end_lineno or node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "trainer":
            raise BundleError(f"{name}.py imports the trainer package absolutely; use a relative import")
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] in ("trainer", "golfcore") for a in node.names):
            raise BundleError(f"{name}.py: `import` of our packages cannot be bundled; use `from ... import`")
    for top in _top_level_names(tree):
        if top in defined:
            raise BundleError(f"{name}.py defines {top}, already defined in {defined[top]}.py")
        defined[top] = name
    lines = source.splitlines()
    for start, end in reversed(drop):
        del lines[start - 1 : end]
    return f"# ---- {name}.py\n" + "\n".join(lines).strip() + "\n"


def plain_source() -> str:
    defined: dict[str, str] = {}
    paths = [GOLFCORE_DIR / f"{m}.py" for m in GOLFCORE_MODULES] + [PACKAGE_DIR / f"{m}.py" for m in MODULES]
    return HEADER + "\n\n" + "\n\n".join(_module_body(p, defined) for p in paths) + FOOTER


class _DropDocstrings(ast.NodeTransformer):
    """Removes bare string statements (docstrings, including those of the concatenated modules)."""

    def generic_visit(self, node):
        super().generic_visit(node)
        body = getattr(node, "body", None)
        if isinstance(body, list) and body:
            kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                            and isinstance(s.value.value, str))]
            node.body = kept or [ast.Pass()]
        return node


def minified_source() -> str:
    tree = _DropDocstrings().visit(ast.parse(plain_source()))
    code = ast.unparse(tree)
    # ast.unparse indents by exactly four spaces and renders every string on one line,
    # so leading runs of four spaces are pure indentation.
    code = re.sub(r"^((?:    )+)", lambda m: " " * (len(m.group(1)) // 4), code, flags=re.M)
    return code + "\n"


def build_bundle(packing: str = "plain") -> bytes:
    if packing == "plain":
        return plain_source().encode("utf-8")
    if packing == "minify":
        return minified_source().encode("utf-8")
    if packing == "lzma":
        packed = base64.b85encode(lzma.compress(minified_source().encode("utf-8"), preset=9 | lzma.PRESET_EXTREME))
        return b'import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("' + packed + b'")))\n'
    raise BundleError(f"unknown packing {packing!r}; choose one of {', '.join(PACKINGS)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default="train_gpt.py", help="where to write the script (default: train_gpt.py)")
    parser.add_argument("--packing", choices=PACKINGS, default="plain", help="plain, minify or lzma (default: plain)")
    args = parser.parse_args(argv)
    try:
        data = build_bundle(args.packing)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    Path(args.output).write_bytes(data)
    print(f"wrote {args.output}: {len(data)} bytes ({args.packing}); it counts as the submission's code bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
