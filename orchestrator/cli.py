"""The ``paretoctl`` command line (Typer + rich).

Every command maps bad input (spec, flags, store URL, missing data) to one line on stderr
and exit code 2, before anything is written; exit code 1 means the work ran but some of
it failed (e.g. failed trials).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contract.result import SPLITS
from contract.trial import TrialConfig
from orchestrator.cli_common import err, user_errors
from orchestrator.errors import UserInputError

app = typer.Typer(
    name="paretoctl", no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
    help="Pareto-front sweeps for multi-objective multi-task learning: run sweeps on Ray "
         "Tune, store every evaluated point in SQL, compute fronts and hypervolumes.",
)
out = Console() if Console().is_terminal else Console(width=200)

from orchestrator.data_cli import data_app  # noqa: E402
from orchestrator.db_cli import db_app  # noqa: E402

app.add_typer(data_app, name="data")
app.add_typer(db_app, name="db")


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("paretoctl")
    except PackageNotFoundError:  # running from a source tree
        return "dev"


def print_version(value: bool) -> None:
    if value:
        out.print(f"paretoctl {installed_version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def global_options(
    version: bool = typer.Option(False, "--version", callback=print_version, is_eager=True,
                                 help="print paretoctl's version and exit"),
) -> None:
    """Pareto-front sweeps for multi-objective multi-task learning: run sweeps on Ray Tune,
    store every evaluated point in SQL, compute fronts and hypervolumes."""

STORE_HELP = "SQLAlchemy URL of the results store (env PARETOCTL_STORE; default sqlite:///paretoctl.db)"

# Options shared by the commands that read points (front, report, plot)
DatasetOpt = Annotated[str, typer.Option("--dataset", help="dataset name (e.g. multifashion)")]
SweepOpt = Annotated[Optional[str], typer.Option("--sweep", help="only points of this sweep")]
MethodOpt = Annotated[Optional[str], typer.Option("--method", help="only this method")]
ArchOpt = Annotated[Optional[str], typer.Option("--arch", help="only this architecture")]
SplitOpt = Annotated[str, typer.Option("--split", help=" | ".join(SPLITS))]
FormatOpt = Annotated[str, typer.Option("--format", help="table | csv | json")]
StoreOpt = Annotated[Optional[str], typer.Option("--store", help=STORE_HELP)]


# ----------------------------------------------------------------------------- sweep


def dry_run_table(trials: list[dict]) -> Table:
    """The expanded trials (plain ``TrialConfig``s), one row each."""
    table = Table(title=f"{len(trials)} trials", show_lines=False)
    for column in ("key", "dataset", "arch", "method", "preference", "seed", "epochs"):
        table.add_column(column)
    for t in map(TrialConfig.from_plain, trials):
        pref = "-" if t.preference is None else "(" + ", ".join(f"{v:g}" for v in t.preference) + ")"
        table.add_row(t.key, t.dataset.name, t.arch.name, t.method.name, pref, str(t.seed),
                      str(t.train.epochs))
    return table


@app.command()
@user_errors
def sweep(
    spec_path: Path = typer.Argument(..., metavar="SPEC.yaml", help="sweep file"),
    store: StoreOpt = None,
    address: Optional[str] = typer.Option(None, "--address", help="address of an existing Ray cluster (default: start a local Ray)"),
    resume: bool = typer.Option(False, "--resume", help="continue an existing sweep of the same name even if its spec changed"),
    max_concurrent: Optional[int] = typer.Option(None, "--max-concurrent", help="trials running at once, >= 1 (overrides resources.max_concurrent)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the expanded trials and exit; runs and writes nothing"),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="datasets folder (env PARETOCTL_DATA; default ./data)"),
    artifacts: Optional[str] = typer.Option(None, "--artifacts", metavar="DIR", help="folder for the trials' saved models (default: beside a SQLite store, results.db -> results.artifacts/; other stores: .paretoctl/artifacts/<database>/)"),
) -> None:
    """Run every trial of a sweep file on Ray Tune and store the evaluated points.

    Trials already done in the store (same key) are not run again; failed or interrupted ones are. Exit code 1 when some trial failed, 2 on bad input (nothing written) or when another run of the sweep holds it, 130 / 143 when SIGINT / SIGTERM stopped it (running trials are stored as interrupted).
    """
    from orchestrator.sweep import run_sweep_command

    from orchestrator.spec import MAX_CONCURRENT  # the sweep file's bound on max_concurrent

    if max_concurrent is not None and not 1 <= max_concurrent <= MAX_CONCURRENT:
        raise UserInputError(f"--max-concurrent: expected a whole number in 1..{MAX_CONCURRENT}, "
                             f"got {max_concurrent}")
    try:
        code = run_sweep_command(spec_path, store_url=store, address=address, resume=resume,
                                 max_concurrent=max_concurrent, dry_run=dry_run,
                                 data_dir=data_dir, out=out, err=err, dry_run_table=dry_run_table,
                                 artifacts=artifacts)
    except KeyboardInterrupt:  # Ctrl-C before the trials ran (while they run it stops them)
        err.print("stopped by SIGINT; run the same command again to finish", highlight=False)
        raise typer.Exit(130) from None
    raise typer.Exit(code)


# ----------------------------------------------------------------------------- front


def parse_floats(text: Optional[str], what: str) -> Optional[list[float]]:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserInputError(f"{what}: expected comma-separated numbers, got {text!r}") from None


def parse_list(text: Optional[str]) -> Optional[list[str]]:
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


def parse_eps(text: str) -> float:
    """``--eps``: one finite number >= 0 (checked here so bad input is one line, not a usage box)."""
    try:
        value = float(text)
    except ValueError:
        raise UserInputError(f"--eps: expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise UserInputError(f"--eps: expected a finite number >= 0, got {text!r}")
    return value


def checked_ref_flag(text: Optional[str], names: list[str]) -> Optional[list[float]]:
    """``--ref-point`` as one finite number per objective, in the objectives' own units."""
    from analysis.front import checked_ref_point

    values = parse_floats(text, "--ref-point")
    if values is None:
        return None
    try:
        return checked_ref_point(values, len(names))
    except ValueError as exc:
        raise UserInputError(f"--ref-point ({', '.join(names)}): {exc}") from None


