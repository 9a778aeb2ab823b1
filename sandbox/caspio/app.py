"""The Caspio REST API emulator: a WSGI app over ``CaspioStore``.

Routes (reference §1 to §4): ``POST /oauth/token``; under each of ``/rest/v2``,
``/rest/v3`` and ``/integrations/rest/v3``: ``GET|POST /tables``, ``GET /tables/{t}``,
``GET|POST /tables/{t}/fields``, ``GET|PUT|DELETE /tables/{t}/fields/{f}`` and
``GET|POST|PUT|DELETE /tables/{t}/records``. Unknown routes answer 404 with an empty body
(how clients tell "no such route" from ``ObjectNotFound``). Every response carries
``X-Caspio-Request-ID``; request URIs over 2,047 characters answer 414.

The call meter counts every metered call by (method, table, status): the table as written
in the path, "oauth" for token calls, the new table's name for ``POST /tables`` and "" for
``GET /tables``.

Controls (no token needed) live under ``/_emulator/``: ``GET /calls``,
``POST /calls/reset``, ``GET|POST /faults``, ``POST /faults/reset``,
``POST /tokens/expire``, ``GET|POST /webhooks``, ``POST /reset``, ``GET /health``.
The same controls are methods of ``CaspioEmulator`` (``set_faults``, ``calls`` …).

Other choices where Caspio is undocumented (reference §9): a POST answers ``Location:
<records URL>?q.where=PK_ID=<n>`` (PROXY reads the id with a ``ID=(digits)`` regex); ``PK_ID`` is
in every row but not in the field list; text compares case-insensitively and ignoring
trailing spaces, as SQL Server's default collation does; JSON field names in bodies are
matched exactly, names inside ``q.*`` clauses case-insensitively (SQL Server rules).
Error bodies and the error-side choices are described in ``sandbox.caspio.errors``.

v3 also serves ``/outgoingWebhooks`` (``sandbox.caspio.outgoing_webhooks``); targets can
be set through the controls as well. Known gaps: views, password/list/attachment fields,
files, bridge applications, tasks, directories, XML.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.caspio import query_params
from sandbox.caspio.auth import DEFAULT_TTL_SECONDS, TokenIssuer
from sandbox.caspio.clock import Clock, system_clock, utc_datetime
from sandbox.caspio.control_endpoints import control_answer
from sandbox.caspio.errors import (
    RATE_LIMIT_MESSAGE,
    ApiError,
    bad_body,
    bad_query,
    internal_error,
    unauthorized,
)
from sandbox.caspio.faults import CallMeter, FaultInjector, FaultSettings
from sandbox.caspio.http_answers import Answer, json_body, json_response, with_reason_phrase
from sandbox.caspio.outgoing_webhooks import WebhookRegistry
from sandbox.caspio.store import CaspioStore
from sandbox.caspio.token_endpoint import token_answer
from sandbox.caspio.webhooks import WebhookDispatcher, WebhookTarget

MAX_URI_LENGTH = 2047
API_PREFIXES = {"/rest/v2": "v2", "/rest/v3": "v3", "/integrations/rest/v3": "v3"}
_log = logging.getLogger("sandbox.caspio")


def _api_rules() -> list[Rule]:
    rules = []
    for prefix, version in API_PREFIXES.items():
        if version != "v3":
            continue  # outgoing webhooks are v3 only
        rules += [
            Rule(f"{prefix}/outgoingWebhooks", endpoint="hooks", methods=["GET", "POST"]),
            Rule(f"{prefix}/outgoingWebhooks/<hook>", endpoint="hook",
                 methods=["GET", "PUT", "DELETE"]),
            Rule(f"{prefix}/outgoingWebhooks/<hook>/events", endpoint="hook_events",
                 methods=["GET", "POST"]),
            Rule(f"{prefix}/outgoingWebhooks/<hook>/events/<event>", endpoint="hook_event",
                 methods=["GET", "PUT", "DELETE"]),
        ]
    for prefix in API_PREFIXES:
        rules += [
            Rule(f"{prefix}/tables", endpoint="tables", methods=["GET", "POST"]),
            Rule(f"{prefix}/tables/<table>", endpoint="table", methods=["GET"]),
            Rule(f"{prefix}/tables/<table>/fields", endpoint="fields", methods=["GET", "POST"]),
            Rule(f"{prefix}/tables/<table>/fields/<field>", endpoint="field",
                 methods=["GET", "PUT", "DELETE"]),
            Rule(f"{prefix}/tables/<table>/records", endpoint="records",
                 methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    return rules


_URL_MAP = Map([
    Rule("/oauth/token", endpoint="token", methods=["POST"]),
    Rule("/_emulator/health", endpoint="c_health", methods=["GET"]),
    Rule("/_emulator/calls", endpoint="c_calls", methods=["GET"]),
    Rule("/_emulator/calls/reset", endpoint="c_calls_reset", methods=["POST"]),
    Rule("/_emulator/faults", endpoint="c_faults", methods=["GET", "POST"]),
    Rule("/_emulator/faults/reset", endpoint="c_faults_reset", methods=["POST"]),
    Rule("/_emulator/tokens/expire", endpoint="c_tokens_expire", methods=["POST"]),
    Rule("/_emulator/webhooks", endpoint="c_webhooks", methods=["GET", "POST"]),
    Rule("/_emulator/reset", endpoint="c_reset", methods=["POST"]),
    *_api_rules(),
], strict_slashes=False)


class DroppedConnection(ConnectionResetError):
    """Raised out of the WSGI app: werkzeug's server then closes the socket unanswered."""


