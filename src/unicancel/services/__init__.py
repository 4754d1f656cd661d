"""Deadlines and cancellation across services (optional integrations).

Each integration is its own module, imported by name so that the core keeps
no dependency:

* :mod:`unicancel.services.budget`: the ``grpc-timeout`` format and Envoy's
  header (no dependency);
* :mod:`unicancel.services.asgi`: ``DeadlineMiddleware`` for any ASGI app
  (no dependency);
* :mod:`unicancel.services.httpx`: ``DeadlineTransport`` for ``httpx``
  (``pip install 'unicancel[httpx]'``);
* :mod:`unicancel.services.grpc`: a client interceptor and a server scope for
  ``grpc.aio`` (``pip install 'unicancel[grpc]'``).
"""
