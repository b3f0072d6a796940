"""The Communis load tool (``python manage.py loadtest``): real daphne, real websocket clients.

Pieces, in the order a run uses them:

* ``population`` creates (or reuses) the ``lt-<n>`` people, their tokens and the
  ``lt-room-<scenario>-0`` rooms through the rooms actions, so the room logs stay right;
* ``servers`` starts daphne processes (Communis, or the bare Channels floor in ``bare_asgi``),
  reads their RSS and CPU time from ``/proc`` and scans their logs for errors;
* ``client`` is one websocket client that checks exactly-once, in-order delivery and measures
  latency from the send timestamp carried in each message body;
* ``fleet`` runs many clients in this process or in worker processes;
* ``scenarios`` drives ``room``, ``broadcast`` and ``connect``;
* ``report`` turns the numbers into a table and JSON.

Benchmarks are not tests: the tool reports figures, it never asserts timings.
"""
