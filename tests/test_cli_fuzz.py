"""Fuzz of the whole command line: every command with mistyped stores, assets,
signals, levels, dates, formats and files.

Each case must end with exit status 1 or 2 (as the command documents), print
exactly one line on stderr starting with ``error:`` (a YAML caret excerpt may
follow for a YAML file), never a traceback, create nothing at the mistyped
paths and commit nothing to the lake it read. The commands are enumerated from
the typer app, so a new command without a fuzz case fails
:func:`test_every_command_has_fuzz_cases`.

The cases run in-process with typer's ``CliRunner`` (stderr kept apart), on a
private copy of the session's sample lake (``demo_store``) and on a lake with
only its initial commit (a first ingest that failed); a few run as real
processes for the process-level guarantees (exit status, stderr, no traceback).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from pumplib.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _leaves(group, prefix=()):
    for name, cmd in group.commands.items():
        if getattr(cmd, "commands", None):
            yield from _leaves(cmd, (*prefix, name))
        else:
            yield " ".join((*prefix, name))


COMMANDS = sorted(_leaves(typer.main.get_command(app)))

#: placeholders: {store} a private copy of the sample lake, {empty} a lake with only its
#: initial commit, {typo} a mistyped path (nothing may exist under its folder afterwards),
#: {bad_yaml} a YAML file that does not parse, {file} an existing plain file
H1 = "H1: ingest (pumplib/ingest)"
CASES: list[tuple] = [
    # (command line, exit status, xfail reason or None, a YAML excerpt may follow)
    ("ingest {typo}.csv --format long_csv --store {typo}", 2),
    ("ingest {sample}/north_1min_wide.csv --format long_cvs --store {typo}", 2),
    ("ingest {sample}/north_1min_wide.csv --formats-file {typo}.yaml --store {typo}", 2),
    ("ingest {sample}/north_1min_wide.csv --registry {typo}.yaml --store {typo}", 2),
    ("ingest {sample}/north_1min_wide.csv --cadence 1mn --store {typo}", 2),
    ("ingest {sample}/north_1min_wide.csv --timezone Europe/Amsterdm --store {typo}", 2),
    ("formats --jsn", 2),
    ("validate --store {typo}", 2),
    ("validate --store {empty}", 2),
    ("validate --store {store} --cadence 1mn", 2),
    ("validate --store {store} --start 2026-03-32", 2),
    ("validate --store {store} --end 2026-13-01", 2),
    ("validate --store {store} --rules {typo}.yaml", 2),
    ("validate --store {store} --registry {typo}.yaml", 2),
    ("demo --port abc", 2),
    ("demo --store {typo} --progres", 2),
    ("ask 'energy of N-P1 last week' --store {typo}", 2),
    ("ask 'energy of N-P1 last week' --store {empty}", 2),
    ("ask 'energy of N-P1 last week' --store {store} --now 2026-03-32", 2),
    ("query energy_integral --store {typo}", 2),
    ("query energy_integral --store s3://", 2),
    ("query energy_integral --store s3://no-such-bucket/x?endpoint_url=http://127.0.0.1:9", 2),
    ("query energy_integral --store ftp://x/y", 2),
    ("query energy_integral --store {empty}", 2),
    ("query energy_integral --store {store} --level 1d", 2),
    ("query energy_integral --store {store} --level 1D --assets N-P9", 2),
    ("query enrgy_integral --store {store} --level 1D", 2),
    ("query energy_integral --store {store} --level 1D --start 2026-13-01", 2),
    ("query energy_integral --store {store} --level 1D --start 2026-03-32", 2),
    ("query energy_integral --store {store} --level 1D --start yesterday", 2),
    ("query energy_integral --store {store} --level 1D --start -1", 2),
    ("query energy_integral --store {store} --level 1D --as-of 2026-03-32", 2),
    ("query energy_integral --store {store} --level 1D --format tabel", 2),
    ("query energy_integral --store {store} --level 1D --format csv -o {typo}/q.csv", 2),
    ("scorecard runtime_mean --store {typo}", 2),
    ("scorecard runtime_mena --store {store}", 2),
    ("scorecard runtime_mean --store {store} --level 1d", 2),
    ("scorecard runtime_mean --store {store} --assets N-P9", 2),
    ("scorecard runtime_mean --store {store} --start 2026-03-32", 2),
    ("recommend --store {typo}", 2),
    ("recommend --store {empty}", 2),
    ("recommend --store {store} --kind load_shfit --no-write", 2),
    ("recommend --store {store} --start 2026-03-32 --no-write", 2),
    ("recommend --store {store} --registry {typo}.yaml --no-write", 2),
    ("optimise-schedule --station SOTH", 2),
    ("optimise-schedule --start 2026-03-32", 2),
    ("optimise-schedule --registry {typo}.yaml", 2),
    ("optimise-schedule --period 1hr", 2),
    ("optimise-schedule --time-limit -1", 2),
    ("schedule --every dialy", 2),
    ("schedule --params x", 2),
    ("lineage enrgy --store {store}", 2),
    ("lineage energy --level 1d --store {store}", 2),
    ("lineage energy --store {typo}", 2),
    ("lineage energy --store {empty}", 2),
    ("lineage energy --store {store} --svg {typo}/g.svg", 2),
    ("lineage --downstream flwo --asset N-P1 --start 2026-03-10 --end 2026-03-11 "
     "--store {store}", 2),
    ("lineage --downstream flow --asset N-P9 --start 2026-03-10 --end 2026-03-11 "
     "--store {store}", 2),
    ("lineage --downstream flow --asset N-P1 --start 2026-03-32 --end 2026-03-11 "
     "--store {store}", 2),
    ("lake log --store {typo}", 2),
    ("lake log --store {store} -n 0", 2),
    ("lake summary --store {typo}", 2),
    ("lake summary --store {store} --snapshot XYZ", 2),
    ("lake quarantine --store {typo}", 2),
    ("lake quarantine --store {store} --run nope", 2),
    ("lake quarantine --store {store} --csv {typo}/q.csv", 2),
    ("lake gc --store {typo}", 2),
    ("lake gc --store {store} --older-than '2 dyas' --dry-run", 2),
    ("lake check --store {typo}", 2),
    ("config show extra", 2),
    ("config get stor.url", 2),
    ("simulate sample --out {file}/sample --registry {file}/assets.yaml", 2),
    ("simulate export {typo}.parquet --days abc", 2),
    ("simulate export {typo}.parquet --format parquett", 2),
    ("simulate export {typo}.parquet --start 2026-03-32", 2),
    ("simulate export {typo}.parquet --freq 1sek", 2),
    ("quality report --store {typo}", 2),
    ("quality report --store {empty}", 2),
    ("quality report --store {store} --cadence 1mn", 2),
    ("quality report --store {store} --cadence ''", 2),
    ("quality report --store {store} --timezone Europe/Amsterdm", 2),
    ("quality report --store {store} --html {typo}/q.html", 2),
    ("quality override N-P1 2026-03-10 2026-03-11 bad --reason r --store {typo}", 2),
    ("quality override N-P1 2026-03-10 2026-03-11 bad --reason r --store {empty}", 2),
    ("quality override N-P1 2026-03-32 2026-04-01 bad --reason r --store {store}", 2),
    ("quality override N-P1 2026-03-10 2026-13-01 bad --reason r --store {store}", 2),
    ("quality override N-P1 yesterday 2026-03-11 bad --reason r --store {store}", 2),
    ("quality override N-P9 2026-03-10 2026-03-11 bad --reason r --store {store}", 2),
    ("quality override N-P9 2026-03-10 2026-03-11 bad --reason r --store {store} "
     "--cadence 1min", 2),
    ("quality override N-P1 2026-03-10 2026-03-11 bad --reason r --store {store} "
     "--cadence 1mn", 2),
    ("quality override N-P1 2026-03-10 2026-03-11 bad --reason r --store {store} "
     "--cadence ''", 2),
    ("quality override N-P1 2026-03-10 2026-03-11 bda --reason r --store {store}", 2),
    ("quality override N-P1 2026-03-10 2026-03-11 bad --reason r --store {store} "
     "--signal flwo", 2),
    ("quality override N-P1 2026-03-12 2026-03-11 bad --reason r --store {store}", 2),
    ("quality overrides --store {typo}", 2),
    ("quality overrides --store {store} --cadence 1mn", 2),
    ("quality flags extra", 2),
    ("quality explain abc", 2),
    ("quality explain 70000", 2),
    ("quality check-rules {typo}.yaml", 2),
    ("quality check-rules {bad_yaml}", 2, None, True),
    ("features list --catalog {typo}", 2),
    ("features list --catalog {folder}", 2),
    ("features validate --catalog {typo}", 2),
    ("features build --store {typo}", 2),
    ("features build --store {empty}", 2),
    ("features build --store {store} --level 1d", 2),
    ("features build --store {store} --feature enrgy", 2),
    ("features build --store {store} --cadence 1mn", 2),
    ("features build --store {store} --since 2026-03-32", 2),
    ("features build --store {store} --since 2026-03-12 --until 2026-03-10", 2),
    ("features build --store {store} --catalog {typo}", 2),
    ("features build --store {store} --registry {typo}.yaml", 2),
    ("features history --store {typo}", 2),
    ("features history --store {store} -n 0", 2),
    ("features versions energy --store {typo}", 2),
    ("features versions enrgy --store {store}", 2),
    ("features sync --store {typo}", 2),
    ("features sync --store {store} --catalog {typo}", 2),
    ("features sync --store {store} --registry {typo}.yaml", 2),
    ("outliers detect --store {typo}", 2),
    ("outliers detect --store {empty}", 2),
    ("outliers detect --store {store} --asset N-P9 --dry-run", 2),
    ("outliers detect --store {store} --signal flwo --dry-run", 2),
    ("outliers detect --store {store} --start 2026-03-32 --dry-run", 2),
    ("outliers detect --store {store} --end -1 --dry-run", 2),
    ("outliers detect --store {store} --cadence '' --dry-run", 2),
    ("outliers detect --store {store} --cadence 1mn --dry-run", 2),
    ("outliers detect --store {store} --method stmp --dry-run", 2),
    ("outliers detect --store {store} --reference 2026-03-32/2026-03-11 --dry-run", 2),
    ("outliers list --store {typo}", 2),
    ("outliers list --store {store} --asset N-P9", 2),
    ("outliers list --store {store} --severity hihg", 2),
    ("outliers list --store {store} --run nope", 2),
    ("outliers explain OUT-1 --store {typo}", 2),
    ("outliers explain OUT-1 --store {store}", 2),
    ("qa index --store {typo}", 2),
    ("qa index --store {store} --registry {typo}.yaml --index-dir {typo}", 2),
    ("qa serve --store {typo}", 2),
    ("qa serve --store {empty}", 2),
    ("qa serve --store {store} --port 99999", 2),
    ("qa eval --store {typo}", 2),
    ("qa eval --store {store} --questions {typo}.yaml --index-dir {typo}", 2),
    ("scenario run {typo}.yaml", 2),
    ("scenario run {typo}.yaml --station SOTH", 2),
    ("scenario run {file} --start 2026-03-32", 2),
    ("scenario run {file} --days 0", 2),
    ("scenario run {typo}.yaml --store {typo}", 2),
    ("scenario compare {typo}.yaml", 2),
    ("scenario network --inp {typo}.inp", 2),
    ("scenario network --inp Net9", 2),
    ("scenario network --tariff tuo", 2),
    ("scenario network --demand-factor -1", 2),
    ("run pipeline --step ingset --runs-dir {typo} --store {typo}", 2),
    ("run pipeline --resume nope --runs-dir {typo} --store {typo}", 2),
    ("run pipeline --params x --runs-dir {typo} --store {typo}", 2),
    ("run list --store {typo}", 2),
    ("run list --runs-dir {typo}", 2),
    ("forecast run --store {typo}", 2),
    ("forecast run --store {empty}", 2),
    ("forecast run --store {store} --target enrgy", 2),
    ("forecast run --store {store} --level 1d", 2),
    ("forecast run --store {store} --model lgbm", 2),
    ("forecast run --store {store} --by stattion", 2),
    ("forecast run --store {store} --registry {typo}.yaml", 2),
    ("forecast backtest --store {typo}", 2),
    ("forecast backtest --store {store} --level 1d", 2),
    ("forecast backtest --store {store} --model lgbm", 2),
    ("forecast run --store {store} --horizon 0", 2),
    ("forecast backtest --store {store} --test-periods 0", 2),
    ("forecast frame {typo}.csv --horizon 3 --out {typo}/f.csv", 2),
    ("forecast frame {file} --horizon 3 --out {typo}/f.csv", 2),
    ("forecast frame {bad_csv} --horizon 3 --out {typo}/f.csv", 2),
    ("forecast frame {bad_csv} --horizon abc --out {typo}/f.csv", 2),
    ("serve ops --store {typo} --no-browser", 2),
    ("serve ops --store {empty} --no-browser", 2),
    ("serve ops --store {store} --registry {typo}.yaml --no-browser", 2),
    ("live run --broker http://x --store {typo}", 2),
    ("live run --store {typo}", 2),
    ("live run --broker mqtt://127.0.0.1:1 --registry {typo}.yaml --store {typo}", 2),
    ("live run --broker mqtt://127.0.0.1:1 --cadence 1mn --store {typo}", 2),
    ("live status --store {typo}", 2),
    ("live status --store {store} --log {typo}.sqlite", 2),
    ("live demo --speed -1 --dir {typo}", 2),
    ("simulate publish --broker http://x", 2),
    ("catalog list --dir {typo}", 2),
    ("catalog list --store {typo}", 2),
    ("catalog search energy --dir {typo}", 2),
    ("catalog show enrgy --store {store}", 2),
    ("catalog show energy --store {typo}", 2),
    ("catalog generate --store {typo} --dir {typo}", 2),
    ("catalog generate --store {store} --catalog {typo} --dir {typo}", 2),
]


def _command_of(line: str) -> str:
    words = shlex.split(line)
    for n in (2, 1):
        if " ".join(words[:n]) in COMMANDS or n == 1:
            return " ".join(words[:n])
    raise AssertionError(line)


def _params():
    out = []
    for case in CASES:
        line, code, xfail, yaml_excerpt = (*case, None, False)[:4]
        marks = [pytest.mark.xfail(strict=False, reason=xfail)] if xfail else []
        out.append(pytest.param(line, code, yaml_excerpt, marks=marks, id=line[:90]))
    return out


def test_every_command_has_fuzz_cases():
    covered = {_command_of(c[0]) for c in CASES}
    missing = sorted(set(COMMANDS) - covered)
    assert not missing, f"commands without a fuzz case in CASES: {missing}"
    assert len(COMMANDS) >= 45


@pytest.fixture(scope="module")
def lakes(demo_store, tmp_path_factory):
    """A private copy of the sample lake, and a lake with only its initial commit."""
    import icechunk

    base = tmp_path_factory.mktemp("fuzz")
    store = base / "store"
    shutil.copytree(demo_store, store)
    empty = base / "empty"
    icechunk.Repository.create(icechunk.local_filesystem_storage(str(empty)))
    bad_yaml = base / "bad.yaml"
    bad_yaml.write_text("rules: [\n  flow: {\n")
    plain = base / "plain.txt"
    folder = base / "folder"             # a folder with no feature definitions
    folder.mkdir()
    bad_csv = base / "series.csv"        # a day that does not exist on line 3
    bad_csv.write_text("time,a\n2026-03-01T00:00:00+00:00,1\n2026-03-32T00:00:00+00:00,2\n")
    plain.write_text("not a folder, not scenarios\n")
    return {"store": str(store), "empty": str(empty), "bad_yaml": str(bad_yaml),
            "file": str(plain), "folder": str(folder), "bad_csv": str(bad_csv),
            "sample": str(ROOT / "data_samples")}


def _tips(lakes) -> dict:
    from pumplib.lake import Lake

    return {k: Lake(lakes[k]).tip() for k in ("store", "empty")}


def _check_one_line(stderr: str, yaml_excerpt: bool = False) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines, "nothing on stderr"
    assert lines[0].startswith("error: ") and len(lines[0]) > len("error: "), lines
    assert "Traceback" not in stderr
    if yaml_excerpt:
        assert len(lines) <= 4 and "^" in lines[-1], lines
    else:
        assert len(lines) == 1, lines


@pytest.mark.parametrize(("line", "code", "yaml_excerpt"), _params())
def test_fuzz_case(line, code, yaml_excerpt, lakes, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    typo_root = tmp_path / "no"
    typo = typo_root / "stor"
    args = [a.format(typo=typo, **lakes) for a in shlex.split(line)]
    before_root = set(os.listdir(ROOT))
    tips = _tips(lakes)
    res = runner.invoke(app, args)
    assert res.exception is None or isinstance(res.exception, SystemExit), \
        f"{type(res.exception).__name__}: {res.exception}"
    assert res.exit_code == code, (res.exit_code, res.stderr, res.stdout[-500:])
    _check_one_line(res.stderr, yaml_excerpt)
    assert not typo_root.exists(), f"created {sorted(map(str, typo_root.rglob('*')))}"
    assert set(os.listdir(ROOT)) <= before_root, "created files in the project folder"
    assert _tips(lakes) == tips, "an error committed to the lake"


# -- a lake with no data yet: the commands that list or summarise answer (exit 0) -----------
@pytest.mark.parametrize(("line", "expected"), [
    ("lake summary --store {empty}", "no data yet: ingest files first"),
    ("lake summary --store {empty} --json", '"cadences": {}'),
    ("lake log --store {empty}", "lake log"),
    ("lake quarantine --store {empty} --json", '"rows": 0'),
    ("features history --store {empty}", "no feature builds"),
    ("quality overrides --store {empty}", "no overrides"),
    ("outliers list --store {empty} --json", "[]"),
])
def test_a_lake_with_no_data_yet_answers(line, expected, lakes):
    res = runner.invoke(app, [a.format(**lakes) for a in shlex.split(line)])
    assert res.exit_code == 0, (res.stderr, res.stdout)
    assert expected in res.stdout
    assert "Traceback" not in res.stderr


def test_empty_lake_errors_say_no_data_yet(lakes):
    for line in ("query energy_integral --store {empty}", "validate --store {empty}",
                 "features build --store {empty}", "quality report --store {empty}"):
        res = runner.invoke(app, [a.format(**lakes) for a in shlex.split(line)])
        assert res.exit_code == 2
        assert "no data yet" in res.stderr and "ingest files first" in res.stderr, res.stderr


def test_messages_name_the_option_value_and_close_matches(lakes):
    def err(line):
        return runner.invoke(app, [a.format(**lakes) for a in shlex.split(line)]).stderr

    e = err("quality override N-P1 2026-03-32 2026-04-01 bad --reason r --store {store}")
    assert "START '2026-03-32' is not a time" in e and "YYYY-MM-DD" in e
    e = err("quality override N-P9 2026-03-10 2026-03-11 bad --reason r --store {store}")
    assert "unknown asset 'N-P9'. Did you mean" in e and "cadence" not in e
    e = err("quality override N-P1 2026-03-10 2026-03-11 bad --reason r --store {store} "
            "--signal flwo")
    assert "Did you mean 'flow'" in e
    assert "Did you mean '1D'" in err("query energy_integral --store {store} --level 1d")
    assert "Did you mean 'Europe/Amsterdam'" in err("quality report --store {store} "
                                                    "--timezone Europe/Amsterdm")
    assert "Did you mean 'store.url'" in err("config get stor.url")
    assert "No such option: --stroe" in err("lake log --stroe x")


# -- real processes: exit status, stderr and nothing created, as a shell sees them -----------
def test_real_processes_one_line_and_nothing_created(lakes, tmp_path):
    typo = tmp_path / "no" / "stor"
    lines = [
        f"lake summary --store {typo}",
        f"quality override N-P1 2026-03-32 2026-04-01 bad --reason r --store {typo}",
        f"quality override N-P9 2026-03-10 2026-03-11 bad --reason r --store {lakes['store']}",
        f"query energy_integral --store {lakes['empty']}",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [subprocess.Popen([sys.executable, "-m", "pumplib", *shlex.split(line)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for line in lines]
    for line, p in zip(lines, procs, strict=True):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 2, (line, err)
        assert "Traceback" not in err, err
        # icechunk's own log (Rust tracing) may warn about local storage; pumplib prints one line
        ours = [ln for ln in err.splitlines() if ln.strip() and "WARN" not in ln
                and "object_store" not in ln]
        assert len(ours) == 1 and ours[0].startswith("error: "), (line, err)
    assert not (tmp_path / "no").exists()


# -- every command that takes --store, found from the app: a mistyped store is one line -------
#: commands that create the store they write (a new path is a new lake, not a typo)
WRITERS = {"ingest", "demo", "run pipeline", "schedule", "live run"}
#: a plausible value for each required parameter, by name, so only the store is wrong
REQUIRED = {"question": "energy of N-P1 yesterday", "features": "energy", "feature": "energy",
            "name": "energy", "asset": "N-P1", "start": "2026-03-10", "end": "2026-03-11",
            "status": "bad", "reason": "fuzz", "event_id": "OUT-1", "query": "energy",
            "path": "{file}"}


def _store_commands():
    root = typer.main.get_command(app)
    out = []
    for name in COMMANDS:
        cmd = root
        for word in name.split():
            cmd = cmd.commands[word]
        if name in WRITERS or not any("--store" in getattr(p, "opts", []) for p in cmd.params):
            continue
        args = []
        for p in cmd.params:
            if not p.required:
                continue
            value = REQUIRED[p.name]
            args += [value] if p.param_type_name == "argument" else [p.opts[0], value]
        out.append(pytest.param(name, args, id=name))
    return out


@pytest.mark.parametrize(("name", "args"), _store_commands())
def test_every_store_option_refuses_a_mistyped_store(name, args, lakes, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    typo = tmp_path / "no" / "stor"
    res = runner.invoke(app, [*name.split(), *(a.format(**lakes) for a in args),
                              "--store", str(typo)])
    assert res.exit_code == 2, (res.stderr, res.stdout[-300:])
    _check_one_line(res.stderr)
    assert "no lake at" in res.stderr or "does not exist" in res.stderr, res.stderr
    assert not (tmp_path / "no").exists()


def test_store_commands_are_found():
    found = {p.values[0] for p in _store_commands()}
    assert {"query", "quality override", "lake summary", "features build", "serve ops",
            "outliers detect", "forecast run", "ask"} <= found


def test_tracebacks_the_fuzz_found_stay_fixed(lakes):
    """Valid input that crashed: a scorecard at a level with fewer periods than lags."""
    res = runner.invoke(app, ["scorecard", "runtime_mean", "--store", lakes["store"],
                              "--level", "1M", "--no-backtest", "--json"])
    assert res.exit_code == 0, (res.stderr, res.exception)
    assert '"level": "1M"' in res.stdout
