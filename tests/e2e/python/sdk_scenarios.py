"""The official Python SDK (authsignal, pinned in scripts/setup.sh) against
ActionGate: the scenarios its own test suite runs, in our words.

Run by tests/e2e/sdk-python.test.mjs as
    .venv/bin/python tests/e2e/python/sdk_scenarios.py SCENARIO
with AG_API_URL (the worker's /v1), AG_API_SECRET and AG_USER (a fresh user
id) in the environment. Prints one JSON object of what it saw, for the
JavaScript side to check against what ActionGate stored; fails (exit 1,
with the assertion) on the first thing that differs from Authsignal's
behaviour.
"""

import json
import os
import sys

from authsignal.client import ApiException, AuthsignalClient

API_URL = os.environ["AG_API_URL"]
SECRET = os.environ["AG_API_SECRET"]
USER = os.environ["AG_USER"]
ACTION = os.environ.get("AG_ACTION", "py-sdk-challenge")

client = AuthsignalClient(api_secret_key=SECRET, api_url=API_URL)

# What the SDK's users pass: its own examples use snake_case keys, which
# Authsignal's API ignores and ActionGate reads as the fields they name.
SNAKE_CASE_ATTRIBUTES = {
    "redirect_url": "http://localhost:3000",
    "redirect_to_settings": True,
    "email": "py-sdk@example.com",
    "phone_number": "1234567890",
    "ip_address": "127.0.0.1",
    "user_agent": "ActionGate-Python-SDK-Scenarios/1.0",
    "device_id": "py-device-1",
    "custom": {"amount": 120, "note": "snake case around it"},
}


def enroll_email():
    enrolled = client.enroll_verified_authenticator(
        user_id=USER,
        attributes={"verificationMethod": "EMAIL_OTP", "email": "py-sdk@example.com"},
    )
    return enrolled["authenticator"]


def track_get_update():
    enroll_email()
    tracked = client.track(user_id=USER, action=ACTION, attributes=SNAKE_CASE_ATTRIBUTES)
    assert tracked["state"] == "CHALLENGE_REQUIRED", tracked
    assert tracked.get("idempotency_key"), tracked
    assert tracked.get("is_enrolled") is True, tracked
    assert tracked.get("url") and tracked.get("token"), tracked
    assert len(tracked.get("allowed_verification_methods", [])) > 0, tracked

    got = client.get_action(user_id=USER, action=ACTION, idempotency_key=tracked["idempotency_key"])
    assert got["state"] == "CHALLENGE_REQUIRED", got
    assert got.get("output") is not None, got

    updated = client.update_action(
        user_id=USER,
        action=ACTION,
        idempotency_key=tracked["idempotency_key"],
        attributes={"state": "BLOCK"},
    )
    assert updated["state"] == "BLOCK", updated
    return {"idempotencyKey": tracked["idempotency_key"], "output": got["output"]}


def validate():
    tracked = client.track(user_id=USER, action=ACTION, attributes=SNAKE_CASE_ATTRIBUTES)
    checked = client.validate_challenge(attributes={"token": tracked["token"]})
    assert checked.get("is_valid") is not None, checked
    assert checked["is_valid"] is False, checked
    assert checked["state"] == "CHALLENGE_REQUIRED", checked
    assert checked["user_id"] == USER, checked
    assert checked["action"] == ACTION, checked
    assert checked.get("idempotency_key") == tracked["idempotency_key"], checked
    return {"idempotencyKey": tracked["idempotency_key"]}


def authenticators():
    made = enroll_email()
    assert made["user_authenticator_id"], made
    assert made["verification_method"] == "EMAIL_OTP", made
    assert made["email"] == "py-sdk@example.com", made
    assert made["user_id"] == USER, made
    # getUser: the new factor is the user's default, among what they may enroll.
    user = client.get_user(user_id=USER)
    assert user["default_verification_method"] == "EMAIL_OTP", user
    assert "PASSKEY" in user["allowed_verification_methods"], user
    assert "EMAIL_OTP" in user["enrolled_verification_methods"], user
    listed = client.get_authenticators(user_id=USER)
    # The first factor came with the user's recovery codes.
    methods = sorted(a["verification_method"] for a in listed)
    assert methods == ["EMAIL_OTP", "RECOVERY_CODE"], listed
    email = [a for a in listed if a["verification_method"] == "EMAIL_OTP"]
    assert [a["user_authenticator_id"] for a in email] == [made["user_authenticator_id"]], listed
    client.delete_authenticator(user_id=USER, user_authenticator_id=made["user_authenticator_id"])
    after = client.get_authenticators(user_id=USER)
    assert all(a["user_authenticator_id"] != made["user_authenticator_id"] for a in after), after
    return {"deleted": made["user_authenticator_id"]}


def unauthorized():
    wrong = AuthsignalClient(api_secret_key="not-the-secret", api_url=API_URL)
    try:
        wrong.get_user(user_id=USER)
    except ApiException as e:
        assert e.status_code == 401, vars(e)
        assert e.error_code == "unauthorized", vars(e)
        assert e.error_description == (
            "The request is unauthorized. Check that your API key and region base URL "
            "are correctly configured."
        ), vars(e)
        return {"status": e.status_code}
    raise AssertionError("a wrong secret was accepted")


SCENARIOS = {
    "track-get-update": track_get_update,
    "validate": validate,
    "authenticators": authenticators,
    "unauthorized": unauthorized,
}

if __name__ == "__main__":
    print(json.dumps(SCENARIOS[sys.argv[1]]()))
