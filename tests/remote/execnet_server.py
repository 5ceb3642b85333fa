"""execnet's socket server (``execnet/script/socketserver.py``), one forked process per
connection: xdist can then start several ``--tx socket=`` workers on one address and replace
one that died. ``python execnet_server.py HOST:PORT`` (port 0: any) prints the port it bound.

Each connection is served by execnet's own ``exec_from_one_connection``, handed the accepted
socket, so a worker runs exactly as under execnet's server.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from execnet.gateway_base import get_execmodel
from execnet.script import socketserver


class _Accepted:
    """A listening socket that already accepted: what ``exec_from_one_connection`` takes."""

    def __init__(self, client: Any, address: Any) -> None:
        self._pair = (client, address)

    def accept(self) -> Any:
        return self._pair

    def getsockname(self) -> Any:
        return self._pair[0].getsockname()


def main() -> None:
    execmodel = get_execmodel("thread")
    socketserver.execmodel = execmodel  # the module reads it as a global (set by its __main__)
    listener = socketserver.bind_and_listen(sys.argv[1], execmodel)
    print(listener.getsockname()[1], flush=True)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reap themselves
    while True:
        client, address = listener.accept()
        if os.fork() == 0:
            listener.close()
            try:
                socketserver.exec_from_one_connection(_Accepted(client, address))
            finally:
                os._exit(0)
        client.close()


if __name__ == "__main__":
    main()
