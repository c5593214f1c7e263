#!/usr/bin/env python3
"""Syntax-check Swift sources with tree-sitter-swift.

Run by check-swift-syntax.sh inside its venv (needs the `tree-sitter` and
`tree-sitter-swift` wheels). Usage:

    swift_syntax_check.py [--exclude NAME]... [--allow-empty] [--max-per-file N] PATH...

PATH is a .swift file (always checked) or a directory (every *.swift below it,
skipping directories whose name is excluded). For each file with syntax errors
it prints one line per ERROR/MISSING node:

    path:LINE:COL: error: <description>

(LINE and COL are 1-based; COL counts characters.) Then a summary line.
Exit status: 0 = all files parse cleanly, 1 = syntax errors found,
2 = usage error / no Swift file found (unless --allow-empty).
"""

from __future__ import annotations

import argparse
import os
import sys

# Directory names skipped when walking a directory (compared case-insensitively).
# Generated uniffi bindings trip known false positives in the grammar
# (e.g. `@_documentation(visibility: private)` right before `#endif`).
DEFAULT_EXCLUDES = {
    "generated",
    "generated-bindings",
    "generated_bindings",
    "generatedbindings",
    ".build",
    ".git",
    ".swiftpm",
    "deriveddata",
    "pods",
}


def collect(paths: list[str], excludes: set[str]) -> tuple[list[str], list[str]]:
    files: list[str] = []
    missing: list[str] = []
    for p in paths:
        if os.path.isfile(p):
            files.append(p)
        elif os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if d.lower() not in excludes)
                for n in sorted(names):
                    if n.endswith(".swift"):
                        files.append(os.path.join(root, n))
        else:
            missing.append(p)
    return files, missing


def col_chars(src: bytes, row_starts: list[int], row: int, byte_col: int) -> int:
    start = row_starts[row] if row < len(row_starts) else 0
    return len(src[start : start + byte_col].decode("utf-8", errors="replace")) + 1


def snippet(src: bytes, node) -> str:
    text = src[node.start_byte : node.end_byte].decode("utf-8", errors="replace")
    text = " ".join(text.split())
    if len(text) > 40:
        text = text[:37] + "..."
    return text


def problems(tree, src: bytes):
    """Yield (row, byte_col, message) for outermost ERROR nodes and all MISSING nodes."""
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_missing:
            yield node.start_point[0], node.start_point[1], f"missing `{node.type}`"
            continue
        if node.is_error:
            text = snippet(src, node)
            msg = f"syntax error near `{text}`" if text else "syntax error"
            yield node.start_point[0], node.start_point[1], msg
            # MISSING nodes inside an ERROR are still worth reporting.
            inner = list(node.children)
            while inner:
                n = inner.pop()
                if n.is_missing:
                    yield n.start_point[0], n.start_point[1], f"missing `{n.type}`"
                elif n.has_error:
                    inner.extend(n.children)
            continue
        if node.has_error:
            stack.extend(reversed(node.children))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Syntax-check Swift files with tree-sitter-swift.")
    ap.add_argument("paths", nargs="+", help=".swift files or directories")
    ap.add_argument("--exclude", action="append", default=[], metavar="DIRNAME",
                    help="extra directory name to skip while walking (repeatable)")
    ap.add_argument("--allow-empty", action="store_true",
                    help="exit 0 when no .swift file is found")
    ap.add_argument("--max-per-file", type=int, default=20,
                    help="report at most this many problems per file (default 20)")
    ap.add_argument("-q", "--quiet", action="store_true", help="do not list clean files")
    args = ap.parse_args(argv)

    import tree_sitter
    import tree_sitter_swift

    language = tree_sitter.Language(tree_sitter_swift.language())
    parser = tree_sitter.Parser(language)

    excludes = DEFAULT_EXCLUDES | {e.lower() for e in args.exclude}
    files, missing = collect(args.paths, excludes)
    for m in missing:
        print(f"{m}: error: no such file or directory", file=sys.stderr)
    if missing:
        return 2
    if not files:
        print("swift-syntax: no .swift files found", file=sys.stderr)
        return 0 if args.allow_empty else 2

    bad = 0
    for path in files:
        with open(path, "rb") as fh:
            src = fh.read()
        tree = parser.parse(src)
        if not tree.root_node.has_error:
            if not args.quiet:
                print(f"ok    {path}")
            continue
        bad += 1
        row_starts = [0]
        for i, b in enumerate(src):
            if b == 0x0A:
                row_starts.append(i + 1)
        found = sorted(set(problems(tree, src)))
        print(f"FAIL  {path}")
        if not found:
            print(f"{path}:1:1: error: tree-sitter reported an error without an ERROR node")
        for row, bcol, msg in found[: args.max_per_file]:
            print(f"{path}:{row + 1}:{col_chars(src, row_starts, row, bcol)}: error: {msg}")
        if len(found) > args.max_per_file:
            print(f"{path}: ... {len(found) - args.max_per_file} more")

    print(f"swift-syntax: {len(files)} file(s) checked, {bad} with syntax errors "
          f"(tree-sitter {getattr(tree_sitter, '__version__', '?')}, grammar tree-sitter-swift)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
