"""The sandbox's WebSocket stream (``/ws``, NOTES §10), as Parsec's SDK stream client expects it.

- ``sandbox.journal`` (beside the engine, which it serves): writes report what they changed; when
  the engine lock's outermost hold ends (after the commit) the new level sizes are handed over.
- ``hub``: on the server's event loop: tracked books, subscriptions, deltas per depth, activity.
- ``connection``: one client: auth, subscribe / unsubscribe / resync, limits, its bounded queue.
- ``messages``: the message shapes and error codes; ``sandbox.usage``: counters for ``/api/v1/ws/usage``.

The engine never waits on a socket: it hands each change to the loop and goes on; each
connection's queue is bounded, and a client that falls behind loses its books (``slow_reader``,
``resync_required``), not the others' or the engine's time.
"""
