"""Secrets masked wherever text leaves the connector: messages, meta, reprs and logs.

What is secret: the values of parameters an action declares secret (some only in some
requests: `attribute-value` only when the attribute is user data), the password part of
an endpoint URL, whatever rides in `Authorization` and `X-Amz-Security-Token`, and every
member botocore's EC2 model marks sensitive, plus the few it does not mark (sensitive.py),
wherever botocore or urllib3 print them: `UserData=` in a request, `<passwordData>` or
`<preSharedKey>` in a response, `'PasswordData': '...'` in parsed output.

Masking replaces whole values only, never a piece of a word, and never a value shorter
than 4 characters (masking "stop" inside "stopped" hides nothing and garbles the text).
The patterns over the model's names are built on first use (sensitive.py loads them):
a process that logs nothing never pays for them.
"""

from __future__ import annotations

import base64
import functools
import logging
import re
import threading
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from .spec.params import text_of

MASK = "***"
MIN_LENGTH = 4
# Loggers whose records are masked: ours and the two that print EC2 traffic at DEBUG.
MASKED_LOGGERS = ("ec2_connector", "botocore", "urllib3")

# Named in every request: not in the model, since botocore adds them itself.
_WIRE_NAMES = ("x-amz-security-token", "authorization")
# The patterns below are compiled when a text is first masked (`_compiled`): a log
# record or a failure's text, which a call that succeeds quietly never has (~0.6 ms of
# a one-shot command's start-up).
_compiled = functools.cache(re.compile)
_HEADER_LINE = r"(?im)^(\s*authorization\s*:\s*)(\S.*)$"
_PEM = r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----"


# `Name: value`, `'Name': b'value'`, `Name=value` (a query string; `Name.1.Sub=` too).
_KEYED = (r"""(?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9_.-]*+)(['"]?\s*[:=]\s*)"""
          r"""(?:(b?)(['"])((?:(?!\4).)*)\4|([^\s&'"<>,}]+))""")
# `<name attr="...">`: the element's whole content is masked, nested elements and all.
_OPEN_TAG = r"<([A-Za-z][A-Za-z0-9_.:-]*+)(?:\s[^<>]*)?>"


def _loose(name: str) -> str:
    # `PreSharedKey`, `pre-shared-key` and `pre_shared_key` are one name to a masker.
    return name.lower().replace("-", "").replace("_", "")


@functools.cache
def _everywhere() -> frozenset[str]:
    from . import sensitive

    return frozenset(_loose(n) for n in (*_WIRE_NAMES, *sensitive.masked().everywhere))


@functools.cache
def _fallback() -> frozenset[str]:
    from .sensitive import ALSO_MASKED

    return frozenset(_loose(n) for n in (*_WIRE_NAMES, *ALSO_MASKED))


@functools.cache
def _by_operation() -> dict[str, frozenset[str]]:
    from . import sensitive

    return {op: frozenset(_loose(n) for n in names)
            for op, names in sensitive.masked().by_operation.items()}


_loading = threading.local()


@functools.cache
def _operation_names() -> re.Pattern[str]:
    # One scan for all of them: a record names one operation at most, usually none.
    return re.compile("|".join(sorted(map(re.escape, _by_operation()), key=len, reverse=True)))


def _names_in(text: str) -> frozenset[str]:
    """The names masked in `text`: those masked everywhere, and the shared ones of each
    operation the text names."""
    if getattr(_loading, "active", False):  # botocore logs the loading of the model itself
        return _fallback()
    _loading.active = True
    try:
        names = _everywhere()
    finally:
        _loading.active = False
    operations = _by_operation()
    for operation in set(_operation_names().findall(text)):
        names = names | operations[operation]
    return names


def _keyed(text: str, names: frozenset[str]) -> str:
    out: list[str] = []
    done = 0
    keyed = _compiled(_KEYED)
    found = keyed.search(text)
    while found is not None:
        if any(_loose(part) in names for part in found[1].split(".")):
            quote = found[4]
            masked = (f"{found[3]}{quote}{MASK}{quote}" if quote else MASK)
            out += [text[done:found.end(2)], masked]
            done = found.end()
        # A harmless key's value is looked at too: `params: UserData=...` holds a key.
        found = keyed.search(text, found.end() if done == found.end() else found.end(2))
    return "".join(out) + text[done:] if out else text


