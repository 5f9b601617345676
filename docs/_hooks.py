"""MkDocs hooks of the pumplib site (``mkdocs.yml``: ``hooks``).

* The site's home page is the README (the user's guide), its ``docs/…`` links made
  relative to the site.
* The API reference is one generated page per public module or package of ``pumplib``
  (walked at build time, so a new or renamed module needs no edit here), rendered by
  mkdocstrings from the numpydoc docstrings, and listed in the navigation.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pumplib"


def _public(path: Path) -> bool:
    return not path.name.startswith("_") and path.name != "__pycache__"


def _modules(pkg: Path, dotted: str) -> list[str]:
    """Dotted names of the public modules and packages below ``pkg`` (depth first)."""
    out = []
    for p in sorted(pkg.iterdir()):
        if not _public(p):
            continue
        if p.is_dir() and (p / "__init__.py").is_file():
            out.append(f"{dotted}.{p.name}")
            out.extend(_modules(p, f"{dotted}.{p.name}"))
        elif p.suffix == ".py":
            out.append(f"{dotted}.{p.stem}")
    return out


def api_pages() -> dict[str, str]:
    """``{site path: markdown}``: one page per top-level module or package of pumplib."""
    pages = {}
    for top in _modules(PACKAGE, "pumplib"):
        if top.count(".") != 1:
            continue
        name = top.split(".")[1]
        subs = [m for m in _modules(PACKAGE / name, top)] if (PACKAGE / name).is_dir() else []
        body = [f"# `{top}`", "", f"::: {top}", "    options:", "      show_root_heading: false", ""]
        body += [f"::: {m}\n" for m in subs]
        pages[f"api/{name}.md"] = "\n".join(body)
    return pages


def readme_home() -> str:
    """The README with its ``docs/…`` links made relative to the site's docs folder."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.sub(r"\]\(docs/", "](", text)


def on_config(config):
    nav = config.nav or []
    if not any(isinstance(e, dict) and "API reference" in e for e in nav):
        nav.append({"API reference": list(api_pages())})
    config.nav = nav
    return config


def on_files(files, config):
    files.append(File.generated(config, "index.md", content=readme_home()))
    for path, text in api_pages().items():
        files.append(File.generated(config, path, content=text))
    return files
