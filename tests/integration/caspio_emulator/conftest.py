"""Helpers for the Caspio emulator tests: a raw HTTP caller and the reference files."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from sandbox.caspio.server import RunningEmulator
from tests.reference import reference_file

V3 = "/integrations/rest/v3"
V2 = "/rest/v2"


def load_openapi_spec() -> dict[str, Any]:
    return json.loads(reference_file("caspio-openapi-v3.json").read_text(encoding="utf-8"))


class RawApi:
    """Plain ``requests`` calls against the emulator, with a token fetched once."""

    def __init__(self, running: RunningEmulator, prefix: str = V3) -> None:
        self.running = running
        self.prefix = prefix
        self.session = requests.Session()
        self._token: str | None = None

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = self.fetch_token()
        return self._token

    def fetch_token(self) -> str:
        answer = self.session.post(self.running.base_url + "/oauth/token", data={
            "grant_type": "client_credentials",
            "client_id": self.running.client_id,
            "client_secret": self.running.client_secret,
        }, timeout=10)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def url(self, path: str) -> str:
        return self.running.base_url + self.prefix + path

    def call(self, method: str, path: str, *, auth: bool = True,
             **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if auth:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.session.request(method, self.url(path), headers=headers, timeout=10,
                                    **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, **kwargs)

    def create_table(self, name: str, fields: list[dict[str, Any]]) -> None:
        answer = self.post("/tables", json={"Name": name, "Fields": fields})
        assert answer.status_code == 201, answer.text

    def insert(self, table: str, values: dict[str, Any]) -> dict[str, Any]:
        answer = self.post(f"/tables/{table}/records", params={"response": "rows"},
                           json=values)
        assert answer.status_code == 201, answer.text
        return dict(answer.json()["Result"][0])

    def rows(self, table: str, **params: Any) -> list[dict[str, Any]]:
        answer = self.get(f"/tables/{table}/records", params=params)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["Result"])

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def api(fresh_caspio_emulator: RunningEmulator) -> Any:
    """A raw v3 caller on an emptied emulator."""
    raw = RawApi(fresh_caspio_emulator)
    yield raw
    raw.close()


def assert_caspio_error(answer: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The documented error body and header, with the same request id in both."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"Code", "Message", "Resource", "RequestId"}
    assert body["Code"] == code
    assert body["RequestId"] == answer.headers["X-Caspio-Request-ID"]
    assert body["Resource"].startswith("http://127.0.0.1:")
    return dict(body)
