"""Altering tokens the way an attacker would, without knowing their format."""

from __future__ import annotations


def tamper(token: str) -> str:
    """The token with one character in its first third replaced.

    The first third is the signed payload; the last character of a base64 segment is avoided because its low bits
    may be padding that decoders ignore, which would leave the signature valid.
    """
    index = len(token) // 3
    while token[index] == "." or token[index + 1] == ".":
        index += 1
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]
