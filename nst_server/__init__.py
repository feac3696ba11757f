"""GIMP Style Transfer server: engine, jobs, transport and command line.

This package's ``__init__``, ``paths``, ``protocol`` and ``client`` modules use
the standard library only (plus pyzmq in ``client``): install.py copies them
next to the GIMP plug-in, whose Python has no numpy or TensorFlow.
"""

__version__ = "0.1.0"
