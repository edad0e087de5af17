"""neurocc.compiler."""
