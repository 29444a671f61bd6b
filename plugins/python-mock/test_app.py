"""The Python adapter's flows on plain CPython, before it becomes a component: the host's
`http` and `keys` imports are replaced by a fake sandbox that checks every signature as
PROTOCOL.md says, so what the adapter sends, and how it reads answers and notifications,
is checked without paygate. `build.sh` runs it with the generated bindings on the path:

    componentize-py -d ../../wit/v2 -w adapter bindings /tmp/b
    PYTHONPATH=/tmp/b python3 -m unittest test_app
"""

import hashlib
import hmac
import json
import time
import unittest

from componentize_py_types import Err
from wit_world.imports import http, keys
from wit_world.imports import types as t

import app
import wire

KEY = b"k3y-of-the-sandbox-account"
ACCOUNT = "sbx_1"
CONFIG = t.Config(
    merchant_id="m1",
    settings=[("sandbox_url", "http://127.0.0.1:9/sandbox/"), ("account_id", ACCOUNT)],
)


def mac(message):
    return hmac.new(KEY, message, hashlib.sha256).digest()


def fake_sign(key, algorithm, message):
    if key != app.API_KEY:
        raise Err(keys.Error_UnknownKey(key))
    assert algorithm == keys.SignatureAlgorithm.HMAC_SHA256
    return mac(bytes(message))


def fake_verify(key, algorithm, message, signature):
    fake_sign(key, algorithm, b"")
    return hmac.compare_digest(mac(bytes(message)), bytes(signature))


