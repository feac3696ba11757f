"""The service: the processes around the engine that hold sockets, never TensorFlow.

* ``bridge``: the stdio bridge helper, for a GIMP whose Python has no pyzmq.
"""
