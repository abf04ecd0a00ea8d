"""Segments: the typed segment language, its SQL compiler, refresh, explain, RFM and clustering."""

from segments.compiler import compile_condition, compile_definition
from segments.language import SegmentDefinition, SegmentDefinitionError, load_definition, parse_definition, parse_node

__all__ = [
    "SegmentDefinition", "SegmentDefinitionError", "compile_condition", "compile_definition", "load_definition",
    "parse_definition", "parse_node",
]
