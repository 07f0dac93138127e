"""Render the README's figure tables from the results files, and check that they agree.

    python -m benchmarks.report             # rewrite the tables in README.md and docs/*.md from benchmarks/results/
    python -m benchmarks.report --check     # exit 1 when a table differs from what its results file gives
    python -m benchmarks.report --file F    # the same for one Markdown file only

The convention, for every benchmark:

  * A table sits in the Markdown between two markers, each on a line of its own, and everything
    between them is generated:

        <!-- report:NAME -->
        (rendered: do not edit by hand)
        <!-- /report:NAME -->

  * NAME is the stem of a results file: benchmarks/results/NAME.json.

  * Its renderer is a function `render(results: dict) -> str` in the benchmark module of the same
    name, benchmarks/NAME.py. A module may render several results files: when no module is called
    NAME, the renderer is `render_REST` in benchmarks/M.py, where M is the longest module name such
    that NAME is M + "_" + REST. For example:
        shakespeare_char           -> benchmarks.shakespeare_char.render
        shakespeare_char_generate  -> benchmarks.shakespeare_char.render_generate
        imdb_pretrain_seed1        -> benchmarks.imdb_pretrain.render_seed1

  * A renderer is a pure function of the results dictionary (no clock, no files, no machine), and
    returns Markdown: the table, and any sentence that must travel with it (the load, the CPU, the
    number of seeds). Below it this script adds one line naming the results file and its commit.

`--check` also fails when a results file that a table is rendered from records no commit, or
records code with uncommitted changes ("dirty": true): a figure names the code that produced it.

Its own results file, benchmarks/results/report.json, is the inventory of what was rendered: each
document, its tables, and the commit and date of the results file behind each. It is written by a
render of every document (no --file) from a clean tree, after the tables already agree; when the
render changed a document, commit it and run again.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Callable

from benchmarks import common
from scratchformer.provenance import source_state

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
# - a marker is a line of its own; the same words inside a sentence or a code span are left alone
BLOCK = re.compile(r"^<!-- report:(?P<name>[\w.-]+) -->\n(?P<body>.*?)^<!-- /report:(?P=name) -->$",
                   re.DOTALL | re.MULTILINE)
OPENING = re.compile(r"^<!-- report:([\w.-]+) -->$", re.MULTILINE)

Renderer = Callable[[dict], str]


class ReportError(Exception):
    """A marker, results file or renderer that does not follow the convention."""


def find_renderer(name: str, package_dir: Path = REPO / "benchmarks", package: str = "benchmarks") -> Renderer:
    """The renderer of results file NAME, by the convention in this module's docstring."""
    parts = name.split("_")
    # - the longest module name first: shakespeare_char_generate is shakespeare_char + generate
    for i in range(len(parts), 0, -1):
        module_name = "_".join(parts[:i])
        if not (package_dir / f"{module_name}.py").exists():
            continue
        function = "render" if i == len(parts) else "render_" + "_".join(parts[i:])
        module = importlib.import_module(f"{package}.{module_name}")
        if not hasattr(module, function):
            raise ReportError(f"{package}/{module_name}.py has no {function}(results) function to render {name}")
        return getattr(module, function)
    raise ReportError(f"no benchmark module renders {name}: add render(results) to {package}/{name}.py")


def provenance(name: str, results: dict, link: str) -> str:
    """One line under each table: which file, which commit."""
    commit = results.get("commit")
    if not commit or commit == "unknown":
        code = "**no commit recorded**"
    else:
        code = f"commit `{commit[:10]}`" + (" **with uncommitted changes**" if results.get("dirty") else "")
    when = f", recorded {results['recorded'][:10]}" if results.get("recorded") else ""
    return f"<sub>Rendered by `python -m benchmarks.report` from [{name}.json]({link}): {code}{when}.</sub>"


