"""The sandbox provider's wire format (`plugins/mock/PROTOCOL.md`): its JSON bodies, the
messages its signatures cover, its notification headers, and the maps from its states and
error answers to the contract's. Everything here is pure: `test_wire.py` runs it on plain
CPython against the generated bindings.

The Python twin of `plugins/mock/src/wire.rs`; the two must answer alike.
"""

import json
import re

from wit_world.imports.types import (
    Money,
    ProviderError_AlreadyClosed,
    ProviderError_AlreadyPaid,
    ProviderError_Config,
    ProviderError_NotFound,
    ProviderError_Rejected,
    ProviderError_Unreachable,
    ProviderError_Unsupported,
    RefundState,
    RefundStatus,
    Rejection,
    TradeState,
    TradeStatus,
)

# How far a notification's timestamp may be from our clock, either way (PROTOCOL.md).
NOTIFICATION_WINDOW_SECS = 300

# The notification event the sandbox sends (the only one).
PAID_EVENT = "trade.paid"

ACCOUNT_HEADER = "x-sandbox-account"
TIMESTAMP_HEADER = "x-sandbox-timestamp"
NONCE_HEADER = "x-sandbox-nonce"
SIGNATURE_HEADER = "x-sandbox-signature"

_PAYMENT_NO = re.compile(r"[0-9A-Za-z]{1,32}")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")

_TRADE_STATES = {
    "open": TradeState.OPEN,
    "paid": TradeState.PAID,
    "closed": TradeState.CLOSED,
    "refunded": TradeState.REFUNDED,
}

# The sandbox settles refunds at once (`succeeded`); the others are mapped in case it ever
# reports them.
_REFUND_STATES = {
    "succeeded": RefundState.SUCCEEDED,
    "processing": RefundState.PROCESSING,
    "failed": RefundState.FAILED,
}


class Unreadable(Exception):
    """A JSON document that is not what the protocol documents; the message says why."""


def to_json(value):
    """`value` as compact UTF-8 JSON, the bytes that are signed and sent."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def create_trade(request):
    """The body of `POST /api/trades` for a `pay-request`."""
    body = {
        "payment_no": request.payment_no,
        "amount": request.amount.minor,
        "currency": request.amount.currency,
        "subject": request.subject,
        "channel": request.channel,
        "expires_at": request.expires_at,
        "notify_url": request.notify_url,
    }
    # Where the checkout page sends the payer after paying (`payer.return-url`).
    if request.payer.return_url is not None:
        body["return_url"] = request.payer.return_url
    return to_json(body)


def create_refund(request):
    """The body of `POST /api/trades/{payment_no}/refunds` for a `refund-request`."""
    return to_json(
        {
            "refund_no": request.refund_no,
            "amount": request.amount.minor,
            "currency": request.amount.currency,
            "reason": request.reason,
        }
    )


def read_json(body, fields):
    """`body` parsed as a JSON object with `fields` (name -> `str`, `int`, or `(int,
    None)` for an integer or null); raises `Unreadable` saying what is wrong."""
    try:
        document = json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Unreadable(f"not JSON: {e}") from None
    if not isinstance(document, dict):
        raise Unreadable("not a JSON object")
    for name, kinds in fields.items():
        if name not in document:
            raise Unreadable(f"missing field `{name}`")
        value = document[name]
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        if not any(_is(value, kind) for kind in kinds):
            raise Unreadable(f"field `{name}` has the wrong type")
    return document


def _is(value, kind):
    if kind is None:
        return value is None
    if kind is int:
        # JSON true/false are Python ints too; the protocol's numbers are not.
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def answer(status, body, fields):
    """A 2xx answer's body as `read_json` reads it. An answer that does not parse as the
    protocol documents leaves the outcome unknown: `unreachable`."""
    try:
        return read_json(body, fields)
    except Unreadable as e:
        raise_error(ProviderError_Unreachable(f"unreadable answer from the provider (HTTP {status}): {e}"))


def raise_error(error):
    """Raises `error` the way the generated bindings return a contract `err`."""
    from componentize_py_types import Err

    raise Err(error)


def request_message(method, path, timestamp, nonce, body):
    """What a signed request signs: `METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY`."""
    return f"{method}\n{path}\n{timestamp}\n{nonce}\n".encode("utf-8") + bytes(body)


def notification_message(timestamp, nonce, body):
    """What a notification signs: `TIMESTAMP\\nNONCE\\nBODY`, the timestamp as the header
    gave it."""
    return f"{timestamp}\n{nonce}\n".encode("utf-8") + bytes(body)


def path_of(url):
    """The path part of `url`, what the sandbox signs: no scheme, host or query string."""
    rest = url.split("://", 1)[1] if "://" in url else url
    slash = rest.find("/")
    path = rest[slash:] if slash >= 0 else "/"
    return re.split(r"[?#]", path, maxsplit=1)[0]


def trade_path(payment_no):
    """`/api/trades/{payment_no}`. The number goes into a URL path, so it must be what the
    contract promises (1-32 characters of `[0-9A-Za-z]`); anything else is refused before
    a request is made."""
    if _PAYMENT_NO.fullmatch(payment_no) is None or not payment_no.isascii():
        raise_error(
            ProviderError_Unsupported(
                f"payment number `{payment_no}` is not 1-32 characters of [0-9A-Za-z]"
            )
        )
    return f"/api/trades/{payment_no}"


def trade_state(state):
    """The sandbox's trade state as the contract's, or None for a state it never names."""
    return _TRADE_STATES.get(state)


def refund_state(state):
    """The sandbox's refund state as the contract's, or None."""
    return _REFUND_STATES.get(state)


def trade_status(status, body):
    """The answer to `GET /api/trades/{payment_no}` as a `trade-status`. An unknown state
    leaves the outcome unknown."""
    trade = answer(
        status,
        body,
        {
            "payment_no": str,
            "trade_id": str,
            "state": str,
            "currency": str,
            "paid_amount": (int, None),
            "paid_at": (int, None),
        },
    )
    state = trade_state(trade["state"])
    if state is None:
        raise_error(ProviderError_Unreachable(f"the sandbox reported trade state `{trade['state']}`"))
    paid = trade["paid_amount"]
    return TradeStatus(
        payment_no=trade["payment_no"],
        state=state,
        provider_trade_id=trade["trade_id"],
        paid_amount=None if paid is None else Money(minor=paid, currency=trade["currency"]),
        paid_at=trade["paid_at"],
    )


def refund_status(payment_no, currency, status, body):
    """The answer to a refund as a `refund-status`, in the refund's currency."""
    refund = answer(
        status,
        body,
        {"refund_no": str, "refund_id": str, "state": str, "amount": int},
    )
    state = refund_state(refund["state"])
    if state is None:
        raise_error(ProviderError_Unreachable(f"the sandbox reported refund state `{refund['state']}`"))
    return RefundStatus(
        payment_no=payment_no,
        refund_no=refund["refund_no"],
        state=state,
        provider_refund_id=refund["refund_id"],
        amount=Money(minor=refund["amount"], currency=currency),
    )


