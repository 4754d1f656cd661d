"""Layer 3, the public facade: :class:`CancelScope`, :class:`TaskGroup`, the
module functions, ``run``, ``to_thread`` and :class:`Event`. Re-exported by
:mod:`unicancel`; talks to the running backend through the registry."""
