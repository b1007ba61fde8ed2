"""Run localstripe (a stateful fake Stripe server) on 127.0.0.1 only, keeping state in memory.

localstripe binds every interface and pickles its state to a fixed file in the temp directory;
this wrapper binds loopback on the given port and keeps each server's state to itself.

    python -m tests.fakes.localstripe_server PORT
"""

from __future__ import annotations

import logging
import sys


def main() -> None:
    port = int(sys.argv[1])
    from aiohttp import web
    from localstripe import resources, server

    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
