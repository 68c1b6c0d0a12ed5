"""Makes examples/quickstart.ipynb from its twin examples/quickstart.py (the script is the source; cells are
separated by `# %%` lines, markdown cells by `# %% [markdown]` with each line's leading `# ` removed).

    python3 tools/make_notebook.py            # rewrite the notebook
    python3 tools/make_notebook.py --check    # exit 1 when the notebook is not the script's (the tests run this)
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SCRIPT = os.path.join(ROOT, "examples", "quickstart.py")
NOTEBOOK = os.path.join(ROOT, "examples", "quickstart.ipynb")


def cells(text):
    out = []
    for block in text.split("# %%")[1:]:
        header, _, body = block.partition("\n")
        body = body.strip("\n")
        if header.strip() == "[markdown]":
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.split("\n")]
            out.append({"cell_type": "markdown", "metadata": {}, "source": source(lines)})
        else:
            out.append({
                "cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": source(body.split("\n")),
            })
    return out


def source(lines):
    return [line + "\n" for line in lines[:-1]] + lines[-1:]


def notebook(text):
    return {
        "cells": cells(text),
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def main():
    with open(SCRIPT) as f:
        want = json.dumps(notebook(f.read()), indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        have = open(NOTEBOOK).read() if os.path.exists(NOTEBOOK) else ""
        if have != want:
            print(f"{NOTEBOOK} is not made from {SCRIPT}; run python3 tools/make_notebook.py", file=sys.stderr)
            return 1
        return 0
    with open(NOTEBOOK, "w") as f:
        f.write(want)
    return 0


if __name__ == "__main__":
    sys.exit(main())
