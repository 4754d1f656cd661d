"""Tools for the command line (``python -m unicancel demo|compare``): the demo
and the comparison catalogue. The runtime never imports them."""
