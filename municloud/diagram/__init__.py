"""`municloud diagram ENV`: the estate drawn from its topology and declarations."""
