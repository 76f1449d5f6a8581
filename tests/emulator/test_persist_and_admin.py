"""serve --data / Emulator(data=...): state across restarts; the admin request log, preferences
and the requests a run made (docs/emulator.md "Keeping state", "Admin API")."""

from __future__ import annotations

import json
import os
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from qbsync.emulator import Emulator
from qbsync.errors import ConfigError

TIMEOUT = 5


def api(
    emu: Emulator, method: str, subpath: str, token: str, body: Any = None, **params: str
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return requests.request(
        method,
        f"{emu.base_url}/v3/company/{emu.realm_id}/{subpath}",
        headers=headers,
        params=params,
        data=None if body is None else json.dumps(body),
        timeout=TIMEOUT,
    )


def refresh(emu: Emulator, refresh_token: str) -> requests.Response:
    client = emu.client
    return requests.post(
        f"{emu.base_url}/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(client.client_id, client.client_secret),
        timeout=TIMEOUT,
    )


def admin(emu: Emulator, method: str, name: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{emu.base_url}/_emulator/{name}", json=body, timeout=TIMEOUT)


LINE = {
    "DetailType": "SalesItemLineDetail",
    "Amount": "25.10",
    "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "TaxCodeRef": {"value": "NON"}},
}


# -- --data ---------------------------------------------------------------------------------------


def test_data_file_keeps_company_tokens_and_requestids_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "emulator-data.json"
    with Emulator(limits=False, data=path) as emu:
        assert emu.restored is False
        tokens = emu.issue_tokens()
        token = tokens["access_token"]
        made = api(emu, "POST", "customer", token, {"DisplayName": "Kept Member"}, requestid="r-1")
        customer = made.json()["Customer"]
        invoice = {"CustomerRef": {"value": customer["Id"]}, "Line": [LINE]}
        assert api(emu, "POST", "invoice", token, invoice).json()["Invoice"]["DocNumber"] == "1001"
        api(emu, "POST", "invoice", token, {**invoice, "DocNumber": "X-1"})
        deleted = api(emu, "POST", "invoice", token, invoice).json()["Invoice"]
        api(emu, "POST", "invoice", token, deleted, operation="delete")
        emu.set_preferences(custom_txn_numbers=True, home_currency="CAD")
        emu.clock.advance(120)
        before = emu.company.dump()
    # It holds tokens: owner-only, and no temporary file left behind.
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == [path.name]

    with Emulator(limits=False, data=path) as again:
        assert again.restored is True
        assert again.company.dump() == before  # every entity, Decimal money included
        assert again.clock.offset >= 120
        # The access token of the first run still works; the refresh token too (and rotates).
        read = api(again, "GET", f"customer/{customer['Id']}", token)
        assert read.status_code == 200
        assert read.json(parse_float=Decimal)["Customer"]["Balance"] == Decimal("50.20")
        rotated = refresh(again, tokens["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        assert api(again, "GET", "preferences", rotated.json()["access_token"]).json()[
            "Preferences"
        ]["CurrencyPrefs"]["HomeCurrency"] == {"value": "CAD"}
        # The requestid reply is replayed, not redone.
        replay = api(
            again, "POST", "customer", token, {"DisplayName": "Kept Member"}, requestid="r-1"
        )
        assert replay.json()["Customer"] == customer
        # Sequences go on: no Id or DocNumber is handed out twice; custom numbers stay on.
        nxt = api(again, "POST", "customer", token, {"DisplayName": "Next Member"}).json()
        assert int(nxt["Customer"]["Id"]) > int(customer["Id"])
        dup = api(again, "POST", "invoice", token, {**invoice, "DocNumber": "X-1"}).json()
        assert dup["Fault"]["Error"][0]["code"] == "6140"
        # CDC still reports the deleted invoice.
        since = before["Invoice"][0]["MetaData"]["CreateTime"]
        cdc = api(again, "GET", "cdc", token, entities="Invoice", changedSince=since).json()
        statuses = [o.get("status") for o in cdc["CDCResponse"][0]["QueryResponse"][0]["Invoice"]]
        assert statuses.count("Deleted") == 1
    with Emulator(limits=False, data=path) as third:  # the rotation of the second run was kept
        assert third.token_state(rotated.json()["refresh_token"]) == "active"


def test_without_data_a_restart_forgets(tmp_path: Path) -> None:
    with Emulator(limits=False) as emu:
        tokens = emu.issue_tokens()
        assert emu.data is None
    with Emulator(limits=False) as fresh:
        assert fresh.token_state(tokens["refresh_token"]) == "unknown"
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_file_that_is_not_emulator_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    for text in (
        "not json",
        '{"format": "other"}',
        '{"format": "qbsync-emulator-data", "version": 1}',
    ):
        path.write_text(text)
        with pytest.raises(ConfigError, match=str(path)):
            Emulator(data=path)


def test_the_data_file_is_written_after_each_change(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    with Emulator(limits=False, data=path) as emu:
        token = emu.issue_access_token()
        api(emu, "POST", "customer", token, {"DisplayName": "Written At Once"})
        saved = json.loads(path.read_text())  # before stop(): a crash would keep it
        names = [r["DisplayName"] for r in saved["company"]["rows"]["Customer"].values()]
        assert "Written At Once" in names
        written = path.stat().st_mtime_ns
        api(emu, "GET", "customer/1", token)  # a read changes nothing: no write
        assert path.stat().st_mtime_ns == written


# -- request log ----------------------------------------------------------------------------------


def test_request_log_can_be_cleared_and_read_per_path(tmp_path: Path) -> None:
    with Emulator(limits=False) as emu:
        token = emu.issue_access_token()
        api(emu, "GET", "customer/1", token)
        emu.clear_requests()
        assert emu.request_count() == 0 and emu.request_counts() == {}
        api(emu, "POST", "customer", token, {"DisplayName": "Counted"})
        api(emu, "GET", "query", token, query="select * from Customer")
        refresh(emu, emu.issue_tokens()["refresh_token"])
        assert emu.request_count("/v3/company/*") == 2
        assert emu.request_count("/v3/company/*", method="POST") == 1
        assert emu.request_count("/oauth2/") == 1
        assert emu.request_counts("/v3/company/*", method="GET") == {
            "GET /v3/company/{realmId}/query": 1
        }
        assert [e["path"] for e in emu.requests("*/customer")] == [
            f"/v3/company/{emu.realm_id}/customer"
        ]
        over_http = admin(emu, "GET", "requests?path=/v3/company/*&method=POST").json()
        assert over_http["total"] == 1
        assert over_http["counts"] == {"POST /v3/company/{realmId}/customer": 1}
        assert admin(emu, "DELETE", "requests").status_code == 200
        assert admin(emu, "GET", "requests").json() == {"requests": [], "counts": {}, "total": 0}
        assert emu.company.count("Customer") == 4  # clearing the log changes nothing else


# -- preferences over the admin API ---------------------------------------------------------------


def test_admin_preferences_flip_custom_numbers(tmp_path: Path) -> None:
    with Emulator(limits=False) as emu:
        token = emu.issue_access_token()
        changed = admin(emu, "POST", "preferences", {"custom_txn_numbers": True})
        assert changed.status_code == 200
        assert changed.json()["Preferences"]["SalesFormsPrefs"]["CustomTxnNumbers"] is True
        prefs = api(emu, "GET", "preferences", token).json()["Preferences"]
        assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is True
        made = api(emu, "POST", "invoice", token, {"CustomerRef": {"value": "1"}, "Line": [LINE]})
        assert "DocNumber" not in made.json()["Invoice"]
        assert admin(emu, "POST", "preferences", {"custom_txn_numbers": "yes"}).status_code == 400
        assert admin(emu, "POST", "preferences", {"colour": "blue"}).status_code == 400


def test_admin_merge_removes_the_merged_away_customer() -> None:
    with Emulator(limits=False) as emu:
        token = emu.issue_access_token()
        merged = admin(emu, "POST", "merge", {"from": "2", "into": "1"})
        assert merged.status_code == 200 and merged.json()["Customer"]["Id"] == "1"
        assert api(emu, "GET", "customer/2", token).json()["Fault"]["Error"][0]["code"] == "610"
        assert admin(emu, "POST", "merge", {"from": "2", "into": "1"}).status_code == 400
        assert admin(emu, "POST", "merge", {"from": 1, "into": "2"}).status_code == 400