def _elements(text: str, names: frozenset[str]) -> str:
    out: list[str] = []
    done = 0
    for m in _compiled(_OPEN_TAG).finditer(text):
        if m.start() < done or _loose(m[1]) not in names:
            continue
        close = text.find(f"</{m[1]}", m.end())
        close = len(text) if close < 0 else close  # cut short: mask to the end
        out += [text[done:m.end()], MASK if text[m.end():close].strip() else ""]
        done = close
    return "".join(out) + text[done:] if out else text


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every whole occurrence of each secret value masked."""
    if not secrets:  # the common case: a call that carried no secret
        return text
    for secret in sorted({s for s in secrets if len(s) >= MIN_LENGTH}, key=len, reverse=True):
        if secret in text:
            edge_l = r"(?<![A-Za-z0-9])" if secret[0].isalnum() else ""
            edge_r = r"(?![A-Za-z0-9])" if secret[-1].isalnum() else ""
            text = re.sub(edge_l + re.escape(secret) + edge_r, MASK, text)
    return text


def mask_wire(text: str) -> str:
    """Mask the values of the headers and fields that carry credentials or secrets: the
    names botocore's model marks sensitive (and those it shares with harmless members, in
    text about an operation that reaches the secret one)."""
    names = _names_in(text)
    text = _elements(_keyed(text, names), names)
    text = _compiled(_HEADER_LINE).sub(lambda m: f"{m[1]}{MASK}", text)
    return _compiled(_PEM).sub(MASK, text)


def secret_forms(value: Any) -> list[str]:
    """The text forms a secret value may take on its way out: as given, each string
    inside a list or object, and base64 once and twice (user data on the wire)."""
    if isinstance(value, str | int | float | bytes):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else text_of(value)
        raw = text.encode("utf-8", "surrogatepass")
        once = base64.b64encode(raw)
        return [text, once.decode(), base64.b64encode(once).decode()]
    if isinstance(value, Mapping):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set):
        return [form for item in value for form in secret_forms(item)]
    return []


def userinfo(url: Any) -> list[str]:
    """The `user:password` part of a URL, and the password alone: both secret."""
    if not isinstance(url, str) or "@" not in url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [parts.netloc.rpartition("@")[0]] if "@" in parts.netloc else []
    if parts.password:
        found.append(parts.password)
    return [f for f in found if f]


def without_userinfo(url: Any) -> Any:
    """The URL with any `user:password@` taken out (anything not a URL, as it is)."""
    if not isinstance(url, str) or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


# ------------------------------------------------------------------ the logging filter

_inflight: Counter[str] = Counter()
_inflight_lock = threading.Lock()


@contextmanager
def in_flight(secrets: Iterable[str]) -> Iterator[None]:
    """Mask `secrets` in every log record while the block runs."""
    values = [s for s in set(secrets) if len(s) >= MIN_LENGTH]
    add(values)
    try:
        yield
    finally:
        remove(values)


def add(values: Iterable[str]) -> None:
    if not values:  # most calls carry no secret: no lock to take
        return
    with _inflight_lock:
        _inflight.update(values)


def remove(values: Iterable[str]) -> None:
    if not values:
        return
    with _inflight_lock:
        _inflight.subtract(values)
        for value in [v for v, n in _inflight.items() if n <= 0]:
            del _inflight[value]


def current() -> list[str]:
    with _inflight_lock:
        return list(_inflight)


class SecretsFilter(logging.Filter):
    """Masks a record's message (and traceback) before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(MASKED_LOGGERS):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted: leave it to logging
            return True
        record.msg, record.args = mask_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text("".join(traceback.format_exception(*record.exc_info)))
            record.exc_text = record.exc_text.rstrip("\n")
        return True


def mask_text(text: str) -> str:
    return redact(mask_wire(text), current())


_FILTER = SecretsFilter()
_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Mask every record of the masked loggers and their children, at every level.

    A filter on a logger sees only records made by that very logger, not its children
    (`botocore.endpoint`, `urllib3.connectionpool`), so the filter runs where every
    record is made: in the record factory, chained to whatever factory was there.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _FILTER.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        for name in MASKED_LOGGERS:
            logging.getLogger(name).addFilter(_FILTER)
        _installed = True
