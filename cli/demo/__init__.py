"""`relance demo`: the end-to-end demo, one module per step, at the entry-point layer."""