def paid_notification(body):
    """A verified notification's body as the `trade-status` it reports. A body that
    verified but is not a `trade.paid` event in a known state is refused as `rejected`."""

    def unreadable(message):
        raise_error(ProviderError_Rejected(Rejection(code="UNREADABLE_NOTIFICATION", message=message)))

    try:
        n = read_json(
            body,
            {
                "event": str,
                "payment_no": str,
                "trade_id": str,
                "state": str,
                "currency": str,
                "paid_amount": int,
                "paid_at": int,
            },
        )
    except Unreadable as e:
        unreadable(f"not a sandbox notification: {e}")
    if n["event"] != PAID_EVENT:
        unreadable(f"unknown event `{n['event']}`")
    state = trade_state(n["state"])
    if state is None:
        unreadable(f"unknown trade state `{n['state']}`")
    return TradeStatus(
        payment_no=n["payment_no"],
        state=state,
        provider_trade_id=n["trade_id"],
        paid_amount=Money(minor=n["paid_amount"], currency=n["currency"]),
        paid_at=n["paid_at"],
    )


def header(headers, name):
    """The value of the first header called `name`, compared without regard to case."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def notification_headers(headers, account, now):
    """A notification's `(timestamp, nonce, signature bytes)`, checked for everything that
    needs no key: present, from `account`, fresh at `now`, and a hex signature. Raises
    `Unreadable` with the reason to refuse it as a bad signature."""
    values = {}
    for name in (ACCOUNT_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER):
        values[name] = header(headers, name)
        if values[name] is None:
            raise Unreadable(f"{name} is missing")
    if values[ACCOUNT_HEADER] != account:
        raise Unreadable(f"{ACCOUNT_HEADER} is not this merchant's account")
    timestamp = values[TIMESTAMP_HEADER]
    if _INTEGER.fullmatch(timestamp) is None or not timestamp.isascii():
        raise Unreadable(f"{TIMESTAMP_HEADER} is not Unix seconds")
    if abs(now - int(timestamp)) > NOTIFICATION_WINDOW_SECS:
        raise Unreadable(
            f"{TIMESTAMP_HEADER} is more than {NOTIFICATION_WINDOW_SECS} s away from our clock"
        )
    signature = values[SIGNATURE_HEADER]
    if _HEX.fullmatch(signature) is None or not signature.isascii():
        raise Unreadable(f"{SIGNATURE_HEADER} is not hex")
    return timestamp, values[NONCE_HEADER], bytes.fromhex(signature)


def error_for(status, body):
    """The contract error for an answer that is not a 2xx."""
    code, message = "", ""
    try:
        parsed = read_json(body, {"code": str})
        code = parsed["code"]
        message = parsed.get("message", "")
        message = message if isinstance(message, str) else ""
    except Unreadable:
        pass
    if status == 409 and code == "TRADE_PAID":
        return ProviderError_AlreadyPaid()
    if status == 409 and code == "TRADE_CLOSED":
        return ProviderError_AlreadyClosed()
    if status == 404 and code == "TRADE_NOT_FOUND":
        return ProviderError_NotFound()
    if status == 404:
        # A 404 without the sandbox's code is no trade's answer: the URL leads elsewhere.
        return ProviderError_Config(
            "the sandbox has no such endpoint (HTTP 404 without TRADE_NOT_FOUND): check "
            "sandbox_url, e.g. http://127.0.0.1:8080/sandbox"
        )
    if status == 401:
        # The sandbox's own words say which: an unknown account, or a key that is not its.
        words = f"{code}: {message}" if code else "HTTP 401"
        return ProviderError_Config(
            f"the sandbox refused the signature ({words}): check account_id and api_key"
        )
    if 500 <= status <= 599:
        if code:
            return ProviderError_Unreachable(f"the sandbox answered HTTP {status} {code}: {message}")
        return ProviderError_Unreachable(f"the sandbox answered HTTP {status}")
    if 400 <= status <= 499:
        if code:
            return ProviderError_Rejected(Rejection(code=code, message=message))
        return ProviderError_Unreachable(f"the sandbox answered HTTP {status} without an error code")
    return ProviderError_Unreachable(f"the sandbox answered HTTP {status}")
