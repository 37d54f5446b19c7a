"""The sweep lease: one holder at a time, a lapsed lease is taken over, races have one
winner — on SQLite and on PostgreSQL (with PARETOCTL_TEST_PG_URL)."""
from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, text

from store.db import open_store
from store.errors import SweepBusy
from store.lease import Lease, holder_gone, release, renew, try_acquire
from store.schema import SweepLease


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lease.db'}"
    return request.getfixturevalue("pg_url")  # the emptied test database


@pytest.fixture
def store(url):
    with open_store(url, create=True) as s:
        yield s


def put_lease(store, holder: str, expires_in_s: float) -> None:
    now = datetime.now(timezone.utc)
    with store.write_session() as session:
        session.execute(insert(SweepLease).values(
            sweep="s", holder=holder, acquired_at=now,
            expires_at=now + timedelta(seconds=expires_in_s)))


def test_one_holder_at_a_time(store):
    assert try_acquire(store, "s", "a:1:x") == (True, None)
    taken, current = try_acquire(store, "s", "b:2:y")
    assert not taken and current.holder == "a:1:x"
    assert try_acquire(store, "other", "b:2:y") == (True, None)  # leases are per sweep
    release(store, "s", "b:2:y")  # not the holder: changes nothing
    assert not try_acquire(store, "s", "b:2:y")[0]
    release(store, "s", "a:1:x")
    assert try_acquire(store, "s", "b:2:y") == (True, None)


def test_refusal_is_one_line_naming_the_holder_and_the_expiry(store):
    put_lease(store, "otherhost:4242:abcd", 60)
    with pytest.raises(SweepBusy) as refused:
        Lease.acquire(store, "s")
    message = str(refused.value)
    assert "\n" not in message
    assert "sweep 's' is already running: otherhost:4242:abcd holds its lease until" in message
    assert "UTC" in message


def test_an_expired_lease_is_taken_over(store):
    put_lease(store, "otherhost:4242:abcd", -1)
    taken, stale = try_acquire(store, "s", "me:1:x")
    assert taken and stale.holder == "otherhost:4242:abcd"
    assert not renew(store, "s", "otherhost:4242:abcd")  # the old holder finds it gone
    assert renew(store, "s", "me:1:x")


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(store):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead = f"{socket.gethostname()}:{finished.stdout.strip()}:abcd"
    assert holder_gone(dead)
    assert not holder_gone(f"{socket.gethostname()}:{os.getpid()}:abcd")
    assert not holder_gone(f"otherhost:{finished.stdout.strip()}:abcd")  # can't tell: wait
    put_lease(store, dead, 60)
    taken, stale = try_acquire(store, "s", "me:1:x")
    assert taken and stale.holder == dead


def test_the_holder_renews_and_learns_when_it_lost_the_lease(store):
    # renewed every TTL / 4: a TTL of seconds, not tenths, so that a loaded machine's
    # stalled thread or slow commit still renews in time
    ttl = 2.0
    lease = Lease.acquire(store, "s", ttl=ttl)
    first_expiry = time.monotonic() + ttl  # no earlier than the acquired lease's expiry
    with lease:
        time.sleep(max(0.0, first_expiry - time.monotonic()) + ttl / 2)
        # past the first TTL: only the renewals keep it
        assert not try_acquire(store, "s", "b:2:y")[0]
        with store.write_session() as session:  # another run takes it (as after a stall)
            session.execute(text("UPDATE sweep_leases SET holder = 'b:2:y'"))
        assert lease.lost.wait(timeout=120)  # the next renewal finds it gone
    with store.read_connection() as conn:  # a lost lease is not released on exit
        assert conn.execute(text("SELECT holder FROM sweep_leases")).scalar() == "b:2:y"


def _race(url: str, holder: str, barrier, outcomes) -> None:
    try:
        with open_store(url, create=True) as store:
            barrier.wait(timeout=300)  # every racer has opened the store: all try at once
            outcomes.put(try_acquire(store, "race", holder)[0])
    except Exception as exc:  # reported to the parent
        outcomes.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("stale", [False, True], ids=["new lease", "expired lease"])
def test_processes_racing_for_one_lease_have_exactly_one_winner(url, stale):
    with open_store(url, create=True) as store:
        if stale:
            now = datetime.now(timezone.utc)
            with store.write_session() as session:
                session.execute(insert(SweepLease).values(
                    sweep="race", holder="gone:1:x", acquired_at=now, expires_at=now))
    context = multiprocessing.get_context("fork")
    barrier, outcomes = context.Barrier(4), context.Queue()
    racers = [context.Process(target=_race, args=(url, f"h:{i}:x", barrier, outcomes))
              for i in range(4)]
    for racer in racers:
        racer.start()
    wins = [outcomes.get(timeout=300) for _ in racers]
    for racer in racers:
        racer.join(timeout=60)
    assert sorted(wins, key=str) == [False, False, False, True], wins
