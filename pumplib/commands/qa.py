"""``pumplib ask "…"`` and ``pumplib qa index|eval``: questions answered with citations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._options import JsonOpt, StoreOpt, check_input, open_lake, time_option

qa_app = typer.Typer(help="Question answering: the index behind `pumplib ask`, and its "
                          "evaluation set.", no_args_is_help=True)

IndexOpt = Annotated[Path | None, typer.Option("--index-dir", help="Index folder (default: "
                                               ".pumplib/qa_index/<store> beside the store).")]
RegistryOpt = Annotated[Path | None, typer.Option("--registry", help="Asset registry YAML "
                                                  "(default: setting assets.registry).")]


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
    local: Annotated[bool, typer.Option("--local", help="Answer in this process even when "
                                        "`pumplib qa serve` runs for the store.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question about the data, the catalogs or the docs, citing the sources.

    Data, registry and definition questions are answered without loading the embedding
    model; a running `pumplib qa serve` for the store answers instead (warm).
    Exit status: 0 answered; 1 not understood or refused (nothing answers it, or a pump,
    station, period or word it could not read: the answer says what and lists the nearest
    questions it can answer); 2 invalid options.
    """
    from pumplib.cli import _exit_on_error

    d = None
    if not (local or generator or index_dir) and k >= 1:
        from pumplib.qa.service import ask_server

        d = ask_server(_store_url(store), question, now=now, k=k, registry=registry)
    if d is None:
        with _exit_on_error():
            from pumplib.qa import ask
            from pumplib.qa.generator import Generator

            gen = Generator(generator, model=model) if generator else None
            open_lake(store, data=True)   # a mistyped or empty store: one line, before anything
            a = ask(question, store, index_dir=index_dir, registry=registry, now=now, k=k,
                    generator=gen, on_build=lambda: _note_first_build(store, index_dir))
        d = a.to_dict()
    _print_answer(d, as_json)
    if d.get("type") not in ("data", "doc"):
        raise typer.Exit(1)


def _store_url(store) -> str:
    from pumplib import config

    return str(store if store is not None else config.get("store.url"))


def _print_answer(d: dict, as_json: bool) -> None:
    """An answer (its dict) as JSON, or its text, sources and notes."""
    from pumplib.cli import out

    if as_json:
        _json(d)
        return
    out.print(d["text"], highlight=False, soft_wrap=True, markup=False)
    if d.get("citations"):
        out.print("\nSources:", highlight=False)
        for c in d["citations"]:
            out.print(f"  [{c['n']}] {c['kind']}: {c['ref']}", highlight=False, soft_wrap=True,
                      markup=False)
    for n in d.get("notes", []):
        out.print(f"note: {n}", style="dim", highlight=False, soft_wrap=True, markup=False)


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


@qa_app.command("serve")
def serve_cmd(store: StoreOpt = None, index_dir: IndexOpt = None, registry: RegistryOpt = None,
              port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: a free one).",
                                                min=0, max=65535)] = 0,
              no_index: Annotated[bool, typer.Option("--no-index", help="Do not preload the "
                                                     "index and model.")] = False) -> None:
    """Keep the Q&A warm for a store: `pumplib ask` and the apps use it while it runs."""
    from pumplib.cli import _exit_on_error, err

    with _exit_on_error():
        from pumplib.qa.service import serve, state_file

        open_lake(store, data=True)
        url = _store_url(store)

        def ready(p: int) -> None:
            err.print(f"Q&A service for {url} on 127.0.0.1:{p} (state {state_file(url)}); "
                      "Ctrl-C stops it", highlight=False, soft_wrap=True)
        try:
            serve(url, registry=registry, index_dir=index_dir, port=port,
                  preload_index=not no_index, on_ready=ready)
        except KeyboardInterrupt:
            pass
        except OSError as exc:
            from pumplib.errors import ArgumentError

            raise ArgumentError(f"qa serve: cannot listen on 127.0.0.1:{port}: "
                                f"{exc.strerror or exc}") from None


@qa_app.command("eval")
def eval_cmd(store: StoreOpt = None, index_dir: IndexOpt = None, registry: RegistryOpt = None,
             questions: Annotated[Path | None, typer.Option("--questions", help="Evaluation "
                                                         "set YAML (default: the packaged "
                                                         "one).")] = None,
             k: Annotated[int, typer.Option("-k", help="Cut-off of recall@k.")] = 5,
             as_json: JsonOpt = False) -> None:
    """Run an evaluation set (the packaged one, or --questions FILE): accuracy per kind,
    recall@k of document questions, answers scored on their structured fields."""
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
    out.print(f"{s['questions']} questions, {s['correct']} right ({s['accuracy']:.1%}); by kind: "
              + ", ".join(f"{kind} {d['correct']}/{d['n']} ({d['accuracy']:.0%})"
                          for kind, d in res["by_kind"].items()), highlight=False)
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
