"""paygate's mock adapter written in Python (componentize-py): the flows of
`plugins/mock/src/lib.rs`, for the same sandbox provider (`plugins/mock/PROTOCOL.md`),
under the provider name `pymock` so that it runs beside the bundled `mock`. It signs its
requests with the merchant's HMAC key through the host's `keys` import, calls the sandbox
through the `http` import, and verifies the sandbox's notifications the same way. Wire
bodies, signature messages and state and error maps are in `wire.py`.

Settings: `sandbox_url` (the sandbox's base URL, which is also the adapter's whole
outbound allowlist), `account_id`, and optionally `refunds` (`off`). Secret: `api_key`
(`hmac-key`). Channels: `web` (redirect to the sandbox's checkout page) and `qr` (a QR
code whose content is that page's URL). The Rust mock's test scenarios are left out.

The class `Provider` below is what componentize-py exports as the contract's `provider`
interface; an `err` result is raised as `componentize_py_types.Err(...)`.
"""

import os
import time

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import http, keys
from wit_world.imports.types import (
    AdapterInfo,
    ChannelSpec,
    Notification,
    NotificationEvent_Payment,
    PayAction_QrCode,
    PayAction_Redirect,
    PayResponse,
    ProviderError_BadSignature,
    ProviderError_Config,
    ProviderError_Rejected,
    ProviderError_Unreachable,
    ProviderError_Unsupported,
    Refusal,
    Reply,
    SecretKind,
    SecretSpec,
    SettingSpec,
)

import wire
from wire import raise_error

# The adapter's own release (its info().version, a version in the adapter registry).
VERSION = "0.1.0"

# The contract version this adapter is built against (`wit/v2`).
CONTRACT_VERSION = "2.0.0"

# The secret that signs requests and notifications, an `hmac-key`.
API_KEY = "api_key"

CHANNELS = ("web", "qr")


class Provider(exports.Provider):
    def info(self):
        return AdapterInfo(
            name="pymock",
            version=VERSION,
            contract_version=CONTRACT_VERSION,
            # The sandbox's checkout page is bound to no payer detail.
            channels=[ChannelSpec(name=c, binds=[]) for c in CHANNELS],
            settings=[
                SettingSpec(
                    name="sandbox_url",
                    required=True,
                    description="base URL of the sandbox provider, e.g. "
                    "http://127.0.0.1:8080/sandbox",
                    is_base_url=True,
                    default_value=None,
                ),
                SettingSpec(
                    name="account_id",
                    required=True,
                    description="the merchant's sandbox account (POST /sandbox/accounts)",
                    is_base_url=False,
                    default_value=None,
                ),
                SettingSpec(
                    name="refunds",
                    required=False,
                    description="`off` makes the adapter answer every refund as "
                    "unsupported, as an adapter for a provider without refunds would",
                    is_base_url=False,
                    default_value=None,
                ),
            ],
            secrets=[
                SecretSpec(
                    name=API_KEY,
                    kind=SecretKind.HMAC_KEY,
                    required=True,
                    description="the sandbox account's API key, which signs requests and "
                    "notifications",
                )
            ],
        )

    def pay(self, config, request):
        channel = request.channel
        if channel not in CHANNELS:
            raise_error(
                ProviderError_Unsupported(f"channel `{channel}`: the sandbox offers `web` and `qr`")
            )
        call = json_request(http.Method.POST, url(config, "/api/trades"), wire.create_trade(request))
        response = signed(config, call)
        created = wire.answer(response.status, response.body, {"trade_id": str, "pay_url": str})
        if channel == "qr":
            action = PayAction_QrCode(created["pay_url"])
        else:
            action = PayAction_Redirect(created["pay_url"])
        # The checkout page works until the trade's deadline.
        return PayResponse(action=action, provider_trade_id=created["trade_id"], action_expires_at=None)

    def query(self, config, payment_no):
        path = wire.trade_path(payment_no)
        response = signed(config, plain_request(http.Method.GET, url(config, path)))
        return wire.trade_status(response.status, response.body)

    def close(self, config, payment_no):
        path = wire.trade_path(payment_no) + "/close"
        signed(config, plain_request(http.Method.POST, url(config, path)))

    def refund(self, config, request):
        if setting(config, "refunds") == "off":
            raise_error(ProviderError_Unsupported("refunds are turned off for this merchant"))
        path = wire.trade_path(request.payment_no) + "/refunds"
        call = json_request(http.Method.POST, url(config, path), wire.create_refund(request))
        response = signed(config, call)
        return wire.refund_status(
            request.payment_no, request.amount.currency, response.status, response.body
        )

    def query_refund(self, config, payment_no, refund_no):
        # PROTOCOL.md has no refund query: the sandbox settles a refund in its answer, and a
        # repeated refund_no is answered again, never refunded twice.
        raise_error(
            ProviderError_Unsupported(
                "the sandbox has no refund query; it answers a repeated refund_no again"
            )
        )

    def parse_notification(self, config, headers, body):
        try:
            account = required_setting(config, "account_id")
            try:
                timestamp, nonce_, signature = wire.notification_headers(
                    headers, account, unix_now()
                )
            except wire.Unreadable as reason:
                raise_error(ProviderError_BadSignature(str(reason)))
            message = wire.notification_message(timestamp, nonce_, body)
            try:
                verified = keys.verify(API_KEY, keys.SignatureAlgorithm.HMAC_SHA256, message, signature)
            except Err as e:
                raise_error(key_error(e.value))
            if not verified:
                raise_error(ProviderError_BadSignature(f"{wire.SIGNATURE_HEADER} does not verify"))
            status = wire.paid_notification(body)
        except Err as e:
            raise Err(refuse(e.value)) from None
        return Notification(
            event=NotificationEvent_Payment(status),
            ack=json_reply(200, {"code": "SUCCESS"}),
            retry=json_reply(500, {"code": "FAIL", "message": "try again later"}),
        )


