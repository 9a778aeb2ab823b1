"""Admin jobs shared by every web process through the store: two apps on one store (each
with its own engine) stand for two gunicorn processes. Time is an injected clock; a job's
work waits on a gate the test opens."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from connector.billing.catalog.report import PlanResult, SyncReport
from connector.store import Store, admin_jobs
from connector.web import jobs as jobs_module
from connector.web.admin import JOBS_KEY, jobs_of
from connector.web.jobs import STALE_AFTER_SECONDS, JobAlreadyRunning, Jobs
from tests.unit.web.test_admin import AUTH, make_app

NEVER = 3600.0  # heartbeat interval that never elapses in a test: beats are explicit


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class GatedCatalog:
    """Stands in for PlanCatalog: its sync waits for `gate`, then reports `results`."""

    gate = threading.Event()
    results: list[PlanResult] = []

    def __init__(self, *_args: object) -> None:
        pass

    def read_rows(self) -> list[dict[str, object]]:
        return []

    def sync(self, _rows: object) -> SyncReport:
        assert self.gate.wait(30), "the test never opened the gate"
        return SyncReport(list(self.results))


@pytest.fixture
def gate(monkeypatch) -> threading.Event:
    """Opened by the test, else at teardown by the fixture that made the jobs (before the
    patches are undone: a job thread still on its way to `sync` must find this gate)."""
    import connector.billing.catalog as catalog

    opened = threading.Event()
    monkeypatch.setattr(GatedCatalog, "gate", opened)
    monkeypatch.setattr(GatedCatalog, "results", [PlanResult("PlanKey=gold", "created")])
    monkeypatch.setattr(catalog, "PlanCatalog", GatedCatalog)
    return opened


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_jobs(store, clock, gate) -> Iterator[Callable[..., Jobs]]:
    """`Jobs` on the test's store with the test's clock; every job ends before teardown."""
    made: list[Jobs] = []

    def make(**options: Any) -> Jobs:
        options = {"clock": clock, "heartbeat_seconds": NEVER, **options}
        made.append(Jobs(store, **options))
        return made[-1]

    yield make
    gate.set()
    for jobs in made:
        assert jobs.wait_all(timeout=30)


@pytest.fixture
def processes(store_url, clock, gate) -> Iterator[list]:
    """Two apps, each with its own Store (engine) on one database and its own Jobs."""
    stores = [Store.from_url(store_url), Store.from_url(store_url)]
    apps = []
    for n, store in enumerate(stores, start=1):
        app = make_app(store)
        app.extensions[JOBS_KEY] = Jobs(
            store, clock=clock, heartbeat_seconds=NEVER, owner=f"web-{n}"
        )
        apps.append(app)
    try:
        yield apps
        gate.set()
        for app in apps:
            assert jobs_of(app).wait_all(timeout=30)
    finally:
        for store in stores:
            store.dispose()


def start(app, path="/admin/sync-plans"):
    return app.test_client().post(path, headers=AUTH)


def status(app, job_id):
    response = app.test_client().get(f"/admin/jobs/{job_id}", headers=AUTH)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_job_started_in_one_process_is_polled_and_blocks_its_kind_in_the_other(
    processes, gate, clock
):
    one, two = processes
    started = start(one)
    assert started.status_code == 202
    job = started.get_json()

    assert status(two, job["id"]) == job
    assert job["status"] == "running" and job["started_at"] == clock.now
    for app in (one, two):
        refused = start(app)
        assert refused.status_code == 409
        assert refused.get_json() == {"error": f"a sync-plans job is already running: {job['id']}"}

    gate.set()
    assert jobs_of(one).wait(job["id"], timeout=30)
    done = status(two, job["id"])
    assert done["status"] == "succeeded" and done["error"] is None
    assert done["result"]["failures"] == [] and "created 1" in done["result"]["summary"]
    assert done["finished_at"] == clock.now
    assert status(one, job["id"]) == done

    again = start(two)  # the kind is free again, in either process
    assert again.status_code == 202 and again.get_json()["id"] != job["id"]


def test_a_job_with_failures_in_its_result_is_failed_in_every_process(processes, gate, monkeypatch):
    monkeypatch.setattr(
        GatedCatalog, "results", [PlanResult("PlanKey=gold", "error", error="HTTP 400")]
    )
    one, two = processes
    job = start(one).get_json()
    gate.set()
    assert jobs_of(one).wait(job["id"], timeout=30)
    failed = status(two, job["id"])
    assert failed["status"] == "failed"
    assert failed["result"]["failures"] == [{"plan": "PlanKey=gold", "error": "HTTP 400"}]


def test_an_unknown_job_is_404_in_every_process(processes):
    for app in processes:
        response = app.test_client().get("/admin/jobs/nope", headers=AUTH)
        assert response.status_code == 404
        assert "newest 100 finished jobs" in response.get_json()["error"]


def test_a_job_whose_process_stopped_is_failed_and_no_longer_blocks_its_kind(
    processes, gate, clock
):
    """web-1 stops renewing (as if SIGKILLed): after the bound web-2 reports the job failed
    and starts a new one; web-1's thread ending later changes nothing."""
    one, two = processes
    job = start(one).get_json()
    clock.now += STALE_AFTER_SECONDS  # exactly the bound: not yet stale
    assert status(two, job["id"])["status"] == "running"
    assert start(two).status_code == 409

    clock.now += 1
    stopped = status(two, job["id"])
    assert stopped["status"] == "failed"
    assert stopped["error"].startswith("the process running it stopped")
    assert stopped["finished_at"] == job["started_at"]  # its last heartbeat
    assert stopped["result"] is None
    assert status(one, job["id"]) == stopped
    replacement = start(two)
    assert replacement.status_code == 202

    gate.set()  # the "dead" job's thread ends after all: its outcome is not recorded
    assert jobs_of(one).wait(job["id"], timeout=30)
    assert status(two, job["id"]) == stopped
    assert jobs_of(two).wait(replacement.get_json()["id"], timeout=30)
    assert status(one, replacement.get_json()["id"])["status"] == "succeeded"


