"""Token signing: kinds do not mix, rotation keeps old tokens until their key is retired."""

from __future__ import annotations

import pytest

from omnicart_server.auth.tokens import TokenKind, TokenSigner
from omnicart_server.errors import TokenInvalid

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
