"""``pumplib ask "…"`` and ``pumplib qa index|eval``: questions answered with citations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._options import check_input, open_lake, time_option

qa_app = typer.Typer(help="Question answering: the index behind `pumplib ask`, and its "
                          "evaluation set.", no_args_is_help=True)

StoreOpt = Annotated[str | None, typer.Option("--store", "-s", help="Store URL or folder "
                                              "(default: setting store.url).")]
IndexOpt = Annotated[Path | None, typer.Option("--index-dir", help="Index folder (default: "
                                               ".pumplib/qa_index/<store> beside the store).")]
RegistryOpt = Annotated[Path | None, typer.Option("--registry", help="Asset registry YAML "
                                                  "(default: setting assets.registry).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def ask_cmd(
    question: Annotated[str, typer.Argument(help="The question, in words.")],
    store: StoreOpt = None, index_dir: IndexOpt = None, registry: RegistryOpt = None,
    now: Annotated[str | None, time_option(help="Reference time of 'yesterday', 'last week' "
                                           "(default: the end of the data).")] = None,
    k: Annotated[int, typer.Option("-k", help="Chunks retrieved.")] = 5,
    generator: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint base URL "
                                                  "(optional; default: composed answer).")] = None,
    model: Annotated[str, typer.Option(help="Model name for --generator.")] = "default",
    as_json: JsonOpt = False,
) -> None:
    """Answer a question about the data, the catalogs or the docs, citing the sources.

    Exit status: 0 answered; 1 not understood (nothing relevant found, or a pump,
    station, period or word it could not read: the answer says what and lists the
    nearest questions it can answer); 2 invalid options.
    """
    from pumplib.cli import _exit_on_error, out

    with _exit_on_error():
        from pumplib.qa import ask
        from pumplib.qa.generator import Generator

        gen = Generator(generator, model=model) if generator else None
        open_lake(store, data=True)   # a mistyped or empty store: one line, before anything
        _note_first_build(store, index_dir)
        a = ask(question, store, index_dir=index_dir, registry=registry, now=now, k=k,
                generator=gen)
    if as_json:
        _json(a.to_dict())
    else:
        out.print(a.text, highlight=False, soft_wrap=True, markup=False)
        if a.citations:
            out.print("\nSources:", highlight=False)
            for c in a.citations:
                out.print(f"  {c.label()}", highlight=False, soft_wrap=True, markup=False)
        for n in a.notes:
            out.print(f"note: {n}", style="dim", highlight=False, soft_wrap=True, markup=False)
    if not a.found:
        raise typer.Exit(1)


def _note_first_build(store, index_dir) -> None:
    """Say so on stderr when the index does not exist yet (the first build takes a while)."""
    from pumplib.cli import err
    from pumplib.qa import default_index_dir

    path = Path(index_dir) if index_dir is not None else default_index_dir(store)
    if not (path / "manifest.json").is_file():
        err.print(f"building the Q&A index in {path} (once; later questions reuse it) …",
                  highlight=False, soft_wrap=True)


@qa_app.command("index")
def index_cmd(store: StoreOpt = None, index_dir: IndexOpt = None, registry: RegistryOpt = None,
              rebuild: Annotated[bool, typer.Option(help="Embed every chunk again.")] = False,
              as_json: JsonOpt = False) -> None:
    """Build or refresh the Q&A index (only new or changed chunks are embedded)."""
    from pumplib.cli import _exit_on_error, out

    with _exit_on_error():
        from pumplib.qa import build_index

        open_lake(store)
        idx = build_index(store, index_dir=index_dir, registry=registry, rebuild=rebuild)
    kinds = {}
    for c in idx.chunks:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    res = {**idx.stats, "path": str(idx.path), "tip": idx.manifest.get("tip"), "kinds": kinds}
    if as_json:
        _json(res)
        return
    state = "up to date" if res.get("up_to_date") else \
        f"{res['embedded']} chunks embedded, {res['reused']} reused, {res['removed']} removed"
    out.print(f"Q&A index {res['path']}: {res['chunks']} chunks ({state}); lake tip "
              f"{res['tip']}; " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
              highlight=False, soft_wrap=True)


@qa_app.command("eval")
def eval_cmd(store: StoreOpt = None, index_dir: IndexOpt = None, registry: RegistryOpt = None,
             questions: Annotated[Path | None, typer.Option(help="Evaluation set YAML (default: "
                                                         "the packaged one).")] = None,
             k: Annotated[int, typer.Option("-k", help="Cut-off of recall@k.")] = 5,
             as_json: JsonOpt = False) -> None:
    """Run the evaluation set: recall@k of document questions, exact data answers."""
    from pumplib.cli import _exit_on_error, out

    with _exit_on_error():
        from pumplib.qa import build_index
        from pumplib.qa.evaluation import run_eval

        check_input(questions, "--questions", "evaluation set file")
        open_lake(store)
        idx = build_index(store, index_dir=index_dir, registry=registry)
        res = run_eval(idx, store=store, registry=registry, questions=questions, k=k)
    if as_json:
        _json(res)
        return
    s = res["summary"]
    out.print(f"document questions: {s['documents']}, recall@{k} {s['recall_at_k']:.3f}; "
              f"data questions: {s['data']}, exact {s['data_exact']}; nothing-found questions: "
              f"{s['none']}, correct {s['none_correct']}; not-understood questions: "
              f"{s['unclear']}, reported {s['unclear_correct']}", highlight=False)
    for r in res["questions"]:
        if not r["ok"]:
            out.print(f"  [red]miss[/] {r['id']}: {r['question']} → {r['detail']}",
                      highlight=False, soft_wrap=True)


def register(app) -> None:
    app.command("ask")(ask_cmd)
    app.add_typer(qa_app, name="qa")
