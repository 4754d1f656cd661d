"""Layer 4, stop tokens and graceful shutdown, built on the facade's public
surface (never on a backend's internals): sources and tokens (:mod:`._token`),
their shared state and callbacks, binding scopes to tokens, one event-loop
interface per backend (:mod:`._loop`), and :mod:`._shutdown`."""
