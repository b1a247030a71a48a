"""Events and webhooks: what happened in a workspace, kept in an outbox and delivered to HTTP endpoints.

One module per concern:

=================  ==========================================================================
``types``          event types and their payloads (Standard Webhooks shape: type, timestamp, data)
``outbox``         writing events (and one pending delivery per subscribed endpoint) in the
                   caller's transaction; claiming and settling deliveries
``endpoints``      registered endpoints: URL validation, rows of the ``webhooks`` table
``secrets``        endpoint secrets, kept outside the catalog in owner-only files
``signing``        Standard Webhooks 1.0 signatures: sign, verify, new secrets
``safety``         where a delivery may go: the destination checked after DNS resolution
``delivery``       one HTTP attempt, retries with backoff, and the :class:`Dispatcher` threads
=================  ==========================================================================

Dependencies point one way: these modules use :mod:`soundforge.catalog` and
:mod:`soundforge.errors` only; the stages and the runner write events through
:func:`soundforge.events.outbox.emit`; :mod:`soundforge.webhooks` is the user-facing
manager (``ws.webhooks``). See ``docs/webhooks.md``.
"""