def objectives_help(lead: str) -> str:
    """``--objectives`` help listing the metric registry's names (``contract.metrics``)."""
    from contract.metrics import patterns

    return f"{lead}: {', '.join(patterns())}; globs ok (default mcr.* or loss.*)"


REF_POINT_HELP = ("comma list, one per objective, in its own units (default: 1 for minimised "
                  "rates such as mcr, 0 for maximised ones such as acc and sr, else 10% beyond "
                  "the worst value: 1.1 x the worst loss)")


def print_view(view, fmt: str) -> None:
    """A read command's output on stdout, rendered by the one formatter (analysis.format)."""
    from analysis.format import render

    rendered = render(view, fmt)
    if isinstance(rendered, str):
        sys.stdout.write(rendered)
    else:
        out.print(rendered)


def checked_format(fmt: str) -> str:
    """``--format`` as one of the formatter's formats, else bad input (before any read)."""
    from analysis.format import FORMATS

    if fmt not in FORMATS:
        raise UserInputError(f"--format: expected {', '.join(FORMATS[:-1])} or {FORMATS[-1]}, got {fmt!r}")
    return fmt


@app.command()
@user_errors
def front(
    dataset: DatasetOpt,
    sweep: SweepOpt = None,
    method: MethodOpt = None,
    arch: ArchOpt = None,
    split: SplitOpt = "test",
    objectives: Optional[str] = typer.Option(None, "--objectives", help=objectives_help("comma list of objectives")),
    eps: str = typer.Option("0", "--eps", metavar="E", help="epsilon-nondominance margin, a number >= 0 (0 = exact Pareto front)"),
    ref_point: Optional[str] = typer.Option(None, "--ref-point", help=REF_POINT_HELP),
    fmt: FormatOpt = "table",
    rows: int = typer.Option(50, "--rows", metavar="N", help="table format: show the first N front points (0 = all); csv and json print all"),
    store: StoreOpt = None,
    live: bool = typer.Option(False, "--live", help="add a provisional point for every running trial: its latest stored epoch's validation scores, marked live"),
) -> None:
    """Print the (epsilon-)Pareto front of stored points and its hypervolume."""
    from analysis.front import compute_front, objective_metrics, objective_task_values

    margin = parse_eps(eps)
    if rows < 0:
        raise UserInputError(f"--rows: expected a whole number >= 0, got {rows}")
    db = open_existing_store(store)
    patterns = parse_list(objectives) or []

    def load(task_values):
        # the bulk load reads the objectives only, as numpy columns (no pandas); what the
        # front's rows show comes after (a live front reads everything into a DataFrame:
        # its provisional points have no stored rows to look up)
        return load_filtered_points(db, fmt, live=live,
                                    metrics=None if live else objective_metrics(patterns),
                                    details=live, frame=live, task_values=task_values,
                                    dataset=dataset, sweep=sweep, method=method, arch=arch,
                                    split=split)

    # the default objectives are mcr.* unless a task has no accuracy: accuracies first
    df = load((objective_task_values(patterns) if patterns else ()) or ("acc",))
    names = chosen_objectives(objectives, df)
    if any(name not in df for name in names):  # the default is loss.*: read the losses
        df = load(("loss", "acc"))
    if live:
        df = drop_incomplete_live(df, names)
    result = compute_front(df, names, margin, checked_ref_flag(ref_point, names))
    if not live:
        with_front_details(db, result, rows if fmt == "table" else 0)
    emit_front(result, fmt, rows)


