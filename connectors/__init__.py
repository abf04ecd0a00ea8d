"""One backend per channel and provider behind one small interface, plus provider webhook parsers."""
