"""The trio backend: a thin layer over ``trio.CancelScope`` and nurseries."""
