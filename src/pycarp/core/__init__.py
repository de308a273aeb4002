"""The sans-I/O CARP core: standard library only, no clock, no sockets, no randomness of its own.

Everything the network says comes in as bytes plus metadata; everything the protocol wants done
goes out as action objects. Time is always an argument (``now``, monotonic seconds).
"""
