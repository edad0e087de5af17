"""neurocc.backends.loihi2: the Intel Loihi 2 target.

``lava`` holds the bridge to Intel's Lava (run in its own virtualenv, through a
subprocess), used to check neurocc's Loihi 2 arithmetic bit for bit.
"""
