"""The sandbox's WebSocket stream (``/ws``, NOTES §10), as Parsec's SDK stream client expects it.

- ``journal``: the engine's side. Writes report what they touched; when the engine lock's
  outermost hold ends (after the commit) the touched levels are read back and handed over.
- ``hub``: on the server's event loop: tracked books, subscriptions, deltas per depth, activity.
- ``connection``: one client: auth, subscribe / unsubscribe / resync, limits, its bounded queue.
- ``messages``: the message shapes and error codes; ``meter``: usage for ``/api/v1/ws/usage``.

The engine never waits on a socket: it hands each change to the loop and goes on; each
connection's queue is bounded, and a client that falls behind loses its books (``slow_reader``,
``resync_required``), not the others' or the engine's time.
"""
