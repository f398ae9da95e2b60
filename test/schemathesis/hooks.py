"""Schemathesis hooks for the Genstore JSON routes (loaded through SCHEMATHESIS_HOOKS).

They do what Genstore does and a fuzzer cannot:
- sign every request the way Genstore signs its query (hmac over the sorted parameters with a fresh
  timestamp), so the service runs with signatures required and Schemathesis's ignored_auth check
  can see that unsigned and wrongly signed requests are refused;
- give valid payments, captures, voids and refunds ids of their own, and make most valid payments test
  payments (the test shop's sandbox takes no others), so that the stateful links (create ->
  capture / void / refund -> get) reach operations that go through;
- give schema-valid card payments a card that decrypts: the cryptogram is ECIES under the service's
  key, which no schema can describe, so positive cases get one of the packets the test encrypted
  (random bytes still reach the service in negative cases and in its own tests);
- tell the test, before and after each call, what was sent and answered, so that it can check in
  the database that nothing was stored for a request that was refused.

Settings come from the environment: GENSTORE_CLIENT_SECRET, GENSTORE_CARD_PACKETS (a JSON file of
packets) and GENSTORE_PROBE_URL (the test's recorder).
"""

import hashlib
import hmac
import json
import os
import time
import urllib.request

import requests
import schemathesis

SECRET = os.environ["GENSTORE_CLIENT_SECRET"].encode()
PROBE_URL = os.environ["GENSTORE_PROBE_URL"]
with open(os.environ["GENSTORE_CARD_PACKETS"], encoding="utf-8") as f:
    PACKETS = json.load(f)

CARD_ROUTE = "/genstore/v1/payments/card"
OFFSITE_ROUTE = "/genstore/v1/payments/offsite"
PACKET_FIELDS = ("cipherText", "salt", "ephemeralPublicKey", "suit", "iv")


def signed_query(query):
    """The query with a fresh timestamp and its hmac, computed over the pairs exactly as requests will encode them."""
    query = {k: v for k, v in query.items() if k not in ("hmac", "timestamp")}
    query["timestamp"] = str(int(time.time()))
    encoded = requests.models.RequestEncodingMixin._encode_params(query)
    pairs = [p.split("=", 1) if "=" in p else [p, ""] for p in encoded.split("&") if p]
    # Sorted by key only and stably, as the service does (JavaScript's sort is stable).
    message = "&".join(f"{k}={v}" for k, v in sorted(pairs, key=lambda kv: kv[0]))
    query["hmac"] = hmac.new(SECRET, message.encode(), hashlib.sha256).hexdigest()
    return query


@schemathesis.auth(refresh_interval=None)
class GenstoreQuerySignature:
    def get(self, case, ctx):
        return SECRET

    def set(self, case, data, ctx):
        query = case.query if isinstance(case.query, dict) else {}
        case.query = signed_query(query)
        # A generated body signature would be checked too, and could never match.
        if isinstance(case.headers, dict):
            case.headers = {k: v for k, v in case.headers.items() if k.lower() != "x-genstore-hmac-sha256"}


def takes_part(case):
    """Schema-valid cases, and every step of a stateful sequence (which Schemathesis marks negative
    as soon as a step has extra fields): the edits below only make a request more valid, and
    Schemathesis judges the request again after them."""
    meta = case.meta
    return meta is None or meta.generation.mode.is_positive or meta.phase.name == "stateful"


def with_decryptable_card(case):
    body = case.body
    data = body.get("paymentMethod") if isinstance(body, dict) else None
    data = data.get("data") if isinstance(data, dict) else None
    if not isinstance(data, dict):
        return
    # The same payment id always gets the same card, so a retry is no conflict.
    key = json.dumps(body.get("paymentId"), sort_keys=True).encode()
    packet = PACKETS[int(hashlib.sha256(key).hexdigest(), 16) % len(PACKETS)]
    for field in PACKET_FIELDS:
        data[field] = packet[field]


def probe(what, payload):
    request = urllib.request.Request(
        f"{PROBE_URL}/{what}", data=json.dumps(payload).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        answer.read()


def mostly_test_payment(case):
    """The test shop's sandbox takes test payments only: most valid payments say so, so that the
    links can go on to capture, void and refund them; a quarter keep what was generated."""
    body = case.body
    if not isinstance(body, dict):
        return
    key = json.dumps(body.get("paymentId"), sort_keys=True).encode()
    if int(hashlib.sha256(b"test:" + key).hexdigest(), 16) % 4:
        body["test"] = True


NEW_IDS = {
    CARD_ROUTE: "paymentId",
    OFFSITE_ROUTE: "paymentId",
    "/genstore/v1/captures": "captureId",
    "/genstore/v1/voids": "voidId",
    "/genstore/v1/refunds": "refundId",
}
issued = [0]


def fresh_id(case):
    """Genstore gives every payment, capture, void and refund an id of its own; the fuzzer keeps
    drawing the same few (false, the API page's "1111"), and a reused id is refused (the fuzzing
    phase covers that). Valid requests get the drawn id with a unique suffix, so that the links
    can take a payment on."""
    field = NEW_IDS.get(case.operation.path)
    body = case.body
    if field is None or not isinstance(body, dict) or body.get(field) is None:
        return
    issued[0] += 1
    drawn = body[field] if isinstance(body[field], str) else json.dumps(body[field])
    body[field] = f"{drawn[:100]}~{issued[0]}"


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() == "POST" and takes_part(case):
        fresh_id(case)
    creation = case.operation.path in (CARD_ROUTE, OFFSITE_ROUTE) and case.method.upper() == "POST"
    if creation and takes_part(case):
        mostly_test_payment(case)
        if case.operation.path == CARD_ROUTE:
            with_decryptable_card(case)
    probe("before", {"operation": f"{case.method.upper()} {case.operation.path}"})


@schemathesis.hook
def after_call(context, case, response):
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        body = None
    sent = case.body if isinstance(case.body, dict) else {}
    probe(
        "after",
        {
            "operation": f"{case.method.upper()} {case.operation.path}",
            "status": response.status_code,
            "body": body,
            "paymentId": sent.get("paymentId") if isinstance(sent.get("paymentId"), str) else None,
        },
    )
