"""The compiler passes, one file each: lower (synapse chains to matrices), discretize
(dt onto the graph) and quantize (a target's integers); partition and place & route
live in ``compiler/partition/``. ``compiler/pipeline.py`` runs them in order."""
