"""Identity values in one canonical form, so the same person is found whichever way they typed it."""

from __future__ import annotations

import re

import phonenumbers

from omnicart_server.errors import InvalidIdentity

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HANDLE = re.compile(r"^[a-z0-9._]{1,30}$")


def normalize_identity(kind: str, value: str) -> str:
    """The canonical value: lowercase email, E.164 phone (also for WhatsApp), Instagram handle without '@'."""
    value = value.strip()
    if not value:
        raise InvalidIdentity(f"An identity of kind {kind} needs a value.")
    if kind == "email":
        # Mailbox names are case-insensitive at every provider that matters; RFC 5321 leaves it to them.
        email = value.lower()
        if not _EMAIL.match(email):
            raise InvalidIdentity(f"{value!r} is not an email address.")
        return email
    if kind in ("phone", "whatsapp"):
        return _e164(value)
    if kind == "instagram":
        handle = value.removeprefix("@").lower()
        if not _HANDLE.match(handle):
            raise InvalidIdentity(f"{value!r} is not an Instagram handle.")
        return handle
    return value


def _e164(value: str) -> str:
    international = "+" + value[2:] if value.startswith("00") else value
    try:
        number = phonenumbers.parse(international, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"{value!r} is not a phone number with its country code, like +34 612 345 678.") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentity(f"{value!r} is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
