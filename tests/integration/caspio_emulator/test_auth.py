"""/oauth/token and bearer checks, from reference §1 (and §9.1 for the 401 body)."""

from __future__ import annotations

import base64

import requests

from sandbox.caspio import ManualClock, run_emulator
from sandbox.caspio.server import RunningEmulator

from .conftest import V2, V3, RawApi, assert_caspio_error


def token_call(running: RunningEmulator, **kwargs: object) -> requests.Response:
    return requests.post(running.base_url + "/oauth/token", timeout=10, **kwargs)  # type: ignore[arg-type]


def test_form_credentials_give_the_documented_token(fresh_caspio_emulator: RunningEmulator):
    answer = token_call(fresh_caspio_emulator, data={
        "grant_type": "client_credentials",
        "client_id": fresh_caspio_emulator.client_id,
        "client_secret": fresh_caspio_emulator.client_secret,
    })
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86399
    assert len(body["refresh_token"]) == 64
    assert answer.headers["X-Caspio-Request-ID"]


def test_basic_auth_and_a_text_plain_form_are_accepted(fresh_caspio_emulator: RunningEmulator):
    running = fresh_caspio_emulator
    pair = f"{running.client_id}:{running.client_secret}".encode()
    basic = token_call(running, data="grant_type=client_credentials",
                       headers={"Authorization": "Basic " + base64.b64encode(pair).decode(),
                                "Content-Type": "text/plain"})
    assert basic.status_code == 200
    plain = token_call(running, headers={"Content-Type": "text/plain"},
                       data=f"grant_type=client_credentials&client_id={running.client_id}"
                            f"&client_secret={running.client_secret}")
    assert plain.status_code == 200


def test_wrong_credentials_and_grants_answer_oauth_errors(fresh_caspio_emulator: RunningEmulator):
    running = fresh_caspio_emulator
    wrong = token_call(running, data={"grant_type": "client_credentials",
                                      "client_id": running.client_id, "client_secret": "nope"})
    assert (wrong.status_code, wrong.json()) == (400, {"error": "invalid_client"})
    grant = token_call(running, data={"grant_type": "password"})
    assert (grant.status_code, grant.json()) == (400, {"error": "unsupported_grant_type"})
    refresh = token_call(running, data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert (refresh.status_code, refresh.json()) == (400, {"error": "invalid_grant"})


def test_refresh_token_gives_a_new_working_token(fresh_caspio_emulator: RunningEmulator):
    running = fresh_caspio_emulator
    first = token_call(running, data={"grant_type": "client_credentials",
                                      "client_id": running.client_id,
                                      "client_secret": running.client_secret}).json()
    running.controls.expire_tokens()
    renewed = token_call(running, data={"grant_type": "refresh_token",
                                        "refresh_token": first["refresh_token"],
                                        "client_id": running.client_id,
                                        "client_secret": running.client_secret})
    assert renewed.status_code == 200
    token = renewed.json()["access_token"]
    assert token != first["access_token"]
    answer = requests.get(running.base_url + V3 + "/tables", timeout=10,
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200


def test_missing_garbage_and_expired_tokens_get_401(api: RawApi):
    assert_caspio_error(api.get("/tables", auth=False), 401, "Unauthorized")
    bad = api.get("/tables", headers={"Authorization": "Bearer not-a-token"})
    assert_caspio_error(bad, 401, "Unauthorized")
    # The scheme is case-insensitive (the SDK sends "bearer").
    assert api.get("/tables", headers={"Authorization": f"bearer {api.token}"}).status_code == 200
    api.running.controls.expire_tokens()
    body = assert_caspio_error(api.get("/tables"), 401, "Unauthorized")
    assert body["Message"] == "Authorization has been denied for this request."


def test_earlier_tokens_stay_valid_when_a_new_one_is_issued(api: RawApi):
    first = api.token
    second = api.fetch_token()
    assert api.get("/tables", headers={"Authorization": f"Bearer {first}"}).status_code == 200
    assert api.get("/tables", headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_tokens_expire_on_the_injected_clock_with_a_configured_ttl():
    clock = ManualClock()
    with run_emulator(clock=clock, token_ttl_seconds=60) as running:
        api = RawApi(running, V2)
        token = api.fetch_token()
        headers = {"Authorization": f"Bearer {token}"}
        assert token_call(running, data={
            "grant_type": "client_credentials", "client_id": running.client_id,
            "client_secret": running.client_secret}).json()["expires_in"] == 60
        clock.advance(59)
        assert api.get("/tables", headers=headers).status_code == 200
        clock.advance(1)
        assert_caspio_error(api.get("/tables", headers=headers), 401, "Unauthorized")
        api.close()


def test_expired_token_can_answer_the_observed_400_form(api: RawApi):
    assert api.get("/tables").status_code == 200
    api.running.controls.set_faults(expired_token_status=400)
    api.running.controls.expire_tokens()
    assert_caspio_error(api.get("/tables"), 400, "IncorrectQueryParameter")
    # An unknown token is still a 401.
    assert api.get("/tables", headers={"Authorization": "Bearer x"}).status_code == 401


def test_token_expiry_over_http_control(api: RawApi):
    assert api.get("/tables").status_code == 200
    control = requests.post(api.running.base_url + "/_emulator/tokens/expire", timeout=10)
    assert control.status_code == 204
    assert api.get("/tables").status_code == 401


def test_token_ttl_can_be_shortened_and_fresh_restores_it(fresh_caspio_emulator: RunningEmulator):
    running = fresh_caspio_emulator
    form = {"grant_type": "client_credentials", "client_id": running.client_id,
            "client_secret": running.client_secret}
    running.controls.set_token_ttl(30)
    assert token_call(running, data=form).json()["expires_in"] == 30
    running.fresh()
    assert token_call(running, data=form).json()["expires_in"] == 86399
