"""Omnicart sync server: carts, device sessions and an ordered event log per customer."""