def with_front_details(db, result, shown: int = 0) -> None:
    """Add to ``result``'s rows what the bulk load left out (split, ray index, preference,
    sr/cr/ps), read for its first ``shown`` rows only (0: all): a table shows no more, and
    on a front of 1e5 points the reading would cost more than the front. Rows not shown
    have None there."""
    import numpy as np

    from analysis.columns import Indexed
    from analysis.front import SHOWN_METRICS
    from store.queries import point_detail_columns

    points = result.points
    count = len(points) if not shown else min(shown, len(points))
    metrics = [m for m in SHOWN_METRICS if m not in points]
    details = point_detail_columns(db, points["point_id"][:count], metrics)
    if count < len(points):  # every hidden row points at one None after the shown values
        index = np.minimum(np.arange(len(points)), count)
        details = {k: Indexed(np.append(v.astype(object), None), index) for k, v in details.items()}
    result.points = points.assign(**details)


def emit_front(result, fmt: str, rows: int = 0) -> None:
    """The front on stdout; warnings, and for CSV the hypervolume line, on stderr."""
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    print_view(result.view(table_rows=rows or None), fmt)
    if fmt == "csv":  # the table has it as caption, JSON as fields
        err.print(escape(result.summary()), highlight=False, soft_wrap=True)


def chosen_objectives(text: Optional[str], df) -> list[str]:
    """``--objectives`` expanded over the loaded columns, or the default (mcr.* / loss.*);
    a pattern that matches nothing or is given twice is bad input."""
    from analysis.front import default_objectives, expand_objectives
    from contract import metrics as registry
    from store.queries import POINT_COLUMNS

    # metrics and per-task values not loaded (no pattern could match them) are still named
    # when none matches, where a full load has them
    columns, tasks = list(df.columns), registry.task_names(df.columns)
    kinds = (registry.LOSS.name, registry.ACC.name, registry.MCR.name)
    block = [f"{kind}.{task}" for kind in kinds for task in tasks]
    if not set(block) <= set(columns):
        at = next(i for i, c in enumerate(columns) if c in block)
        columns = [*columns[:at], *block, *[c for c in columns[at:] if c not in block]]
    available = [*columns, *[m for m in POINT_COLUMNS if m not in columns]]
    try:
        return expand_objectives(parse_list(text), available) if text else default_objectives(df)
    except ValueError as exc:
        raise UserInputError(f"--objectives: {exc}") from None


def load_filtered_points(store, fmt: str, live: bool = False, metrics=None, details: bool = True,
                         frame: bool = True, task_values=("loss", "acc"), **filters):
    """The points a front or report reads from ``store`` (a URL or None, or an opened
    Store); ``metrics``, ``details``: as for load_points; ``live`` adds running trials'
    provisional points (a ``live`` column marks them); ``frame=False`` gives numpy
    ``Columns`` instead of a DataFrame (no pandas), of the ``task_values`` only (as for
    load_point_columns). Bad --split/--format or no match is bad input."""
    from store.db import Store
    from store.queries import PointFilter, load_point_columns, load_points

    splits = filters["split"] if isinstance(filters["split"], list) else [filters["split"]]
    if any(split not in SPLITS for split in splits):
        raise UserInputError(f"--split: expected {', '.join(SPLITS[:-1])} or {SPLITS[-1]}, "
                             f"got {filters['split']!r}")
    checked_format(fmt)
    db = store if isinstance(store, Store) else open_existing_store(store)
    if frame:
        df = load_points(db, PointFilter(**filters), metrics=metrics, details=details)
    else:
        from analysis.columns import Columns

        df = Columns(load_point_columns(db, PointFilter(**filters), metrics=metrics,
                                        details=details, task_values=task_values))
    if live:
        df = with_live_points(db, df, PointFilter(**filters))
    if not len(df):
        named = " ".join(f"--{k} {v}" for k, v in filters.items() if v is not None)
        raise UserInputError(f"no stored points match {named}")
    return df