def test_starting_a_job_takes_over_a_stale_one_without_a_poll_first(processes, gate, clock):
    one, two = processes
    job = start(one).get_json()
    clock.now += STALE_AFTER_SECONDS + 1
    assert start(two).status_code == 202
    assert status(one, job["id"])["status"] == "failed"


def test_a_heartbeat_keeps_a_long_job_running_past_the_bound(processes, gate, clock):
    one, two = processes
    job = start(one).get_json()
    clock.now += STALE_AFTER_SECONDS - 10
    assert jobs_of(one).renew(job["id"]) is True
    clock.now += STALE_AFTER_SECONDS - 10  # twice the bound since it started
    assert status(two, job["id"])["status"] == "running"
    assert start(two).status_code == 409

    clock.now += 11  # the bound since the last heartbeat
    assert status(two, job["id"])["status"] == "failed"
    assert jobs_of(one).renew(job["id"]) is False  # too late: it stays failed
    assert status(one, job["id"])["status"] == "failed"


def test_the_running_process_renews_the_heartbeat_by_itself(make_jobs, gate, clock):
    jobs = make_jobs(heartbeat_seconds=0.01)
    renewed_late = threading.Event()
    real_renew = jobs.renew
    bound = clock.now + 2 * STALE_AFTER_SECONDS  # the job starts now

    def renew(job_id: str) -> bool:
        late = clock.now > bound
        ok = real_renew(job_id)
        if late:
            renewed_late.set()
        return ok

    jobs.renew = renew  # type: ignore[method-assign]
    job = jobs.start("sync-plans", lambda: {"failures": [], "gated": gate.wait(30)})
    clock.now += 2 * STALE_AFTER_SECONDS + 1
    assert renewed_late.wait(timeout=30), "the heartbeat thread never renewed the job"

    other = make_jobs()
    assert other.get(job.id).status == "running"
    with pytest.raises(JobAlreadyRunning):
        other.start("sync-plans", dict)
    gate.set()
    assert jobs.wait(job.id, timeout=30)
    assert other.get(job.id).status == "succeeded"


