"""The documentation: the README as the user's guide, docs/ links, the offline MkDocs site,
and the docstring examples of every pumplib module."""

from __future__ import annotations

import doctest
import importlib
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: each kind of user's first command, as the README's quick start names it
FIRST_COMMANDS = {
    "energy manager": "pumplib serve ops\n",
    "operator": "pumplib serve ops --voila\n",
    "data scientist": "jupyter lab notebooks/\n",
    "scheduled runs": "pumplib run pipeline\n",
}


def _markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def _prose(text: str) -> str:
    """The text outside fenced code blocks and code spans (where links are links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    """The anchor Python-Markdown's toc extension (MkDocs) gives a heading."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)}


def test_readme_is_the_users_guide():
    data = README.read_bytes()
    assert len(data) <= 12_000, f"README.md is {len(data):,} bytes; the user's guide keeps to 12 kB"
    text = data.decode("utf-8")
    # the two setup commands CI uses come first, exactly as before
    assert "make demo   # set up .venv from env/requirements.lock" in text[:1500]
    assert "make test   # same environment, then the test suite" in text[:1500]
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    for who, command in FIRST_COMMANDS.items():
        section = next((s for s in quick.split("\n### ")[1:] if s.lower().startswith(who)), None)
        assert section is not None, f"no quick start for the {who}"
        block = re.search(r"```bash\n(.*?)```", section, re.S)
        assert block and command in block.group(1), (who, command)
    for heading in ("## What pumplib is", "## Command line", "## Where to read more"):
        assert heading in text


def test_every_relative_link_resolves():
    broken = []
    for path in _markdown_files():
        for m in re.finditer(r"\[[^\]]*\]\(([^)\s]+)\)", _prose(path.read_text(encoding="utf-8"))):
            target = m.group(1)
            if re.match(r"[a-z][a-z0-9+.-]*:", target):   # http:, https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            where = f"{path.relative_to(ROOT)} -> {target}"
            if not dest.exists():
                broken.append(f"{where}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{where}: no heading with that anchor")
    assert not broken, "\n".join(broken)


def test_readme_and_nav_name_every_docs_page():
    """Every page of docs/ is in the site's navigation and in the README's list."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)

    def pages(entry):
        if isinstance(entry, str):
            yield entry
        elif isinstance(entry, dict):
            for v in entry.values():
                yield from pages(v)
        elif isinstance(entry, list):
            for v in entry:
                yield from pages(v)

    nav = set(pages(config["nav"]))
    readme = README.read_text(encoding="utf-8")
    for page in sorted(DOCS.glob("*.md")):
        assert page.name in nav, f"docs/{page.name} is not in mkdocs.yml's nav"
        assert f"](docs/{page.name})" in readme, f"the README does not link docs/{page.name}"


def _external_refs(html: str) -> list[str]:
    """Scripts, stylesheets, fonts, images and frames a page would load from elsewhere."""
    refs = re.findall(r"<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)=[\"']"
                      r"((?:https?:)?//[^\"']+)", html, re.I)
    refs += re.findall(r"@import\s+(?:url\()?[\"']?((?:https?:)?//[^\"')\s]+)", html, re.I)
    refs += re.findall(r"(?<![\w.])url\(\s*[\"']?((?:https?:)?//[^\"')\s]+)", html, re.I)
    return refs


def test_external_refs_are_found():
    page = ('<script src="https://cdn.example/x.js"></script><link rel="stylesheet" '
            'href="//fonts.example/f.css"><style>@import url("https://a/b.css")</style>'
            '<script src="js/base.js"></script><a href="https://www.mkdocs.org/">MkDocs</a>'
            '<code>parse_broker_url("http://x")</code>')     # a function, not CSS url()
    assert set(_external_refs(page)) == {"https://cdn.example/x.js", "//fonts.example/f.css",
                                         "https://a/b.css"}


@pytest.mark.slow
def test_site_builds_strict_and_offline(tmp_path):
    """``mkdocs build --strict`` (what ``make docs`` runs): no warning (broken links or
    anchors, pages outside the nav, docstrings the numpydoc parser misreads), an API
    reference page per pumplib module or package, and nothing loaded from another host."""
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (the 'docs' extra, "
                        "pinned in env/requirements.lock: run make env)")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings[python] is not "
                        "installed (the 'docs' extra: run make env)")
    site = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                          str(site)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    assert "WARNING" not in res.stderr, res.stderr[-4000:]
    for page in DOCS.glob("*.md"):
        assert (site / page.with_suffix(".html").name).is_file(), page.name
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "Quick start" in home and 'href="cli.html"' in home       # the README, links mended
    query = (site / "api" / "query.html").read_text(encoding="utf-8")
    assert "pumplib.query" in query and "Parameters" in query       # numpydoc sections rendered
    found = {}
    for f in list(site.rglob("*.html")) + list(site.rglob("*.css")):
        refs = _external_refs(f.read_text(encoding="utf-8", errors="replace"))
        if refs:
            found[str(f.relative_to(site))] = sorted(set(refs))
    assert not found, found


# -- docstring examples -------------------------------------------------------------------
#: modules whose examples are not run here, with the reason (none so far: every module's
#: examples take under a second or two once imported, and none needs a server)
DOCTEST_SKIP: dict[str, str] = {}
#: known failures, each reported to the module's owner; strict: a fix makes the test fail
#: until the entry here is removed
DOCTEST_XFAIL: dict[str, str] = {}


def _param(module: str):
    if module in DOCTEST_SKIP:
        return pytest.param(module, marks=pytest.mark.skip(reason=DOCTEST_SKIP[module]))
    if module in DOCTEST_XFAIL:
        return pytest.param(module, marks=pytest.mark.xfail(reason=DOCTEST_XFAIL[module],
                                                            strict=True))
    return module


def _modules_with_examples() -> list[str]:
    out = []
    for f in sorted((ROOT / "pumplib").rglob("*.py")):
        if "__pycache__" in f.parts or ">>>" not in f.read_text(encoding="utf-8"):
            continue
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] != "__main__":
            out.append(".".join(parts))
    return out


@pytest.mark.parametrize("module", [_param(m) for m in _modules_with_examples()])
def test_docstring_examples(module):
    """Every module's docstring examples run and print what they show (``>>>``)."""
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in finder.find(mod, module):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)[-6000:]
