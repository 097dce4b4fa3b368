"""The README and docs/ stay true to the repository: every relative link resolves (files and
`#anchors`, with GitHub's heading slugs), and the README's quickstart is exactly the command
list that `make demo` runs, so CI keeps the first commands a newcomer types working."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"`[^`]*`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
QUICKSTART = "<!-- quickstart:"


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text lower-cased, punctuation other than
    hyphens and underscores dropped, each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").replace("*", "").strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of `page`, repeated headings numbered as GitHub numbers them."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    """'target: why' for each relative link of `page` that does not resolve."""
    broken = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{target}: no such file")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{target}: no heading with that anchor in {resolved.name}")
    return broken


def test_every_relative_link_resolves() -> None:
    problems = {
        str(page.relative_to(ROOT)): broken_links(page) for page in PAGES if broken_links(page)
    }
    assert problems == {}


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Set up: `make` it\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[fine](other.md#set-up-make-it) [also](#page) [web](https://example.com)\n"
        "[gone](missing.md) [wrong](other.md#nowhere) `[code](ignored.md)`\n"
        "```\n[in a block](ignored-too.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nowhere: no heading with that anchor in other.md",
    ]


def test_slugs_follow_github() -> None:
    assert slug("Strings-in models: `export --edge`") == "strings-in-models-export---edge"
    assert slug("JavaScript: Node.js and the browser") == "javascript-nodejs-and-the-browser"
    assert slug("Distillation: `reviewscore distill`") == "distillation-reviewscore-distill"


def make_demo_commands(makefile: str) -> list[str]:
    """The commands of the Makefile's `demo` recipe with its variables' defaults filled in
    and `$(BIN)/` dropped (the README runs them with the venv activated); the recipe's
    `@` guard lines are left out."""
    defaults = dict(re.findall(r"^(\w+)\s*\?=\s*(.*?)\s*$", makefile, re.M))
    recipe = makefile.split("\ndemo:", 1)[1].split("\n", 1)[1]
    lines = []
    for line in recipe.splitlines():
        if not line.startswith("\t"):
            break
        lines.append(line.strip())
    joined = "\n".join(lines).replace("\\\n", " ")
    commands = [c for c in joined.splitlines() if not c.startswith("@")]
    expanded = []
    for command in commands:
        command = command.replace("$(BIN)/", "")
        command = re.sub(r"\$\((\w+)\)", lambda m: defaults[m.group(1)], command)
        expanded.append(" ".join(command.split()))
    return expanded


def readme_quickstart_commands(readme: str) -> list[str]:
    """The `$ ` commands of the first code block after the README's quickstart marker."""
    block = readme.split(QUICKSTART, 1)[1].split("```", 2)[1]
    commands, current = [], None
    for line in block.splitlines():
        if current is not None:
            current += " " + line.strip()
        elif line.startswith("$ "):
            current = line[2:]
        else:
            continue
        if current.endswith("\\"):
            current = current[:-1]
            continue
        commands.append(" ".join(current.split()))
        current = None
    return commands


def test_readme_quickstart_is_what_make_demo_runs() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    expected = make_demo_commands(makefile)
    assert [c.split()[:2] for c in expected] == [
        ["reviewscore", "train"],
        ["reviewscore", "export"],
        ["reviewscore", "score"],
    ]
    assert readme_quickstart_commands(readme) == expected


def test_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250
