"""Segments: the typed segment language, its SQL compiler, refresh, explain, RFM and clustering."""