def with_live_points(db, df, flt):
    """``df`` with ``live`` False, plus a live point (``live`` True) from the latest epoch
    of every running trial matching ``flt`` (validation scores, whatever the split)."""
    import pandas as pd

    from store.queries import live_points

    live = live_points(db, flt).drop(columns=["stage"]).assign(live=True)
    if live.empty:
        return df.assign(live=False)
    frames = [frame for frame in (df.assign(live=False), live) if not frame.empty]
    names = list(frames[0].columns) + [c for c in live.columns if c not in frames[0].columns]
    # all-NaN columns (a live point's SR) are left to reindex: concat would guess their type
    frames = [frame.dropna(axis=1, how="all") for frame in frames]
    return pd.concat(frames, ignore_index=True).reindex(columns=names)


def drop_incomplete_live(df, names: list[str]):
    """Live points lacking an objective (an epoch has no SR; a front learner's epoch no
    per-task scores) leave the front, each with a one-line note on stderr."""
    live = df["live"].astype(bool)
    missing = df[names].isna()
    for index in df.index[live & missing.any(axis=1)]:
        lacks = ", ".join(n for n in names if missing.at[index, n])
        err.print(f"note: running trial {df.at[index, 'trial']} (epoch {int(df.at[index, 'epoch']) + 1}) "
                  f"left out: its latest epoch has no {lacks}", highlight=False, soft_wrap=True)
    return df[~(live & missing.any(axis=1))]


def open_existing_store(url: Optional[str]):
    from store.db import open_store, resolve_store_url

    return open_store(resolve_store_url(url), create=False, read_only=True)


# ----------------------------------------------------------------------------- report


@app.command()
@user_errors
def report(
    dataset: DatasetOpt,
    sweep: SweepOpt = None,
    method: MethodOpt = None,
    arch: ArchOpt = None,
    split: SplitOpt = "test",
    objectives: Optional[str] = typer.Option(None, "--objectives", help=objectives_help("comma list of objectives as for front")),
    ref_point: Optional[str] = typer.Option(None, "--ref-point", help="comma list, one per objective in its own units as for front, shared by every row"),
    fmt: FormatOpt = "table",
    select_by: Optional[str] = typer.Option(None, "--select-by", help="val-hv: report each method's configuration (hyper-parameters) with the largest validation hypervolume, as `best` picks it"),
    store: StoreOpt = None,
) -> None:
    """Compare methods: hypervolume (mean and std over seeds), best point, SR/CR/PS, time."""
    from analysis.report import compare, report_view

    if select_by is not None and select_by != "val-hv":
        raise UserInputError(f"--select-by: expected val-hv, got {select_by!r}")
    df = load_filtered_points(store, fmt, dataset=dataset, sweep=sweep, method=method, arch=arch,
                              split=sorted({split, "val"}) if select_by else split)
    names = chosen_objectives(objectives, df)
    selected = None
    if select_by:
        from analysis.select import chosen_trials

        selections, _ = select_configurations(store, df, names, dataset=dataset, sweep=sweep,
                                              method=method, arch=arch)
        df = df[(df["split"] == split) & df["trial"].isin(chosen_trials(selections))]
        if df.empty:
            raise UserInputError(f"the chosen configurations have no {split} points")
        selected = {s.method: s.varied for s in selections}
    table, ref = compare(df, names, checked_ref_flag(ref_point, names))
    print_view(report_view(table, names, ref, selected), fmt)