def test_jobs_of_different_kinds_run_side_by_side(make_jobs, gate):
    one, two = make_jobs(owner="web-1"), make_jobs(owner="web-2")
    plans = one.start("sync-plans", lambda: {"gated": gate.wait(30)})
    reconcile = two.start("reconcile", lambda: {"gated": gate.wait(30)})
    assert {one.get(reconcile.id).status, two.get(plans.id).status} == {"running"}
    gate.set()
    assert one.wait_all(timeout=30) and two.wait_all(timeout=30)
    assert one.get(reconcile.id).status == two.get(plans.id).status == "succeeded"


def test_a_failing_or_unstorable_result_is_a_failed_job(make_jobs):
    jobs = make_jobs()

    def boom() -> dict:
        raise ValueError("Caspio said no")

    raised = jobs.start("sync-plans", boom)
    assert jobs.wait(raised.id, timeout=30)
    got = jobs.get(raised.id)
    assert (got.status, got.error, got.result) == ("failed", "ValueError: Caspio said no", None)

    odd = jobs.start("sync-plans", lambda: {"when": object()})
    assert jobs.wait(odd.id, timeout=30)
    got = jobs.get(odd.id)
    assert got.status == "failed" and got.error.startswith("TypeError:")
    assert jobs.start("sync-plans", dict)  # neither left its kind blocked


def test_the_store_keeps_the_newest_finished_jobs(make_jobs, clock, monkeypatch):
    monkeypatch.setattr(jobs_module, "MAX_KEPT", 3)
    jobs = make_jobs()
    started = []
    for _ in range(5):
        clock.now += 1
        job = jobs.start("sync-plans", dict)
        assert jobs.wait(job.id, timeout=30)
        started.append(job.id)
    # Forgotten when the fifth started: four finished then, the newest three kept.
    assert jobs.get(started[0]) is None
    assert [jobs.get(job_id).status for job_id in started[1:]] == ["succeeded"] * 4


def test_a_running_job_is_never_forgotten(make_jobs, gate, clock, monkeypatch):
    monkeypatch.setattr(jobs_module, "MAX_KEPT", 1)
    jobs = make_jobs()
    running = jobs.start("reconcile", lambda: {"gated": gate.wait(30)})
    for _ in range(3):
        clock.now += 1
        assert jobs.wait(jobs.start("sync-plans", dict).id, timeout=30)
    assert jobs.get(running.id).status == "running"


@pytest.mark.postgres
def test_a_job_recorded_by_another_process_mid_start_wins_on_postgresql(postgres_store_url, clock):
    """Both starts read "none running"; the unique index makes the later insert fail, and
    the start answers JobAlreadyRunning with the other process's job."""
    store = Store.from_url(postgres_store_url)
    jobs = Jobs(store, clock=clock, heartbeat_seconds=NEVER, owner="web-2")
    inserting = threading.Event()

    def spot_insert(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith("INSERT INTO bridge_admin_jobs"):
            inserting.set()

    outcome: list[object] = []

    def start_in_web_2() -> None:
        try:
            outcome.append(jobs.start("reconcile", dict))
        except JobAlreadyRunning as refused:
            outcome.append(refused)

    try:
        with store.engine.connect() as web_1:
            # Reads are autocommit on PostgreSQL (connector.store): hold a real transaction.
            web_1.execution_options(isolation_level="READ COMMITTED")
            transaction = web_1.begin()
            web_1.execute(
                admin_jobs.insert().values(
                    job_id="job-of-web-1",
                    kind="reconcile",
                    status="running",
                    running_kind="reconcile",
                    owner="web-1",
                    started_at=clock.now,
                    heartbeat_at=clock.now,
                )
            )
            sa.event.listen(store.engine, "before_cursor_execute", spot_insert)
            starter = threading.Thread(target=start_in_web_2)
            starter.start()
            # web-2 read "none running" (web-1's row is not committed) and is inserting.
            reached = inserting.wait(timeout=30)
            transaction.commit()
            starter.join(timeout=30)
        assert reached
        (refused,) = outcome
        assert isinstance(refused, JobAlreadyRunning), refused
        assert refused.job.id == "job-of-web-1"
        assert jobs.wait_all(timeout=30)
    finally:
        store.dispose()
