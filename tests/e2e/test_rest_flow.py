"""A script's whole session against the running server over real HTTP: log in, manage a device and
a group, refresh and log out; the way the README tells people to use the API."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import OWNER, OWNER_PASSWORD, LiveServer

DEVICE = {
    "name": "Boiler feed pump",
    "description": "e2e",
    "modbus_ip": "127.0.0.1",
    "modbus_port": 1,
    "modbus_slave_id": 3,
    "modbus_register": 40,
    "unit": "bar",
    "sampling_interval": 3600,
    "threshold_warning_upper": 8.0,
    "threshold_critical_upper": 10.0,
}


def test_script_logs_in_manages_a_device_and_a_group_then_logs_out(live_server: LiveServer) -> None:
    with live_server.client() as http:
        login = http.post("/api/auth/login", json={"username": OWNER, "password": OWNER_PASSWORD})
        assert login.status_code == 200, login.text
        body = login.json()
        assert body["token_type"] == "bearer"
        assert body["user"]["role"] == "owner"
        assert body["user"]["id"] == body["user"]["user_id"]
        cookie = login.headers["set-cookie"].lower()
        assert "refresh_token=" in cookie
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "secure" not in cookie.replace("samesite", "")  # COOKIE_SECURE=false: plain HTTP works
        auth = {"Authorization": f"Bearer {body['access_token']}"}

        created = http.post("/api/devices", json=DEVICE, headers=auth)
        assert created.status_code == 201, created.text
        device = created.json()
        assert device["data_type"] == "uint16"
        assert device["status"] in ("offline", "online", "error")

        listed = http.get("/api/devices/", headers=auth)  # trailing slash works like the bare path
        assert listed.status_code == 200
        assert device["id"] in [d["id"] for d in listed.json()]

        duplicate = http.post("/api/devices", json=DEVICE, headers=auth)
        assert duplicate.status_code in (400, 409)
        assert duplicate.json()["detail"]

        bad = http.put(f"/api/devices/{device['id']}", json={"threshold_warning_upper": 20.0}, headers=auth)
        assert bad.status_code == 400, "warning above critical must be refused"

        updated = http.put(
            f"/api/devices/{device['id']}", json={"unit": "kPa", "sampling_interval": 1800}, headers=auth
        )
        assert updated.status_code == 200, updated.text
        assert (updated.json()["unit"], updated.json()["sampling_interval"]) == ("kPa", 1800)
        assert http.get(f"/api/devices/{device['id']}", headers=auth).json()["unit"] == "kPa"

        group = http.post(
            "/api/groups", json={"name": "Boiler house", "device_ids": [device["id"]]}, headers=auth
        )
        assert group.status_code == 201, group.text
        detail = http.get(f"/api/groups/{group.json()['id']}", headers=auth).json()
        assert [member["name"] for member in detail["devices"]] == [DEVICE["name"]]
        summary = {
            entry["id"]: entry["device_count"] for entry in http.get("/api/groups", headers=auth).json()
        }
        assert summary[group.json()["id"]] == 1

        assert http.delete(f"/api/groups/{group.json()['id']}", headers=auth).status_code == 204
        assert http.get(f"/api/devices/{device['id']}", headers=auth).status_code == 200, (
            "devices outlive groups"
        )
        assert http.delete(f"/api/devices/{device['id']}", headers=auth).status_code == 204
        assert http.get(f"/api/devices/{device['id']}", headers=auth).status_code == 404

        refreshed = http.post("/api/auth/refresh")  # the cookie set at login
        assert refreshed.status_code == 200, refreshed.text
        new_auth = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert http.get("/api/auth/me", headers=new_auth).json()["username"] == OWNER

        assert http.post("/api/auth/logout", headers=new_auth).status_code == 200
        assert http.post("/api/auth/refresh").status_code == 401, "logout revokes the refresh token"


def test_wrong_password_gets_the_contract_message(live_server: LiveServer) -> None:
    reply = httpx.post(
        f"{live_server.url}/api/auth/login", json={"username": "nobody-here", "password": "x" * 9}, timeout=10
    )
    assert reply.status_code == 401
    assert reply.json() == {"detail": "Invalid username or password"}


def test_read_only_account_can_read_but_not_write(live_server: LiveServer, api: httpx.Client) -> None:
    made = api.post(
        "/api/users",
        json={
            "username": "rest_viewer",
            "password": "viewer-password-1",
            "role": "read_only",
            "language_preference": "en",
        },
    )
    assert made.status_code == 201, made.text
    try:
        with live_server.client() as http:
            token = http.post(
                "/api/auth/login", json={"username": "rest_viewer", "password": "viewer-password-1"}
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            assert http.get("/api/devices", headers=auth).status_code == 200
            refused = http.post("/api/devices", json=DEVICE | {"name": "Not allowed"}, headers=auth)
            assert refused.status_code == 403
            assert refused.json()["detail"].startswith("Access forbidden")
    finally:
        assert api.delete(f"/api/users/{made.json()['id']}").status_code == 204
