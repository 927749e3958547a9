"""PostgreSQL as Django ships it, with the per-request connection check made without a round trip.

With `CONN_HEALTH_CHECKS`, Django runs `SELECT 1` before each request's first query: one
round trip on every request, the API's hot paths included. A connection that the server has
closed or is closing (a restart, `pg_terminate_backend`, an idle time-out, a proxy dropping
it) has something waiting on its socket: the server's FATAL notice, or the end of the
stream. So the check first polls the socket, without waiting: nothing there, the connection
is as usable as `SELECT 1` would find it, and no round trip is made; anything there (or a
connection psycopg already knows is broken), Django's own `SELECT 1` decides, and a dead
connection is replaced before the request uses it, as before.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status == TransactionStatus.UNKNOWN:
            return False
        try:
            poller = select.poll()
            poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
            pending = poller.poll(0)
        except (AttributeError, OSError, ValueError):  # no poll() (Windows), a closed socket
            pending = True
        if not pending:
            return True
        return super().is_usable()
