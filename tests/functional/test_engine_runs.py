"""One Engine serves two runs at once: everything a run needs (its pools, deadline, key and account facts) lives in
that run's RunContext, none of it on the Engine, so overlapping runs neither share nor close each other's pools."""

from __future__ import annotations

import threading

from devtools.localaws import LocalAws
from selfheal.engine import Engine, Options
from selfheal.report import Report
from selfheal.spec import Estate
from tests.functional.helpers import FAST, make_clients, outcomes


def test_a_run_that_starts_and_ends_inside_another_leaves_the_first_run_whole(aws: LocalAws, estate: Estate) -> None:
    # Run 1 (status) starts observing and is held there; run 2 (plan) runs start to end on the same Engine; then
    # run 1 goes on. Had run 2 replaced run 1's read pool on the Engine, run 1 would now read through a pool run 2
    # has shut down, and report every resource it had not read yet as an error.
    first_run_threads: set[int] = set()
    second_started, second_done, first_held = threading.Event(), threading.Event(), threading.Event()

    def hold_the_first_run(event: str, kind: str, name: str) -> None:
        if event != "observe":
            return
        me = threading.get_ident()
        if not second_started.is_set():
            first_run_threads.add(me)
        if me in first_run_threads:
            first_held.set()
            assert second_done.wait(60), "the second run did not finish"

    engine = Engine(estate, make_clients(aws.endpoint), Options(**FAST, pool_size=2, progress=hold_the_first_run))
    reports: dict[str, Report] = {}
    first = threading.Thread(target=lambda: reports.setdefault("status", engine.status()))
    first.start()
    assert first_held.wait(30)
    second_started.set()
    reports["plan"] = engine.plan()
    second_done.set()
    first.join(60)
    assert not first.is_alive()

    names = {r.name for r in estate.resources}
    for action in ("plan", "status"):  # an empty account: every resource read and found missing, none in error
        assert set(outcomes(reports[action])) == names
        assert set(outcomes(reports[action]).values()) == {"pending"}, (action, reports[action].to_dict())
    # Each report counts its own run's calls only, though the Clients are shared: those of the same run alone, but
    # for the account id (sts:GetCallerIdentity), asked once per Clients by whichever run needs it first.
    alone = Engine(estate, make_clients(aws.endpoint), Options(**FAST, pool_size=2)).plan().api_calls
    assert alone["writes"] == 0 and alone["reads"] > 0
    assert sorted(r.api_calls["reads"] for r in reports.values()) == [alone["reads"] - 1, alone["reads"]]
    assert [r.api_calls["writes"] for r in reports.values()] == [0, 0]
