"""`/admin/…`: operators' API, behind the bearer token BRIDGE_ADMIN_TOKEN.

Without the setting every admin path answers 404 (the API does not exist); with it, a
missing or wrong token is 401. Tokens are compared in constant time (`hmac.compare_digest`).
Long work (sync plans, reconcile) runs as a background job with a status URL; jobs live in
the store, so any web process answers for a job another one started.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, url_for
from marshmallow import ValidationError

from connector.web.extension import current_services, services_of
from connector.web.jobs import MAX_KEPT, Job, JobAlreadyRunning, Jobs
from connector.web.openapi import SchemaLike, describe
from connector.web.schemas import (
    DeadEventListSchema,
    DeadEventQuerySchema,
    DeadEventSchema,
    ErrorSchema,
    JobSchema,
    ReconcileRequestSchema,
    ReplayResultSchema,
)

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
JOBS_KEY = "caspio_stripe_admin_jobs"


def jobs_of(app: Flask) -> Jobs:
    """The app's admin jobs, on its services' store (opened on first use). Tests may put
    their own `Jobs` (an injected clock) at `app.extensions[JOBS_KEY]` first."""
    jobs = app.extensions.get(JOBS_KEY)
    if jobs is None:
        from connector.sync.runtime import store_of

        jobs = app.extensions.setdefault(JOBS_KEY, Jobs(store_of(services_of(app))))
    assert isinstance(jobs, Jobs)
    return jobs


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


@blueprint.before_request
def require_token() -> tuple[Response, int] | None:
    token = current_services().settings.bridge_admin_token
    if token is None:
        return _error(404, "the admin API is off (BRIDGE_ADMIN_TOKEN is not set)")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    expected = token.reveal().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        response, status = _error(401, "a valid admin bearer token is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="caspio-stripe admin"'
        return response, status
    return None


def _job_body(job: Job) -> dict[str, Any]:
    body: dict[str, Any] = JobSchema().dump(
        {
            "id": job.id,
            "kind": job.kind,
            "status": job.status,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "status_url": url_for("admin.job_status", job_id=job.id, _external=False),
            "result": job.result,
            "error": job.error,
        }
    )
    return body


def _started(job: Job) -> tuple[Response, int]:
    response = jsonify(_job_body(job))
    response.headers["Location"] = _job_body(job)["status_url"]
    return response, 202


def _json_body() -> dict[str, Any]:
    if not request.data:
        return {}
    loaded = request.get_json(silent=True)
    if not isinstance(loaded, dict):
        raise ValidationError("the body must be a JSON object")
    return loaded


@blueprint.post("/sync-plans")
def sync_plans() -> tuple[Response, int]:
    services = current_services()

    def work() -> dict[str, Any]:
        from connector.billing.catalog import PlanCatalog
        from connector.sync.runtime import mapping_of

        catalog = PlanCatalog(services.caspio, services.stripe, mapping_of(services))
        report = catalog.sync(catalog.read_rows())
        return {
            "summary": report.summary(),
            "failures": [{"plan": r.label, "error": r.error} for r in report.errors],
        }

    try:
        job = jobs_of(current_app).start("sync-plans", work)
    except JobAlreadyRunning as running:
        return _error(409, str(running))
    return _started(job)


@blueprint.post("/reconcile")
def reconcile() -> tuple[Response, int]:
    try:
        options = ReconcileRequestSchema().load(_json_body())
    except ValidationError as error:
        return _error(400, f"invalid request: {error.messages}")
    services = current_services()

    def work() -> dict[str, Any]:
        from connector.sync.reconcile import Reconciler
        from connector.sync.runtime import mapping_of, store_of

        since = options["since"]
        if since is None:
            since = int(time.time()) - options["days"] * 86400
        report = Reconciler(
            store_of(services),
            services.caspio,
            services.stripe,
            mapping=mapping_of(services),
            past_due_access=services.settings.bridge_past_due_access,
            retry_links=services.retry_links,
            metrics=services.metrics,
        ).run(since=since, live=options["live"], dry_run=options["dry_run"])
        return {
            "summary": report.summary(),
            "dry_run": report.dry_run,
            "differences": [
                {
                    "table": d.table,
                    "key": d.key,
                    "field": d.field,
                    "caspio": d.caspio,
                    "stripe": d.wanted,
                    "source": d.source,
                    "missing_row": d.missing_row,
                }
                for d in report.differences
            ],
            "rows_written": report.rows_written,
            "failures": [{"source": f.source, "error": f.error} for f in report.failures],
            "stripe_calls": report.stripe_calls,
            "caspio_calls": report.caspio_calls,
        }

    try:
        job = jobs_of(current_app).start("reconcile", work)
    except JobAlreadyRunning as running:
        return _error(409, str(running))
    return _started(job)


@blueprint.get("/jobs/<job_id>")
def job_status(job_id: str) -> tuple[Response, int]:
    job = jobs_of(current_app).get(job_id)
    if job is None:
        return _error(404, f"no such job (the store keeps the newest {MAX_KEPT} finished jobs)")
    return jsonify(_job_body(job)), 200


@blueprint.get("/events/dead")
def dead_events() -> tuple[Response, int]:
    from connector.sync.inbox import DEAD, Inbox
    from connector.sync.runtime import store_of

    try:
        query = DeadEventQuerySchema().load(request.args)
    except ValidationError as error:
        return _error(400, f"invalid query: {error.messages}")
    rows = Inbox(store_of(current_services())).list(status=DEAD, limit=query["limit"])
    data = DeadEventSchema(many=True).dump(rows)
    return jsonify(DeadEventListSchema().dump({"data": data, "count": len(data)})), 200


@blueprint.post("/events/<event_id>/replay")
def replay_one(event_id: str) -> tuple[Response, int]:
    from connector.sync.inbox import PROCESSING, Inbox
    from connector.sync.runtime import store_of

    inbox = Inbox(store_of(current_services()))
    row = inbox.get(event_id)
    if row is None:
        return _error(404, "no such event in the inbox")
    if row["status"] == PROCESSING:
        return _error(409, "the event is being processed now")
    count = inbox.requeue([event_id], now=time.time())
    return jsonify(ReplayResultSchema().dump({"requeued": count})), 200


@blueprint.post("/events/replay")
def replay_all() -> tuple[Response, int]:
    from connector.sync.inbox import Inbox
    from connector.sync.runtime import store_of

    count = Inbox(store_of(current_services())).requeue(None, now=time.time())
    return jsonify(ReplayResultSchema().dump({"requeued": count})), 200


_AUTH = {401: ErrorSchema, 404: ErrorSchema}
_JSON_ERROR: dict[str, SchemaLike | None] = {"application/json": ErrorSchema}
# A job of the kind runs in this or any other bridge process sharing the store.
_RUNNING = ("a job of this kind is running (in any bridge process)", _JSON_ERROR)
describe(
    "/admin/sync-plans",
    "post",
    summary="Sync Billing_Plans into Stripe as a background job",
    tags=["admin"],
    admin=True,
    responses={202: JobSchema, 409: _RUNNING, **_AUTH},
)
describe(
    "/admin/reconcile",
    "post",
    summary="Reconcile Stripe with Caspio as a background job (dry_run: list only)",
    tags=["admin"],
    admin=True,
    body=ReconcileRequestSchema,
    responses={202: JobSchema, 400: ErrorSchema, 409: _RUNNING, **_AUTH},
)
describe(
    "/admin/jobs/{job_id}",
    "get",
    summary="A background job's status and result, through any bridge process",
    tags=["admin"],
    admin=True,
    responses={
        200: JobSchema,
        401: ErrorSchema,
        404: (
            f"no such job (unknown, or older than the newest {MAX_KEPT} finished jobs the"
            " store keeps), or the admin API is off",
            _JSON_ERROR,
        ),
    },
)
describe(
    "/admin/events/dead",
    "get",
    summary="Dead events with their last error",
    tags=["admin"],
    admin=True,
    query=DeadEventQuerySchema,
    responses={200: DeadEventListSchema, 400: ErrorSchema, **_AUTH},
)
describe(
    "/admin/events/{event_id}/replay",
    "post",
    summary="Put one event back in the queue",
    tags=["admin"],
    admin=True,
    responses={200: ReplayResultSchema, 409: ErrorSchema, **_AUTH},
)
describe(
    "/admin/events/replay",
    "post",
    summary="Put every dead event back in the queue",
    tags=["admin"],
    admin=True,
    responses={200: ReplayResultSchema, **_AUTH},
)