def setting(config, name):
    """The value of setting `name` in the merchant's configuration, if it has one."""
    for key, value in config.settings:
        if key == name:
            return value
    return None


def required_setting(config, name):
    """The value of setting `name`, or a `config` error naming it if the merchant's
    configuration lacks it or has it empty."""
    value = setting(config, name)
    if value is None:
        raise_error(
            ProviderError_Config(
                f"setting `{name}` is missing from merchant {config.merchant_id}'s configuration"
            )
        )
    if not value.strip():
        raise_error(
            ProviderError_Config(
                f"setting `{name}` is empty in merchant {config.merchant_id}'s configuration"
            )
        )
    return value


def url(config, path):
    """The sandbox's URL for `path` (which starts with `/api/`)."""
    return required_setting(config, "sandbox_url").rstrip("/") + path


def plain_request(method, target):
    """A request with no headers and an empty body."""
    return http.Request(method=method, url=target, headers=[], body=b"")


def json_request(method, target, body):
    """A request carrying `body` (JSON bytes), with `content-type` and `accept` set."""
    return http.Request(
        method=method,
        url=target,
        headers=[("content-type", "application/json"), ("accept", "application/json")],
        body=body,
    )


def json_reply(status, value):
    """A reply to a notification: `status` and `value` as JSON."""
    return Reply(status=status, headers=[("content-type", "application/json")], body=wire.to_json(value))


def unix_now():
    """Seconds since the Unix epoch, from the WASI wall clock."""
    return max(0, int(time.time()))


def nonce(length):
    """`length` random characters of `[0-9A-Za-z]`, each equally likely (WASI's random)."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    out = []
    while len(out) < length:
        # Bytes at or above 248 (= 4 * 62) are dropped so that every character is equally
        # likely.
        out.extend(alphabet[b % 62] for b in os.urandom(64) if b < 248)
    return "".join(out[:length])


def signed(config, call):
    """Signs `call` as PROTOCOL.md says, sends it, and raises the matching error for an
    answer that is not a 2xx."""
    account = required_setting(config, "account_id")
    timestamp = unix_now()
    nonce_ = nonce(24)
    message = wire.request_message(
        call.method.name, wire.path_of(call.url), timestamp, nonce_, call.body
    )
    try:
        signature = keys.sign(API_KEY, keys.SignatureAlgorithm.HMAC_SHA256, message)
    except Err as e:
        raise_error(key_error(e.value))
    call.headers.extend(
        [
            (wire.ACCOUNT_HEADER, account),
            (wire.TIMESTAMP_HEADER, str(timestamp)),
            (wire.NONCE_HEADER, nonce_),
            (wire.SIGNATURE_HEADER, signature.hex()),
        ]
    )
    try:
        response = http.send(call)
    except Err as e:
        raise_error(http_error(call.url, e.value))
    if 200 <= response.status < 300:
        return response
    raise_error(wire.error_for(response.status, response.body))


def http_error(target, error):
    """What the host should do after the `http` import failed on a request to `target`:
    nothing was sent for `denied` and `invalid` (configuration); the provider may have
    acted on the others (unreachable, the host queries later)."""
    if isinstance(error, http.Error_Denied):
        return ProviderError_Config(
            f"the host refused to call {target} ({error.value}): only the hosts of the "
            "adapter's base-URL settings are reachable"
        )
    if isinstance(error, http.Error_Invalid):
        return ProviderError_Config(f"the request to {target} is malformed: {error.value}")
    if isinstance(error, http.Error_Timeout):
        return ProviderError_Unreachable(f"no answer from {target} in time")
    if isinstance(error, http.Error_Connection):
        return ProviderError_Unreachable(f"cannot reach {target}: {error.value}")
    return ProviderError_Unreachable(f"the answer from {target} was larger than the host accepts")


def key_error(error):
    """What the host should do after the `keys` import failed: a missing or wrong key is
    the merchant's configuration."""
    if isinstance(error, keys.Error_UnknownKey):
        return ProviderError_Config(f"the merchant's configuration has no secret `{error.value}`")
    if isinstance(error, keys.Error_WrongKind):
        return ProviderError_Config(f"a secret is not of the kind needed: {error.value}")
    if isinstance(error, keys.Error_InvalidInput):
        return ProviderError_Unreachable(f"the key operation refused its input: {error.value}")
    return ProviderError_BadSignature("decryption failed: wrong key, or the data was tampered with")


def refuse(error):
    """A refused notification with the reply PROTOCOL.md asks for: `401 {"code": "FAIL"}`
    for a bad signature, 400 for a body we cannot read, 500 (the sandbox retries) when the
    fault is our configuration, whose details stay in the error, not in the reply."""
    if isinstance(error, ProviderError_BadSignature):
        status, message = 401, error.value
    elif isinstance(error, ProviderError_Rejected):
        status, message = 400, error.value.message
    else:
        status, message = 500, "the receiver cannot check this notification now"
    return Refusal(error=error, reply=json_reply(status, {"code": "FAIL", "message": message}))