def render_text(text: str, results_dir: Path, link_dir: str, find: Callable[[str], Renderer] = find_renderer,
                sources: dict | None = None) -> tuple[str, list[str]]:
    """`text` with every marked block rendered afresh, and the problems found (missing commits, dirty code).
    `sources`, when given, collects each table's name -> the results it was rendered from."""
    opened = OPENING.findall(text)
    closed = [m.group("name") for m in BLOCK.finditer(text)]
    if sorted(opened) != sorted(closed):
        unclosed = sorted(set(opened) - set(closed)) or opened
        raise ReportError(f"marker <!-- report:{unclosed[0]} --> has no closing <!-- /report:{unclosed[0]} -->")
    problems: list[str] = []

    def block(match: re.Match) -> str:
        name = match.group("name")
        path = Path(results_dir) / f"{name}.json"
        if not path.exists():
            raise ReportError(f"a table is rendered from {path}, which does not exist; run its benchmark")
        results = json.loads(path.read_text())
        if sources is not None:
            sources[name] = results
        if not results.get("commit") or results["commit"] == "unknown":
            problems.append(f"{path.name} records no commit: rerun its benchmark from a clean tree")
        elif results.get("dirty"):
            problems.append(f"{path.name} was written by uncommitted code: rerun its benchmark from a clean tree")
        body = find(name)(results).strip("\n")
        link = f"{link_dir}/{name}.json" if link_dir else f"{name}.json"
        return (f"<!-- report:{name} -->\n{body}\n\n{provenance(name, results, link)}\n"
                f"<!-- /report:{name} -->")

    return BLOCK.sub(block, text), problems


def documents() -> dict[Path, str]:
    """README.md and every docs/*.md that holds a rendered table, each with its text (read once)."""
    texts = {path: path.read_text(encoding="utf-8") for path in sorted((REPO / "docs").glob("*.md"))}
    readme = REPO / "README.md"
    return {readme: readme.read_text(encoding="utf-8"), **{p: t for p, t in texts.items() if OPENING.search(t)}}


def inventory(path: Path, sources: dict[str, dict]) -> dict:
    """One document's entry in report.json: each table and the commit and date of its results file."""
    return {"file": os.path.relpath(path.resolve(), REPO),
            "tables": [{"name": name, "commit": results.get("commit"), "recorded": results.get("recorded")}
                       for name, results in sources.items()]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table is out of date")
    parser.add_argument("--file", type=Path, default=None,
                        help="one Markdown file (default: README.md and every docs/*.md with a table)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results folder")
    args = parser.parse_args(argv)
    problems: list[str] = []
    entries, changed = [], False
    texts = {args.file: args.file.read_text(encoding="utf-8")} if args.file is not None else documents()
    for path, text in texts.items():
        link_dir = os.path.relpath(args.results.resolve(), path.resolve().parent)
        try:
            sources: dict[str, dict] = {}
            rendered, found = render_text(text, args.results, link_dir, sources=sources)
        except ReportError as error:
            print(f"error: {path.name}: {error}", file=sys.stderr)
            return 2
        problems += found
        names = list(sources)
        if not args.check:
            if rendered != text:
                path.write_text(rendered, encoding="utf-8")
                changed = True
            print(f"{path.name}: {len(names)} table(s) rendered ({', '.join(names) or 'none'})")
        elif rendered != text:
            diff = difflib.unified_diff(text.splitlines(), rendered.splitlines(), f"{path.name} as it is",
                                        f"{path.name} as the results give it", lineterm="", n=1)
            print("\n".join(list(diff)[:60]))
            problems.append(f"{path.name} disagrees with benchmarks/results/: run python -m benchmarks.report")
        entries.append(inventory(path, sources))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not args.check and args.file is None and not problems:
        record(entries, changed, args.results)
    return 1 if problems else 0


def record(entries: list[dict], changed: bool, results_dir: Path) -> None:
    """Write report.json, the inventory of every rendered document, when the tree is clean and nothing changed."""
    state = source_state()
    if changed or state["dirty"]:
        print("report.json not written: the tree has uncommitted changes (the tables just rendered, or others); "
              "commit them and run python -m benchmarks.report again", file=sys.stderr)
        return
    common.report("report", {"documents": entries, "tables": sum(len(e["tables"]) for e in entries),
                             "results_files": sorted({t["name"] for e in entries for t in e["tables"]})},
                  results_dir=results_dir, state=state)


if __name__ == "__main__":
    sys.exit(main())
