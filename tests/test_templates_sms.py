"""SMS encoding and segment counting edge cases."""

from __future__ import annotations

import pytest

from templates.errors import RenderError
from templates.sms import analyse, finish_sms, opt_out_mention


@pytest.mark.parametrize(("text", "encoding", "units", "segments"), [
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("€" * 80, "GSM-7", 160, 1),            # extension table: two septets each
    ("a" * 159 + "€", "GSM-7", 161, 2),
    ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),  # the escape pair is not split across segments
    ("é à ù è ì ò Ç É Ñ ß", "GSM-7", 19, 1),  # accents of the basic table stay GSM-7
    ("ç" + "a" * 69, "UCS-2", 70, 1),        # lower-case ç is not GSM-7: whole message UCS-2
    ("ê" + "a" * 70, "UCS-2", 71, 2),
    ("a" * 134, "GSM-7", 134, 1),
    ("😀" * 35, "UCS-2", 70, 1),            # surrogate pairs count two UTF-16 units
    ("😀" * 36, "UCS-2", 72, 2),
    ("a" * 66 + "😀" + "a" * 66, "UCS-2", 134, 3),  # a surrogate pair never straddles two segments
])
def test_encoding_and_segments(text: str, encoding: str, units: int, segments: int) -> None:
    info = analyse(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


def test_typographic_characters_are_smart_encoded_and_opt_out_appended() -> None:
    text, info = finish_sms("L’offre « flash » — jusqu’à dimanche…", locale="fr", stop_number="36180")
    assert text == "L'offre \" flash \" - jusqu'à dimanche...\nSTOP au 36180"
    assert info.encoding == "GSM-7"
    assert opt_out_mention("en-GB", None) == "Reply STOP to opt out"


def test_opt_out_is_not_duplicated_and_length_limit_is_enforced() -> None:
    text, _ = finish_sms("Promo ! STOP au 36180", locale="fr", stop_number="36180")
    assert text.count("STOP") == 1
    with pytest.raises(RenderError, match="segments"):
        finish_sms("ê" * 300, locale="fr", stop_number=None, max_segments=4)
    with pytest.raises(RenderError, match="empty"):
        finish_sms("  \n ", locale="fr", stop_number=None)
