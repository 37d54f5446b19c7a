"""`paretoctl trials --watch`: follow a running sweep from another terminal.

Every few seconds the store is read again (read-only, as any reader: SQLite in WAL mode
lets it read while the sweep writes; PostgreSQL likewise) and the trials are shown with
their status, and for running ones their latest stored epoch and validation score. On a
terminal the table is redrawn in place; elsewhere (a file, a pipe) each change prints one
line. It ends when no trial is pending or running any more, or on Ctrl-C.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import pandas as pd
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

MIN_INTERVAL_S, MAX_INTERVAL_S = 0.2, 3600.0
# a trial in one of these may still change; the watch waits until none is
UNFINISHED = ("pending", "running")


def read_trials(store, flt) -> pd.DataFrame:
    """The trials matching ``flt`` with their latest epoch (stage, epoch, stage_epochs,
    val_score, elapsed_s; NaN/None for trials that are not running or have none yet)."""
    from store.queries import latest_epochs, list_trials

    trials = list_trials(store, flt)
    epochs = latest_epochs(store, flt)[["key", "stage", "epoch", "stage_epochs",
                                        "val_score", "elapsed_s"]]
    return trials.merge(epochs, on="key", how="left")


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def progress_text(row: dict[str, Any]) -> str:
    """A running trial's place: ``train 2/3`` (stage, epoch counted from 1, stage
    length); ``-`` before its first epoch or when it is not running."""
    epoch = _number(row.get("epoch"))
    if row.get("status") != "running" or epoch is None:
        return "-"
    total = _number(row.get("stage_epochs"))
    return f"{row['stage']} {int(epoch) + 1}" + (f"/{int(total)}" if total else "")


def score_text(row: dict[str, Any]) -> str:
    score = _number(row.get("val_score"))
    return "-" if score is None or not math.isfinite(score) else f"{score:.4f}"


def trials_table(df: pd.DataFrame, title: str) -> Table:
    """The watched trials: identity, status, epoch progress and last validation score."""
    table = Table(title=title)
    for column in ("key", "method", "arch", "seed", "preference", "status", "epoch", "val_score"):
        table.add_column(column, justify="right" if column in ("seed", "val_score") else "left")
    for row in df.to_dict("records"):
        pref = row.get("preference")
        pref = "-" if not isinstance(pref, list) else "(" + ", ".join(f"{v:g}" for v in pref) + ")"
        table.add_row(row["key"], str(row["method"]), str(row["arch"]), str(row["seed"]), pref,
                      str(row["status"]), progress_text(row), score_text(row))
    return table


def summary(df: pd.DataFrame) -> str:
    """``3 trials: done 2, running 1`` (statuses in a fixed order)."""
    counts = df["status"].value_counts()
    order = ("done", "running", "pending", "failed", "interrupted")
    parts = [f"{status} {int(counts[status])}" for status in order if status in counts]
    return f"{len(df)} trials" + (": " + ", ".join(parts) if parts else "")


def line_state(row: dict[str, Any]) -> str:
    """One trial's line in the non-terminal output; a new line is printed when it changes."""
    text = f"trial {row['key']} {row['status']}"
    if row["status"] == "running" and _number(row.get("epoch")) is not None:
        text += f" {progress_text(row)} val {score_text(row)}"
    return text


def watch(store, flt, console: Console, interval: float, status: str | None = None,
          sleep: Callable[[float], None] = time.sleep) -> None:
    """Show the trials matching ``flt`` (``status`` filters what is shown, not when it
    ends) every ``interval`` seconds until none is pending or running."""
    shown: dict[str, str] = {}
    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    if live is not None:
        live.start()
    try:
        while True:
            df = read_trials(store, flt)
            visible = df if status is None else df[df["status"] == status]
            finished = not df.empty and not df["status"].isin(UNFINISHED).any()
            title = summary(df) if not df.empty else "no trials yet"
            if live is not None:
                live.update(trials_table(visible, f"{title}  (every {interval:g} s)"),
                            refresh=True)
            else:
                for row in visible.to_dict("records"):
                    state = line_state(row)
                    if shown.get(row["key"]) != state:
                        console.print(escape(state), highlight=False, soft_wrap=True)
                        shown[row["key"]] = state
            if finished:
                break
            sleep(interval)
    finally:
        if live is not None:
            live.stop()
    console.print(f"all finished: {summary(df)}", highlight=False)
