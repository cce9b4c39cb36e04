"""The README and the docs site point at what exists: files, verbs, the two set-up lines."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from helpers import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))
# .ci/run finds the second line by its comment and runs what precedes it: keep both verbatim
COMMANDS = (
    'pip install torch==2.13.0 -e ".[all]" && workbench run dqn-pong      # set up, then train DQN on Pong',
    'pip install torch==2.13.0 -e ".[all]" && python -m pytest -q         # set up, then run the tests',
)
VENV = "python3 -m venv .venv && . .venv/bin/activate"
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
COMMENT = re.compile(r"<!--.*?-->", re.S)


def _prose(text: str) -> str:
    """The text outside code blocks, inline code and comments, where a link is a link."""
    return INLINE_CODE.sub("", FENCE.sub("", COMMENT.sub("", text)))


def _relative_links(page: Path) -> list[str]:
    links = LINK.findall(_prose(page.read_text()))
    return [x for x in links if not re.match(r"[a-z][a-z0-9+.-]*:", x) and not x.startswith("#")]


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def test_every_relative_link_of_the_readme_and_the_docs_points_at_a_file():
    missing = []
    for page in (README, *PAGES):
        for link in _relative_links(page):
            target = (page.parent / link.split("#", 1)[0]).resolve()
            if not target.exists():
                missing.append(f"{page.relative_to(ROOT)} -> {link}")
    assert missing == []


def test_the_link_finder_sees_links_and_skips_code():
    page = "[a](x.md) ![b](img/y.png) `[c](not-a-link.md)` [d](https://e.org) [f](#anchor)\n"
    page += "```\n[g](in-a-block.md)\n```\n<!-- [h](a-comment.md) -->\n"
    assert LINK.findall(_prose(page)) == ["x.md", "img/y.png", "https://e.org", "#anchor"]


def test_every_workbench_verb_of_the_readme_tour_is_a_real_verb():
    help_text = cli("--help").stdout
    verbs = set(re.findall(r"^ {4}([a-z][a-z-]*) {2,}\S", help_text, re.M))
    assert {"run", "resume", "list", "describe"} <= verbs, help_text
    tour = _section(README.read_text(), "## A tour of the commands")
    commands = "".join(m.group(0) for m in FENCE.finditer(tour))  # the command lines, not prose
    used = set(re.findall(r"(?:^|-m )workbench ([a-z][a-z-]*)\b", commands, re.M))
    assert len(used) >= 8, used  # the tour shows the commands, not one or two of them
    assert used - verbs == set(), f"the README's tour uses verbs that `workbench --help` lacks: {used - verbs}"


def test_the_readme_has_its_two_command_lines_after_a_venv():
    lines = README.read_text().splitlines()
    for command in COMMANDS:
        assert command in lines
    assert lines.index(VENV) < lines.index(COMMANDS[0]) < lines.index(COMMANDS[1])


def test_the_readme_fits_a_first_visit_and_the_docs_site_holds_the_rest():
    assert len(README.read_text().splitlines()) <= 160
    docs = [p for p in _relative_links(README) if p.startswith("docs/") and p.endswith(".md")]
    assert len(docs) >= 10, docs


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [p for v in node.values() for p in _nav_pages(v)]
    return [p for v in node for p in _nav_pages(v)]


def test_every_page_in_the_site_nav_exists_and_every_api_page_names_a_module():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_pages(config["nav"])
    assert [p for p in nav if not (ROOT / "docs" / p).is_file()] == []
    assert config["theme"]["font"] is False  # no request for remote fonts at build time
    api = "".join((ROOT / "docs" / "reference" / p).read_text() for p in ("plugin-api.md", "python-api.md"))
    modules = re.findall(r"^::: (\S+)$", api, re.M)
    for module in modules:
        assert (ROOT / Path(*module.split("."))).with_suffix(".py").is_file(), module
    assert {"workbench.plugin", "workbench.registry", "workbench.commands.api"} <= set(modules)


def test_no_file_cites_figures_md_which_never_existed_in_the_repo():
    citing = [str(p.relative_to(ROOT)) for folder in ("workbench", "agents", "envs", "generators",
                                                      "classifiers", "benchmarks", "tests", "docs")
              for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md") and p.is_file()
              and "FIGURES" + ".md" in p.read_text(errors="replace")]
    assert citing + (["README.md"] if "FIGURES" + ".md" in README.read_text() else []) == []