class FakeSandbox:
    """Answers each request with the next (status, body) queued, after checking its
    signature headers; keeps the requests."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    def send(self, request):
        h = dict(request.headers)
        path = wire.path_of(request.url)
        message = f"{request.method.name}\n{path}\n{h['x-sandbox-timestamp']}\n".encode()
        message += f"{h['x-sandbox-nonce']}\n".encode() + bytes(request.body)
        assert h["x-sandbox-account"] == ACCOUNT
        assert bytes.fromhex(h["x-sandbox-signature"]) == mac(message), "bad signature"
        assert 16 <= len(h["x-sandbox-nonce"]) <= 32 and h["x-sandbox-nonce"].isalnum()
        self.requests.append(request)
        status, body = self.answers.pop(0)
        return http.Response(status=status, headers=[], body=json.dumps(body).encode())


def error_of(call):
    try:
        call()
    except Err as e:
        return e.value
    raise AssertionError("expected an error")


class AdapterTest(unittest.TestCase):
    def setUp(self):
        keys.sign, keys.verify = fake_sign, fake_verify
        self.provider = app.Provider()

    def sandbox(self, *answers):
        fake = FakeSandbox(*answers)
        http.send = fake.send
        return fake

    def pay_request(self, channel="web", return_url=None):
        return t.PayRequest(
            payment_no="P1",
            amount=t.Money(minor=1000, currency="CNY"),
            subject="Green tea",
            channel=channel,
            expires_at=1_900_000_000,
            notify_url="http://127.0.0.1:9/v1/notify/pymock/m1",
            payer=t.Payer(open_id=None, client_ip=None, return_url=return_url),
        )

    def test_info_names_pymock_and_what_it_needs(self):
        info = self.provider.info()
        self.assertEqual((info.name, info.contract_version), ("pymock", "2.0.0"))
        self.assertEqual([c.name for c in info.channels], ["web", "qr"])
        self.assertEqual(
            [(s.name, s.required, s.is_base_url) for s in info.settings],
            [("sandbox_url", True, True), ("account_id", True, False), ("refunds", False, False)],
        )
        self.assertEqual(
            [(s.name, s.kind) for s in info.secrets], [("api_key", t.SecretKind.HMAC_KEY)]
        )

    def test_pay_creates_a_signed_trade_and_returns_its_page(self):
        fake = self.sandbox((200, {"payment_no": "P1", "trade_id": "T1", "state": "open",
                                   "pay_url": "http://x/sandbox/checkout/P1"}))
        paid = self.provider.pay(CONFIG, self.pay_request("qr", "https://shop/back"))
        self.assertEqual(paid.action, t.PayAction_QrCode("http://x/sandbox/checkout/P1"))
        self.assertEqual((paid.provider_trade_id, paid.action_expires_at), ("T1", None))
        sent = fake.requests[0]
        self.assertEqual(sent.url, "http://127.0.0.1:9/sandbox/api/trades")
        body = json.loads(bytes(sent.body))
        self.assertEqual(
            (body["payment_no"], body["amount"], body["currency"], body["return_url"]),
            ("P1", 1000, "CNY", "https://shop/back"),
        )
        self.assertNotIn("return_url", json.loads(wire.create_trade(self.pay_request())))

    def test_pay_refuses_other_channels_without_a_request(self):
        fake = self.sandbox()
        err = error_of(lambda: self.provider.pay(CONFIG, self.pay_request("jsapi")))
        self.assertIsInstance(err, t.ProviderError_Unsupported)
        self.assertEqual(fake.requests, [])

    def test_query_maps_the_trade(self):
        self.sandbox((200, {"payment_no": "P1", "trade_id": "T1", "state": "paid", "amount": 1000,
                            "currency": "CNY", "paid_amount": 1000, "paid_at": 1700000000,
                            "refunded_amount": 0}))
        status = self.provider.query(CONFIG, "P1")
        self.assertEqual(status.state, t.TradeState.PAID)
        self.assertEqual(status.paid_amount, t.Money(minor=1000, currency="CNY"))
        self.assertEqual(status.paid_at, 1700000000)
        self.sandbox((200, {"payment_no": "P1", "trade_id": "T1", "state": "limbo",
                            "currency": "CNY", "paid_amount": None, "paid_at": None}))
        err = error_of(lambda: self.provider.query(CONFIG, "P1"))
        self.assertIsInstance(err, t.ProviderError_Unreachable)

    def test_errors_map_as_the_rust_mock_maps_them(self):
        cases = [
            (409, {"code": "TRADE_PAID"}, t.ProviderError_AlreadyPaid()),
            (409, {"code": "TRADE_CLOSED"}, t.ProviderError_AlreadyClosed()),
            (404, {"code": "TRADE_NOT_FOUND"}, t.ProviderError_NotFound()),
            (400, {"code": "PARAM_MISMATCH", "message": "m"},
             t.ProviderError_Rejected(t.Rejection(code="PARAM_MISMATCH", message="m"))),
        ]
        for status, body, expected in cases:
            self.sandbox((status, body))
            self.assertEqual(error_of(lambda: self.provider.close(CONFIG, "P1")), expected)
        for status, body, kind in [(401, {"code": "SIGNATURE_INVALID"}, t.ProviderError_Config),
                                   (404, "nothing", t.ProviderError_Config),
                                   (502, "bad gateway", t.ProviderError_Unreachable),
                                   (400, "not json", t.ProviderError_Unreachable)]:
            self.sandbox((status, body))
            self.assertIsInstance(error_of(lambda: self.provider.close(CONFIG, "P1")), kind)
        err = error_of(lambda: self.provider.query(CONFIG, "../x"))
        self.assertIsInstance(err, t.ProviderError_Unsupported)

    def test_refund_and_its_switch(self):
        self.sandbox((200, {"payment_no": "P1", "refund_no": "R1", "refund_id": "F1",
                            "state": "succeeded", "amount": 300}))
        request = t.RefundRequest(payment_no="P1", refund_no="R1",
                                  amount=t.Money(minor=300, currency="CNY"),
                                  total=t.Money(minor=1000, currency="CNY"), reason=None,
                                  notify_url="http://127.0.0.1:9/n")
        status = self.provider.refund(CONFIG, request)
        self.assertEqual((status.state, status.amount.minor, status.provider_refund_id),
                         (t.RefundState.SUCCEEDED, 300, "F1"))
        off = t.Config(merchant_id="m1", settings=CONFIG.settings + [("refunds", "off")])
        err = error_of(lambda: self.provider.refund(off, request))
        self.assertIsInstance(err, t.ProviderError_Unsupported)
        err = error_of(lambda: self.provider.query_refund(CONFIG, "P1", "R1"))
        self.assertIsInstance(err, t.ProviderError_Unsupported)

    def test_missing_settings_and_keys_are_configuration_errors(self):
        bare = t.Config(merchant_id="m1", settings=[("sandbox_url", "http://h/sandbox")])
        err = error_of(lambda: self.provider.close(bare, "P1"))
        self.assertIsInstance(err, t.ProviderError_Config)
        self.assertIn("`account_id`", err.value)
        keys.sign = lambda *_: (_ for _ in ()).throw(Err(keys.Error_UnknownKey("api_key")))
        err = error_of(lambda: self.provider.close(CONFIG, "P1"))
        self.assertIsInstance(err, t.ProviderError_Config)

    def notification(self, body=None, now=None, key=None, drop=None, account=ACCOUNT):
        body = body if body is not None else json.dumps(
            {"event": "trade.paid", "payment_no": "P1", "trade_id": "T1", "state": "paid",
             "amount": 1000, "currency": "CNY", "paid_amount": 1000, "paid_at": 1700000000}
        ).encode()
        ts = str(now if now is not None else int(time.time()))
        message = f"{ts}\nN0nce\n".encode() + body
        signature = hmac.new(key or KEY, message, hashlib.sha256).hexdigest()
        headers = [("x-sandbox-account", account), ("x-sandbox-timestamp", ts),
                   ("x-sandbox-nonce", "N0nce"), ("x-sandbox-signature", signature)]
        headers = [h for h in headers if h[0] != drop]
        return self.provider.parse_notification(CONFIG, headers, body)

    def refusal(self, **kwargs):
        return error_of(lambda: self.notification(**kwargs))

    def test_a_signed_notification_is_a_payment(self):
        n = self.notification()
        self.assertEqual(n.event.value.state, t.TradeState.PAID)
        self.assertEqual(n.event.value.paid_amount, t.Money(minor=1000, currency="CNY"))
        self.assertEqual((n.ack.status, json.loads(n.ack.body)), (200, {"code": "SUCCESS"}))
        self.assertEqual(n.retry.status, 500)

    def test_unsigned_or_badly_signed_notifications_are_refused_with_401(self):
        for kwargs, words in [
            ({"key": b"another key"}, "does not verify"),
            ({"drop": "x-sandbox-signature"}, "x-sandbox-signature is missing"),
            ({"drop": "x-sandbox-account"}, "x-sandbox-account is missing"),
            ({"account": "sbx_2"}, "not this merchant's account"),
            ({"now": int(time.time()) - 301}, "300 s"),
        ]:
            refusal = self.refusal(**kwargs)
            self.assertIsInstance(refusal.error, t.ProviderError_BadSignature, kwargs)
            self.assertIn(words, refusal.error.value)
            self.assertEqual(refusal.reply.status, 401)
            self.assertEqual(json.loads(refusal.reply.body)["code"], "FAIL")

    def test_a_signed_body_that_is_no_paid_event_is_refused_with_400(self):
        refusal = self.refusal(body=b'{"event":"trade.refunded"}')
        self.assertIsInstance(refusal.error, t.ProviderError_Rejected)
        self.assertEqual(refusal.error.value.code, "UNREADABLE_NOTIFICATION")
        self.assertEqual(refusal.reply.status, 400)

    def test_wire_helpers(self):
        self.assertEqual(wire.path_of("http://h:1/sandbox/api/trades?x=1"), "/sandbox/api/trades")
        self.assertEqual(wire.path_of("https://h"), "/")
        self.assertEqual(len(app.nonce(24)), 24)
        self.assertNotEqual(app.nonce(24), app.nonce(24))
        with self.assertRaises(wire.Unreadable):
            wire.notification_headers(
                [("x-sandbox-account", "a"), ("x-sandbox-timestamp", "1"),
                 ("x-sandbox-nonce", "n"), ("x-sandbox-signature", "xyz")], "a", 1)


if __name__ == "__main__":
    unittest.main()
