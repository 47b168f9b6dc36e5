"""Executor leases and the compare-and-swap that claims a run, on each backend."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from tests.store.helpers import make_run
from tether.store import Store


def test_register_heartbeat_and_stop(store: Store) -> None:
    before = datetime.now(UTC)
    lease = store.executors.register("w1", "worker", 30)
    assert (lease.id, lease.kind, lease.stopped_at) == ("w1", "worker", None)
    assert lease.lease_expires_at > before + timedelta(seconds=29)
    assert lease.alive(datetime.now(UTC))
    assert lease.heartbeat_at.tzinfo is not None
    store.executors.heartbeat("w1", 60)
    renewed = store.executors.get("w1")
    assert renewed is not None and renewed.lease_expires_at > lease.lease_expires_at
    assert store.executors.expired() == []
    store.executors.stop("w1")
    stopped = store.executors.get("w1")
    assert stopped is not None and stopped.stopped_at is not None
    assert not stopped.alive(datetime.now(UTC))
    assert store.executors.expired() == ["w1"]
    assert store.executors.get("nobody") is None


def test_re_register_takes_the_lease_back(store: Store) -> None:
    store.executors.register("w1", "worker", 30)
    store.executors.stop("w1")
    again = store.executors.register("w1", "worker", 30)
    assert again.stopped_at is None and again.alive(datetime.now(UTC))


def test_expired_by_time(store: Store) -> None:
    store.executors.register("short", "worker", 0.6)
    store.executors.register("long", "worker", 60)
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert store.executors.expired(later) == ["short"]
    assert sorted(store.executors.expired(later + timedelta(minutes=5))) == ["long", "short"]


def test_claim_run_is_a_compare_and_swap(store: Store) -> None:
    make_run(store, "r1")
    assert store.executors.claim_run("r1", None, "a")
    assert not store.executors.claim_run("r1", None, "b")  # no longer unowned
    assert not store.executors.claim_run("r1", "b", "c")  # wrong expectation
    assert store.executors.claim_run("r1", "a", "b")
    assert store.runs.get("r1").executor_id == "b"
    assert not store.executors.claim_run("ghost", None, "a")


def test_runs_of_an_executor_by_status(store: Store) -> None:
    make_run(store, "r1", executor_id="a", status="running")
    make_run(store, "r2", executor_id="a", status="succeeded")
    make_run(store, "r3", executor_id="b", status="queued")
    assert store.executors.runs_of("a", ("queued", "running")) == ["r1"]
    assert store.executors.runs_of("b", ("queued", "running")) == ["r3"]
    assert store.executors.runs_of("c", ("running",)) == []


def test_concurrent_claims_have_exactly_one_winner(store: Store) -> None:
    runs = [f"r{n}" for n in range(10)]
    for run_id in runs:
        make_run(store, run_id, executor_id="dead")
    wins: dict[str, list[str]] = {run_id: [] for run_id in runs}
    lock = threading.Lock()
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def claimant(me: str) -> None:
        barrier.wait()
        try:
            for run_id in runs:
                if store.executors.claim_run(run_id, "dead", me):
                    with lock:
                        wins[run_id].append(me)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claimant, args=(f"c{n}",)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(len(winners) == 1 for winners in wins.values()), wins
    assert {store.runs.get(r).executor_id for r in runs} <= {f"c{n}" for n in range(6)}
    assert all(store.runs.get(r).executor_id == wins[r][0] for r in runs)


def test_lease_times_survive_a_round_trip(store: Store) -> None:
    lease = store.executors.register("w1", "worker", 2.5)
    got = store.executors.get("w1")
    assert got == lease
    assert abs((got.lease_expires_at - got.heartbeat_at).total_seconds() - 2.5) < 0.01
    assert got.alive(got.heartbeat_at + timedelta(seconds=2))
    assert not got.alive(got.heartbeat_at + timedelta(seconds=3))


def test_prune_deletes_only_still_expired_leases(store: Store) -> None:
    store.executors.register("gone", "run", 0.6)
    store.executors.register("back", "worker", 0.6)
    store.executors.register("live", "worker", 60)
    later = datetime.now(UTC) + timedelta(seconds=5)
    store.executors.register("back", "worker", 60)  # it came back before the prune
    assert store.executors.prune(["gone", "back", "live"], later) == 1
    assert store.executors.get("gone") is None
    assert store.executors.get("back") is not None and store.executors.get("live") is not None
    assert store.executors.prune([]) == 0


def test_heartbeat_of_a_pruned_executor_registers_it_again(store: Store) -> None:
    store.executors.register("w1", "worker", 0.6)
    assert store.executors.prune(["w1"], datetime.now(UTC) + timedelta(seconds=5)) == 1
    store.executors.heartbeat("w1", 30, "worker")
    lease = store.executors.get("w1")
    assert lease is not None and lease.alive(datetime.now(UTC)) and lease.kind == "worker"
