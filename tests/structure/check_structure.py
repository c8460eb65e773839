#!/usr/bin/env python3
"""The project's structural rules, checked over its sources (a ctest test; exits 1 naming each
violation):

1. Layering. ops/ never includes models/ or examples/; autograd/ never includes models/ or
   examples/, and includes from ops/ only what ARCHITECTURE.md's "Upward references" list names
   (lines "- `autograd/FILE` includes `ops/HEADER`: why"); models/ never includes examples/.
2. Function length. No function in the library (autograd/, ops/, models/) or the command line
   (examples/cli/, examples/minimax_main.cpp) has a body over MAX_BODY_LINES lines.

Usage: check_structure.py SOURCE_DIR
       check_structure.py --self-test   (shows each rule failing on a tree that breaks it)
"""
import pathlib
import re
import sys

MAX_BODY_LINES = 60
LIBRARY = ("autograd", "ops", "models")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
ALLOWED_UPWARD = re.compile(r"^- `(autograd/[^`]+)` includes `(ops/[^`]+)`", re.M)


def sources(root, folders, suffixes=(".h", ".cpp")):
    for folder in folders:
        path = root / folder
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for f in files:
            if f.suffix in suffixes:
                yield f


def layering_violations(root):
    allowed = set(ALLOWED_UPWARD.findall((root / "ARCHITECTURE.md").read_text()))
    forbidden = {"autograd": ("models/", "examples/"), "ops": ("models/", "examples/"),
                 "models": ("examples/",)}
    problems = []
    for f in sources(root, LIBRARY):
        rel = f.relative_to(root).as_posix()
        layer = rel.split("/")[0]
        for header in INCLUDE.findall(f.read_text()):
            if header.startswith(forbidden[layer]):
                problems.append(f"{rel} includes {header}: {layer}/ is below it")
            elif layer == "autograd" and header.startswith("ops/") and (rel, header) not in allowed:
                problems.append(f"{rel} includes {header}, which ARCHITECTURE.md's upward "
                                "references do not name")
    for rel, header in sorted(allowed):
        if header not in INCLUDE.findall((root / rel).read_text()) if (root / rel).exists() else True:
            problems.append(f"ARCHITECTURE.md names {rel} including {header}, which it does not")
    return problems


def code_only(text):
    """The text with comments, string and character literals blanked (newlines kept), so that
    braces are only the code's."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not text[i - 1].isalnum()):
            open_paren = text.find("(", i)
            delim = text[i + 2:open_paren]
            j = text.find(")" + delim + '"', open_paren)
            j = n if j < 0 else j + len(delim) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


NOT_A_FUNCTION = re.compile(r"^\s*(template\s*<.*>\s*)?(class|struct|enum|union|namespace|extern)\b"
                            r"|=\s*$|=\s*\{?$")


def long_functions(root):
    problems = []
    folders = LIBRARY + ("examples/cli", "examples/minimax_main.cpp")
    for f in sources(root, folders):
        lines = code_only(f.read_text()).split("\n")
        depth, statement, start = 0, "", None
        for number, line in enumerate(lines, 1):
            for c in line:
                if depth == 0 and c not in "{};":
                    statement += c
                if c == "{":
                    if depth == 0:
                        head = statement.strip()
                        # namespaces, types and initializers are not function bodies; namespaces
                        # do not nest what they hold
                        if head.startswith("namespace") or head.startswith("extern"):
                            statement = ""
                            continue
                        start = number if not NOT_A_FUNCTION.search(head) and "(" in head else None
                    depth += 1
                elif c == "}":
                    if depth == 0:
                        continue  # a namespace's closing brace
                    depth -= 1
                    if depth == 0:
                        if start is not None and number - start - 1 > MAX_BODY_LINES:
                            name = re.sub(r"\s+", " ", statement.strip())[:90]
                            problems.append(f"{f.relative_to(root)}:{start}: {number - start - 1}"
                                            f"-line body (over {MAX_BODY_LINES}): {name}")
                        statement, start = "", None
                elif c == ";" and depth == 0:
                    statement = ""
            if depth == 0 and line.lstrip().startswith("#"):
                statement = ""
    return problems


def self_test():
    """Each rule must catch a tree that breaks it, and pass the same tree mended."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        for folder in ("autograd", "ops", "models", "examples/cli"):
            (root / folder).mkdir(parents=True)
        (root / "ARCHITECTURE.md").write_text("- `autograd/engine.cpp` includes `ops/ops.h`: sums\n")
        (root / "autograd/engine.cpp").write_text('#include "ops/ops.h"\n')
        def body(lines):
            return "".join(f"  x += {i};  // {{ not a brace\n" for i in range(lines))
        (root / "examples/cli/f.cpp").write_text('namespace a {\nint f(int x) {\n  const char* s = "}";\n'
                                                 + body(MAX_BODY_LINES) + "  return x;\n}\n}\n")
        (root / "ops/conv.cpp").write_text('#include "models/nn/module.h"\n')
        (root / "autograd/gradcheck.cpp").write_text('#include "ops/ops.h"\n')
        found = layering_violations(root) + long_functions(root)
        assert len(found) == 3, found
        assert any("ops/conv.cpp includes models/nn/module.h" in p for p in found), found
        assert any("autograd/gradcheck.cpp includes ops/ops.h" in p for p in found), found
        assert any(f"{MAX_BODY_LINES + 2}-line body" in p for p in found), found
        (root / "ops/conv.cpp").write_text('#include "ops/ops.h"\n')
        (root / "autograd/gradcheck.cpp").write_text("")
        (root / "examples/cli/f.cpp").write_text("int f(int x) {\n" + body(MAX_BODY_LINES - 1)
                                                 + "  return x;\n}\n")
        assert layering_violations(root) + long_functions(root) == []
    print("check_structure: self-test passed")
    return 0


def main():
    if sys.argv[1] == "--self-test":
        return self_test()
    root = pathlib.Path(sys.argv[1]).resolve()
    problems = layering_violations(root) + long_functions(root)
    for p in problems:
        print(p)
    print(f"check_structure: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
