"""neurocc.simulators."""