def select_configurations(store: Optional[str], df, names: list[str], **filters):
    """Each method's configuration by validation hypervolume over the loaded val points
    (``df``), the trials' stored configs telling configurations apart."""
    from analysis.select import select_by_val_hv
    from store.queries import PointFilter, trial_configs

    configs = trial_configs(open_existing_store(store), PointFilter(split=None, **filters))
    try:
        return select_by_val_hv(df.assign(config=df["trial"].map(configs)), names)
    except ValueError as exc:
        raise UserInputError(str(exc)) from None


# ----------------------------------------------------------------------------- best


@app.command()
@user_errors
def best(
    dataset: DatasetOpt,
    sweep: SweepOpt = None,
    method: MethodOpt = None,
    arch: ArchOpt = None,
    objectives: Optional[str] = typer.Option(None, "--objectives", help=objectives_help("comma list of objectives")),
    eps: str = typer.Option("0", "--eps", metavar="E", help="epsilon-nondominance margin of the test fronts, a number >= 0"),
    ref_point: Optional[str] = typer.Option(None, "--ref-point", help=REF_POINT_HELP + "; for the test fronts (selection uses the default over the val points)"),
    fmt: FormatOpt = "table",
    rows: int = typer.Option(50, "--rows", metavar="N", help="table format: show the first N points (0 = all); csv and json print all"),
    store: StoreOpt = None,
) -> None:
    """Pick each method's hyper-parameters by validation hypervolume; print their test front.

    A configuration is a trial's settings apart from preference and seed; its validation hypervolume is the mean over seeds of the hypervolume of its val points. The chosen one's test points give the front shown (selection on val, report on test).
    """
    from analysis.select import best_view, chosen_test_fronts

    margin = parse_eps(eps)
    if rows < 0:
        raise UserInputError(f"--rows: expected a whole number >= 0, got {rows}")
    df = load_filtered_points(store, fmt, dataset=dataset, sweep=sweep, method=method,
                              arch=arch, split=["val", "test"])
    names = chosen_objectives(objectives, df)
    ref = checked_ref_flag(ref_point, names)
    selections, val_ref = select_configurations(store, df, names, dataset=dataset, sweep=sweep,
                                                method=method, arch=arch)
    test = df[df["split"] == "test"]
    if test.empty:
        raise UserInputError("no test points: the chosen configurations need the test split")
    fronts = chosen_test_fronts(selections, test, names, margin, ref)
    print_view(best_view(selections, fronts, names, val_ref, rows or None), fmt)


# ----------------------------------------------------------------------------- plot


@app.command()
@user_errors
def plot(
    dataset: DatasetOpt,
    out_file: Path = typer.Option(..., "--out", help="picture to write: .png, .svg or .pdf"),
    sweep: SweepOpt = None,
    method: MethodOpt = None,
    arch: ArchOpt = None,
    split: SplitOpt = "test",
    objectives: Optional[str] = typer.Option(None, "--objectives", help=objectives_help("2 or 3 objectives")),
    store: StoreOpt = None,
) -> None:
    """Draw the stored points and fronts (2-D or 3-D), one colour per method."""
    from analysis.plot import plot_front

    if out_file.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UserInputError(f"--out: expected a .png, .svg or .pdf file, got {str(out_file)!r}")
    if not out_file.parent.is_dir():
        raise UserInputError(f"--out: folder {str(out_file.parent)!r} does not exist")
    df = load_filtered_points(store, "table", dataset=dataset, sweep=sweep, method=method,
                              arch=arch, split=split)
    names = chosen_objectives(objectives, df)
    try:
        if len(names) not in (2, 3):
            raise ValueError(f"a plot needs 2 or 3 objectives, got {len(names)}: {', '.join(names)}")
        title = f"{dataset} ({sweep or 'all sweeps'}, {split} split)"
        drawn = plot_front(df, names, out_file, title)
    except ValueError as exc:
        raise UserInputError(f"--objectives: {exc}") from None
    out.print(escape(f"wrote {out_file} ({drawn} points, objectives {', '.join(names)})"))


# ----------------------------------------------------------------------------- trials


TRIAL_TABLE = ["key", "method", "dataset", "arch", "seed", "preference", "status", "sr", "cr",
               "ps", "time_train_s"]


def short_nodes(nodes) -> dict[str, str]:
    """Each stored node ("IP/node id") as the table shows it: the IP, or the IP and the
    first 8 characters of the node id where two of ``nodes`` share that IP."""
    split = {n: n.partition("/") for n in nodes if isinstance(n, str)}
    ips = [ip for ip, _, _ in split.values()]
    return {n: f"{ip}/{node_id[:8]}" if node_id and ips.count(ip) > 1 else ip
            for n, (ip, _, node_id) in split.items()}