class CaspioEmulator:
    """The app object: call it as a WSGI app; its methods are the test controls."""

    def __init__(
        self,
        *,
        client_id: str = "emulator-client-id",
        client_secret: str = "emulator-client-secret",  # noqa: S107 - a test double's default
        db_path: str = ":memory:",
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        token_ttl_seconds: int = DEFAULT_TTL_SECONDS,
        account_id: str = "c0emul8r",
        webhook_max_attempts: int = 4,
        webhook_backoff_seconds: float = 0.05,
        **faults: Any,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.account_id = account_id
        self.tokens = TokenIssuer(client_id, client_secret, clock, token_ttl_seconds)
        self._initial_token_ttl = token_ttl_seconds
        self.store = CaspioStore(db_path, now=lambda: utc_datetime(clock))
        self.faults = FaultInjector(clock)
        self.meter = CallMeter()
        self.webhooks = WebhookDispatcher(clock, account_id,
                                          max_attempts=webhook_max_attempts,
                                          backoff_seconds=webhook_backoff_seconds)
        self.outgoing = WebhookRegistry(clock, lambda name: self.store.table(name).name)
        self.webhooks.extra_routes = self.outgoing.routes
        if faults:
            self.faults.configure(**faults)
        self.datapages: Any = None  # imitation DataPages (sandbox.caspio.datapages), if any

    # ------------------------------------------------------------ controls (Python)

    @property
    def client_id(self) -> str:
        return self.tokens.client_id

    @property
    def client_secret(self) -> str:
        return self.tokens.client_secret

    def set_faults(self, **changes: Any) -> FaultSettings:
        return self.faults.configure(**changes)

    def reset_faults(self) -> None:
        self.faults.reset()

    def calls(self) -> dict[tuple[str, str, int], int]:
        return self.meter.snapshot()

    def total_calls(self) -> int:
        return self.meter.total()

    def reset_calls(self) -> None:
        self.meter.reset()

    def expire_tokens(self) -> None:
        self.tokens.expire_all()

    def set_token_ttl(self, seconds: int) -> None:
        self.tokens.ttl_seconds = seconds

    def configure_webhook(self, table: str, url: str, secret: str,
                          events: Iterable[str] = ("table.recordInsert",)) -> WebhookTarget:
        return self.webhooks.configure(table, url, secret, tuple(events))

    def reset(self) -> None:
        """A fresh account: no tables, tokens, calls, faults or webhooks."""
        self.webhooks.reset()
        self.outgoing.reset()
        self.store.reset()
        self.tokens.reset()
        self.tokens.ttl_seconds = self._initial_token_ttl
        self.faults.reset()
        self.meter.reset()

    def close(self) -> None:
        self.webhooks.close()
        self.store.close()

    # ------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if self.datapages is not None and request.path.startswith("/dp/"):
            response = self.datapages.handle(request)
        else:
            response = self.handle(request)
        with_reason_phrase(response)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        """One REST call; the status line keeps werkzeug's phrase (see ``__call__``)."""
        request_id = str(uuid.uuid4())
        adapter = _URL_MAP.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            response = Response(b"", status=404)
        except MethodNotAllowed:
            response = Response(b"", status=405)
        else:
            if endpoint.startswith("c_"):
                response = self._control(endpoint, request)
            else:
                response = self._metered(endpoint, args, request, request_id)
        response.headers["X-Caspio-Request-ID"] = request_id
        return response

    # ------------------------------------------------------------ metered calls

    def _metered(self, endpoint: str, args: Mapping[str, Any], request: Request,
                 request_id: str) -> Response:
        table = "oauth" if endpoint == "token" else args.get("table", "")
        if endpoint == "tables" and request.method == "POST":
            table = _new_table_name(request)  # as a client meters "create table X"
        try:
            response = self._faulted(endpoint, args, request, request_id)
        except DroppedConnection:
            self.meter.record(request.method, table, 0)  # as a client's meter sees it
            raise
        except Exception:  # an emulator bug must still look like a Caspio 500 ...
            _log.exception("emulator error on %s %s", request.method, request.path)  # ... logged
            response = self._error(internal_error(), request, request_id)
        self.meter.record(request.method, table, response.status_code)
        return response

    def _faulted(self, endpoint: str, args: Mapping[str, Any], request: Request,
                 request_id: str) -> Response:
        latency = self.faults.settings.latency_seconds
        if latency > 0:
            self.sleep(latency)
        decision = self.faults.decide()
        if decision.kind == "outage":
            return Response(b"Service Unavailable", status=503, content_type="text/plain")
        if decision.kind == "rate_limit":
            return self._rate_limited(request, request_id)
        if decision.kind == "drop":
            if decision.after_commit:
                self._dispatch(endpoint, args, request, request_id)
            raise DroppedConnection("fault: connection dropped")
        error_status = self.faults.settings.error_status
        if decision.kind == "error" and not decision.after_commit:
            return self._error(ApiError(error_status, "InternalError", "An error has occurred."),
                               request, request_id)
        response = self._dispatch(endpoint, args, request, request_id)
        if decision.kind == "error":
            return self._error(ApiError(error_status, "InternalError", "An error has occurred."),
                               request, request_id)
        return response

    def _rate_limited(self, request: Request, request_id: str) -> Response:
        settings = self.faults.settings
        if settings.rate_limit_style == "400":
            response = json_response(Answer(400, [{"message": RATE_LIMIT_MESSAGE,
                                                   "name": "api-calls-rate"}]))
        else:
            response = self._error(ApiError(429, "TooManyRequests", RATE_LIMIT_MESSAGE),
                                   request, request_id)
        if settings.rate_limit_retry_after is not None:
            # Not seen from Caspio (reference §5); on request, to test clients that honour it.
            response.headers["Retry-After"] = str(settings.rate_limit_retry_after)
        return response

    def _error(self, error: ApiError, request: Request, request_id: str) -> Response:
        return json_response(Answer(error.status, error.body(request.url, request_id)))

    def _dispatch(self, endpoint: str, args: Mapping[str, Any], request: Request,
                  request_id: str) -> Response:
        try:
            if endpoint == "token":
                return self._token(request)
            uri = request.environ.get("REQUEST_URI") or request.full_path
            if len(uri) > MAX_URI_LENGTH:
                return Response(b"", status=414)
            self._authenticate(request)
            version = self._version(request.path)
            handler = getattr(self, f"_api_{endpoint}")
            answer: Answer = handler(request, version, **args)
            return json_response(answer)
        except ApiError as error:
            return self._error(error, request, request_id)

    @staticmethod
    def _version(path: str) -> str:
        for prefix, version in API_PREFIXES.items():
            if path.startswith(prefix + "/"):
                return version
        return "v3"  # pragma: no cover - the URL map only routes the prefixes above

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized()
        state = self.tokens.state(token.strip())
        if state == "valid":
            return
        if state == "expired" and self.faults.settings.expired_token_status == 400:
            raise bad_query("Incorrect query parameter")
        raise unauthorized()

    # ------------------------------------------------------------ /oauth/token

    def _token(self, request: Request) -> Response:
        return json_response(token_answer(self.tokens, request))

    # ------------------------------------------------------------ REST handlers

    def _api_tables(self, request: Request, version: str) -> Answer:
        if request.method == "GET":
            return Answer(200, {"Result": self.store.list_tables()})
        body = json_body(request)
        if not isinstance(body, dict):
            raise bad_body("The request body must be a table definition")
        # v3 names the list "Fields" (CreateTableRequest), v2 "Columns" (SDK).
        fields = body.get("Fields", body.get("Columns"))
        unknown = sorted(set(body) - {"Name", "Fields", "Columns", "Note"})
        if unknown:
            raise bad_body(f"Unknown table definition properties: {', '.join(unknown)}")
        note = body.get("Note") or ""
        self.store.create_table(body.get("Name"), fields, note if isinstance(note, str) else "")
        return Answer(201)

    def _api_table(self, request: Request, version: str, table: str) -> Answer:
        schema = self.store.table(table)
        return Answer(200, {"Result": {"Name": schema.name, "Note": schema.note}})

    def _api_fields(self, request: Request, version: str, table: str) -> Answer:
        if request.method == "GET":
            schema = self.store.table(table)
            return Answer(200, {"Result": [f.to_json(version) for f in schema.fields]})
        self.store.add_field(table, json_body(request))
        return Answer(201)

    def _api_field(self, request: Request, version: str, table: str, field: str) -> Answer:
        if request.method in ("PUT", "DELETE"):
            if request.method == "PUT":
                self.store.update_field(table, field, json_body(request), version)
            else:
                self.store.delete_field(table, field)
            # v3 answers 204 No Content (SWAG3); v2 answered 200 (SDK sample).
            return Answer(204 if version == "v3" else 200)
        schema = self.store.table(table)
        definition = schema.field(field)
        if definition is None:
            raise ApiError(404, "ObjectNotFound", "Requested object not found")
        return Answer(200, {"Result": definition.to_json(version)})

    def _api_records(self, request: Request, version: str, table: str) -> Answer:
        params = query_params.lower_keys(request.args)
        wants_rows = params.get("response", "").lower() == "rows"
        if request.method == "GET":
            query = query_params.parse_record_query(params, version)
            result = self.store.select(table, query,
                                       shuffle=self.faults.settings.shuffle_unordered)
            body: dict[str, Any] = {"Result": result.rows}
            if query.pagination_info:
                body["Pagination"] = {"TotalCount": result.total,
                                      "PageNumber": query.page_number,
                                      "PageSize": query.limit}
            return Answer(200, body)
        if request.method == "POST":
            row = self.store.insert(table, json_body(request))
            name = self.store.table(table).name
            self.webhooks.emit(name, "table.recordInsert", [row])
            location = (f"{request.host_url.rstrip('/')}{request.path}"
                        f"?q.where=PK_ID={row['PK_ID']}")
            return Answer(201, {"Result": [row]} if wants_rows else None,
                          {"Location": location})
        condition = query_params.require_where(params)
        name = self.store.table(table).name
        if request.method == "PUT":
            updated = self.store.update(table, condition, json_body(request))
            self.webhooks.emit_update(name, updated.rows, updated.before, updated.written)
            return Answer(200, {"RecordsAffected": updated.count,
                                "Result": updated.rows if wants_rows else []})
        deleted = self.store.delete(table, condition)
        self.webhooks.emit(name, "table.recordDelete", deleted)
        return Answer(200, {"RecordsAffected": len(deleted)})

    # ------------------------------------------------------------ /outgoingWebhooks (v3)

    def _api_hooks(self, request: Request, version: str) -> Answer:
        if request.method == "GET":
            return Answer(200, self.outgoing.list_webhooks())
        return Answer(201, self.outgoing.create(json_body(request)))

    def _api_hook(self, request: Request, version: str, hook: str) -> Answer:
        if request.method == "GET":
            return Answer(200, self.outgoing.describe(hook, self.webhooks.counters(hook)))
        if request.method == "PUT":
            return Answer(200, self.outgoing.update(hook, json_body(request)))
        self.outgoing.delete(hook)
        return Answer(204)

    def _api_hook_events(self, request: Request, version: str, hook: str) -> Answer:
        if request.method == "GET":
            return Answer(200, self.outgoing.list_events(hook))
        return Answer(201, self.outgoing.create_event(hook, json_body(request)))

    def _api_hook_event(self, request: Request, version: str, hook: str,
                        event: str) -> Answer:
        if request.method == "GET":
            found = self.outgoing.event(hook, event)
            counters = self.webhooks.counters(hook)  # per webhook: events share its log
            return Answer(200, found.to_json() | {"ObjectId": found.object_name, **{
                key: counters[key] for key in ("Messages", "Calls", "Errors")}})
        if request.method == "PUT":
            return Answer(200, self.outgoing.update_event(hook, event, json_body(request)))
        self.outgoing.delete_event(hook, event)
        return Answer(204)

    # ------------------------------------------------------------ /_emulator controls

    def _control(self, endpoint: str, request: Request) -> Response:
        return json_response(control_answer(self, endpoint, request))


def _new_table_name(request: Request) -> str:
    try:
        body = json.loads(request.get_data(as_text=True))
    except ValueError:
        return ""
    name = body.get("Name") if isinstance(body, dict) else None
    return name if isinstance(name, str) else ""
