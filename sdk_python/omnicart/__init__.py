"""Omnicart Python SDK: one customer, one cart, one journey across POS, kiosk and call-center apps."""

from omnicart import protocol

__all__ = ["protocol"]
