"""Processes that open one new store at the same moment (shared by the SQLite and
PostgreSQL store tests)."""
from __future__ import annotations

import multiprocessing

from store.db import open_store

#: how long a process waits for the others, and the test for an outcome: generous for a
#: loaded machine, which may start the processes seconds apart
OUTCOME_TIMEOUT_S = 300


def _open_new_store(url: str, begin, queue) -> None:
    try:
        begin.wait(OUTCOME_TIMEOUT_S)  # every process is up: they open at the same moment
        open_store(url, create=True).close()
        queue.put("ok")
    except Exception as exc:  # reported to the parent
        queue.put(f"{type(exc).__name__}: {exc}")


def create_at_once(url: str, processes: int = 4) -> list[str]:
    """Each process's outcome: "ok" or the error it met."""
    context = multiprocessing.get_context("fork")
    queue, begin = context.Queue(), context.Barrier(processes)
    workers = [context.Process(target=_open_new_store, args=(url, begin, queue))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    outcomes = [queue.get(timeout=OUTCOME_TIMEOUT_S) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    return outcomes


def read_while_created(url: str, monkeypatch) -> str:
    """A read-only open whose first look at the database's tables is followed at once by
    another connection creating the store (committed): "ok", or the error the reader met.
    A reader must see either no store or the whole one, never a store half-made."""
    from sqlalchemy.engine.reflection import Inspector

    original = Inspector.get_table_names
    state = {"created": False}

    def look_then_create(self, *args, **kwargs):
        names = original(self, *args, **kwargs)
        if not state["created"]:
            state["created"] = True
            open_store(url, create=True).close()
        return names

    monkeypatch.setattr(Inspector, "get_table_names", look_then_create)
    try:
        open_store(url, create=False, read_only=True).close()
        return "ok"
    except Exception as exc:  # the outcome under test
        return f"{type(exc).__name__}: {exc}"
