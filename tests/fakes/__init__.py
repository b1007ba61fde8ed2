"""Fake external services for connector contract tests."""

from .bison_server import BisonFake, RequestRecord
from .serving import AppSlot, serve

__all__ = ["AppSlot", "BisonFake", "RequestRecord", "serve"]
