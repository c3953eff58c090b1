"""Token signing: kinds do not mix, rotation keeps old tokens until their key is retired, expiry holds."""

from __future__ import annotations

import time

import pytest

from omnicart_server.auth.tokens import TokenKind, TokenSigner
from omnicart_server.errors import TokenExpired, TokenInvalid

TTL = {TokenKind.SESSION: 60, TokenKind.CUSTOMER: 60}


def test_token_round_trip() -> None:
    """A token verifies to the subject it was issued for."""
    signer = TokenSigner(("k1",), TTL)
    token, _ = signer.issue(TokenKind.SESSION, "ses_1")
    assert signer.verify(TokenKind.SESSION, token) == "ses_1"


def test_customer_token_is_not_a_session_token() -> None:
    """Each kind has its own salt, so a customer token cannot authorize a device."""
    signer = TokenSigner(("k1",), TTL)
    token, _ = signer.issue(TokenKind.CUSTOMER, "cus_1")
    with pytest.raises(TokenInvalid):
        signer.verify(TokenKind.SESSION, token)


def test_rotation_accepts_older_key_until_retired() -> None:
    """New keys sign; older keys still verify; a retired key's tokens are refused."""
    old_token, _ = TokenSigner(("k1",), TTL).issue(TokenKind.SESSION, "ses_1")
    rotated = TokenSigner(("k2", "k1"), TTL)
    assert rotated.verify(TokenKind.SESSION, old_token) == "ses_1"
    new_token, _ = rotated.issue(TokenKind.SESSION, "ses_2")
    assert TokenSigner(("k2",), TTL).verify(TokenKind.SESSION, new_token) == "ses_2"
    with pytest.raises(TokenInvalid):
        TokenSigner(("k2",), TTL).verify(TokenKind.SESSION, old_token)


def test_a_token_verified_before_still_expires() -> None:
    """Remembering a valid token does not stretch its life: once its TTL has passed it is refused as expired."""
    signer = TokenSigner(("k1",), {TokenKind.SESSION: 1, TokenKind.CUSTOMER: 1})
    token, _ = signer.issue(TokenKind.SESSION, "ses_1")
    assert signer.verify(TokenKind.SESSION, token) == "ses_1"
    assert signer.verify(TokenKind.SESSION, token) == "ses_1"
    time.sleep(2.1)  # itsdangerous counts whole seconds: past 1 s of age for certain
    with pytest.raises(TokenExpired):
        signer.verify(TokenKind.SESSION, token)


def test_a_remembered_token_does_not_vouch_for_another_kind_or_an_altered_copy() -> None:
    """The memory is per kind and per exact token."""
    signer = TokenSigner(("k1",), TTL)
    token, _ = signer.issue(TokenKind.SESSION, "ses_1")
    signer.verify(TokenKind.SESSION, token)
    with pytest.raises(TokenInvalid):
        signer.verify(TokenKind.CUSTOMER, token)
    with pytest.raises(TokenInvalid):
        signer.verify(TokenKind.SESSION, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
