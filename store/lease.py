"""One run per sweep at a time: the sweep's lease in the store.

A ``paretoctl sweep`` run takes its sweep's lease (a row of ``sweep_leases``) before it
writes anything else, renews it from a background thread while it runs and deletes it
at the end. A second run of the same sweep finds the row and refuses (SweepBusy) rather
than train the same trials into the same Ray results folder. When the holder dies the
lease lapses: it is taken over once it has expired, or at once when its holder was a
process on this host that no longer exists.

Taking a lease is one conditional write on what was just read (insert, or update where
holder and expiry are still the ones read), so of two runs racing for it exactly one
wins, on SQLite (serial write transactions) and PostgreSQL (the loser's INSERT hits the
primary key, or its UPDATE matches no row) alike.
"""
from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from store.errors import SweepBusy
from store.schema import SweepLease

if TYPE_CHECKING:
    from store.db import Store

LEASE_TTL_S = 60.0
"""How long a lease lasts unless renewed; the holder renews it every quarter of that."""

_TRIES = 5  # a race lost to a renewal or another taker is re-read and decided again


@dataclass(frozen=True)
class LeaseInfo:
    holder: str  # host:pid:random, see new_holder_id
    expires_at: datetime  # UTC


def new_holder_id() -> str:
    """``host:pid:random``: names the run in messages and tells whether it still lives."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime) -> datetime:
    """SQLite gives back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def holder_gone(holder: str) -> bool:
    """True when ``holder`` was a process on this host that no longer exists."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def try_acquire(store: "Store", sweep: str, holder: str,
                ttl: float = LEASE_TTL_S) -> tuple[bool, LeaseInfo | None]:
    """``(True, stale)`` when ``holder`` now holds the lease (``stale``: the lapsed lease it
    replaced, or None); ``(False, current)`` when another live run holds it."""
    current: LeaseInfo | None = None
    for _ in range(_TRIES):
        now = _now()
        expires = now + timedelta(seconds=ttl)
        try:
            with store.write_session() as session:
                row = session.execute(select(SweepLease.holder, SweepLease.expires_at)
                                      .where(SweepLease.sweep == sweep)).first()
                if row is None:
                    session.execute(insert(SweepLease).values(
                        sweep=sweep, holder=holder, acquired_at=now, expires_at=expires))
                    return True, None
                current = LeaseInfo(row.holder, _utc(row.expires_at))
                if current.expires_at > now and not holder_gone(current.holder):
                    return False, current
                taken = session.execute(
                    update(SweepLease)
                    .where(SweepLease.sweep == sweep, SweepLease.holder == row.holder,
                           SweepLease.expires_at == row.expires_at)
                    .values(holder=holder, acquired_at=now, expires_at=expires))
                if taken.rowcount == 1:
                    return True, current
        except IntegrityError:  # another run inserted the row first: read it again
            continue
    return False, current


def renew(store: "Store", sweep: str, holder: str, ttl: float = LEASE_TTL_S) -> bool:
    """Push the expiry ``ttl`` seconds ahead; False when ``holder`` no longer holds it."""
    with store.write_session() as session:
        result = session.execute(
            update(SweepLease).where(SweepLease.sweep == sweep, SweepLease.holder == holder)
            .values(expires_at=_now() + timedelta(seconds=ttl)))
        return result.rowcount == 1


def release(store: "Store", sweep: str, holder: str) -> None:
    """Give the lease up (only if ``holder`` still holds it)."""
    with store.write_session() as session:
        session.execute(delete(SweepLease).where(SweepLease.sweep == sweep,
                                                 SweepLease.holder == holder))


class Lease:
    """A held lease as a context manager: renewed in a daemon thread, released on exit.

    ``lost`` is set when a renewal finds that another run took the lease over (this run
    stalled for longer than the TTL); the sweep must then stop writing."""

    def __init__(self, store: "Store", sweep: str, holder: str, ttl: float,
                 stale: LeaseInfo | None) -> None:
        self.store, self.sweep, self.holder, self.ttl = store, sweep, holder, ttl
        self.stale = stale
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_until_stopped,
                                        name=f"lease-{sweep}", daemon=True)

    @classmethod
    def acquire(cls, store: "Store", sweep: str, ttl: float = LEASE_TTL_S) -> "Lease":
        """Take the lease of ``sweep`` or raise SweepBusy naming the run that holds it."""
        holder = new_holder_id()
        taken, info = try_acquire(store, sweep, holder, ttl)
        if not taken:
            who = info.holder if info else "another run"
            until = f"{info.expires_at:%Y-%m-%d %H:%M:%S} UTC" if info else "soon"
            raise SweepBusy(f"sweep {sweep!r} is already running: {who} holds its lease until "
                            f"{until} (renewed while it runs); wait for that run to end, or "
                            "stop it, then run this again")
        return cls(store, sweep, holder, ttl, info)

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                if not renew(self.store, self.sweep, self.holder, self.ttl):
                    self.lost.set()
                    return
            except SQLAlchemyError:  # e.g. the database busy: the next tick tries again
                continue

    def __enter__(self) -> "Lease":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if not self.lost.is_set():
            try:
                release(self.store, self.sweep, self.holder)
            except SQLAlchemyError:  # it lapses by itself within the TTL
                pass
