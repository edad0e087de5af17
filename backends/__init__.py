"""neurocc.backends."""
