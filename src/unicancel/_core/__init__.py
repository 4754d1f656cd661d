"""Layer 1, the shared state: what the facade and every backend agree on.

Scope life cycle and origins, the backend contract (Protocols), deadline
validation and error texts. Imports nothing else from unicancel, so both the
facade above it and the backends beside it can use it without a circle.
"""