def run_columns(rows: list[dict]) -> list:
    """The table columns of how the trials ran, each only where some trial has it set:
    node (shortened), attempts (when > 1), pack (its first 8 hex digits), precision."""
    from analysis.format import Column

    nodes = short_nodes(r["node"] for r in rows)
    shown = {"node": lambda v: escape(nodes.get(v, "")),  # stored text: no rich markup
             "attempts": lambda v: str(v) if v is not None and v > 1 else "",
             "pack": lambda v: escape(v[:8]) if v else "",
             "precision": lambda v: escape(v or "")}
    return [Column(key, justify="left" if key != "attempts" else "right", cell=cell)
            for key, cell in shown.items() if any(cell(r[key]) for r in rows)]


def trials_view(df):
    """The trials for the formatter: the table shows TRIAL_TABLE and the run columns some
    trial has set, CSV and JSON every column ``list_trials`` gives (sweeps, error and the
    run columns as stored included)."""
    from analysis.format import View, columns, plain, records

    rows = [{k: plain(v) for k, v in r.items()} for r in records(df)]
    text = ["key", "method", "dataset", "arch", "preference", "status", "sweeps", "error"]
    return View(rows=rows, columns=columns(TRIAL_TABLE, left=text) + run_columns(rows),
                csv_columns=columns(df.columns), title=f"{len(df)} trials",
                document={"trials": rows})


@app.command()
@user_errors
def trials(
    dataset: Optional[str] = typer.Option(None, "--dataset", help="only trials on this dataset"),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="only trials of this sweep"),
    method: MethodOpt = None,
    arch: ArchOpt = None,
    status: Optional[str] = typer.Option(None, "--status", help="pending | running | done | failed | interrupted"),
    fmt: FormatOpt = "table",
    store: StoreOpt = None,
    watch: bool = typer.Option(False, "--watch", help="follow a running sweep: show the trials again every --interval seconds, with each running trial's latest epoch and validation score, until none is pending or running (Ctrl-C stops)"),
    interval: float = typer.Option(2.0, "--interval", metavar="S", help="--watch: seconds between reads of the store (0.2 to 3600)"),
) -> None:
    """List trials with status, preference, SR/CR/PS (test split) and training time.

    The table prints each failed trial's error on stderr; CSV and JSON carry it in an ``error`` column.
    """
    from store.queries import PointFilter, list_trials
    from store.schema import TRIAL_STATUSES

    if status is not None and status not in TRIAL_STATUSES:
        raise UserInputError(f"--status: expected one of {', '.join(TRIAL_STATUSES)}, got {status!r}")
    checked_format(fmt)
    flt = PointFilter(dataset=dataset, sweep=sweep, method=method, arch=arch)
    if watch:
        watch_trials(store, flt, status, fmt, interval)
        return
    db = open_existing_store(store)
    df = list_trials(db, flt)
    if status:
        df = df[df["status"] == status]
    print_view(trials_view(df), fmt)
    if fmt == "table":
        for _, row in df[df["status"] == "failed"].iterrows():
            err.print(f"[red]{row['key']} failed:[/red] {escape(str(row.get('error')))}", highlight=False)


def watch_trials(store: Optional[str], flt, status: Optional[str], fmt: str,
                 interval: float) -> None:
    """``trials --watch``: checked flags, then the watch loop; Ctrl-C ends it with exit 0."""
    from orchestrator.watch import MAX_INTERVAL_S, MIN_INTERVAL_S, watch

    if not MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S:  # NaN fails too
        raise UserInputError(f"--interval: expected seconds from {MIN_INTERVAL_S:g} to "
                             f"{MAX_INTERVAL_S:g}, got {interval:g}")
    if fmt != "table":
        raise UserInputError(f"--format {fmt}: --watch shows a table; drop --watch for {fmt}")
    db = open_existing_store(store)
    try:
        watch(db, flt, out, interval, status)
    except KeyboardInterrupt:
        err.print("stopped watching", highlight=False)


from orchestrator.model_cli import model as model_command  # noqa: E402

app.command(name="model")(model_command)


def main() -> None:  # pragma: no cover - console script entry
    app()
