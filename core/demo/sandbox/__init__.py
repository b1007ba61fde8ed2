"""The demo sandbox: a simulated Email Bison instance that `leadops serve` runs on the loopback
when the database holds the demo and no Email Bison address is configured
(:mod:`core.demo.sandbox.runtime`). Its data is the demo's own (campaigns, sequences, daily
and per-step stats, leads, replies, sending accounts, tags and schedules, with their ids), so a
sync against it leaves the demo as it is, and pausing, resuming, marking interested, uploading
batches and sending replies work as they would against a real instance.

The same simulation, with generated data and fault injection, is what the connector, sync and
benchmark tests run against (:class:`BisonFake`)."""

from core.demo.sandbox.server import BisonFake, RequestRecord
from core.demo.sandbox.serving import AppSlot, Served, serve

__all__ = ["AppSlot", "BisonFake", "RequestRecord", "Served", "serve"]
