"""The asyncio backend: ``Task.cancel()``/``uncancel()`` driven by unicancel's
scope tree (delivery, reach, deadlines, task groups, the retry rule). The only
module that touches private asyncio state is :mod:`._private`."""
