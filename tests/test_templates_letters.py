"""Address blocks to NF Z10-011 and the letter PDF."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from templates.letters import AddressError, format_address, html_to_pdf, letter_html


def test_french_address_in_norm_order_upper_case_without_punctuation() -> None:
    lines = format_address({"first_name": "Zoé", "last_name": "Dupré-Lefèvre",
                            "address_line1": "12, avenue de l'Église",
                            "address_line2": "Appartement 12, 3e étage", "address_line3": "BP 52",
                            "postcode": "69 003", "city": "Lyon-Saint-Étienne", "country": "FR"})
    assert lines == ["Zoé DUPRÉ-LEFÈVRE", "APPARTEMENT 12 3E ETAGE", "12 AVENUE DE L EGLISE", "BP 52",
                     "69003 LYON SAINT ETIENNE"]
    assert all(len(line) <= 38 for line in lines)


def test_long_lines_are_abbreviated_or_refused() -> None:
    lines = format_address({"last_name": "Martin", "address_line1": "128 boulevard du Général Maréchal Leclerc",
                            "postcode": "75015", "city": "Paris"})
    assert lines[1] == "128 BD DU GENERAL MARECHAL LECLERC" and len(lines[1]) <= 38
    with pytest.raises(AddressError, match=r"street line is \d+ characters"):
        format_address({"last_name": "Martin", "address_line1": "1 chemin des Très Longues Herbes Folles du Bas Pays",
                        "postcode": "75015", "city": "Paris"})


def test_abroad_adds_the_country_last_and_allows_seven_lines() -> None:
    lines = format_address({"first_name": "Oliver", "last_name": "Smith", "address_line1": "221B Baker Street",
                            "address_line2": "Flat 2", "postcode": "NW1 6XE", "city": "London", "country": "GB"})
    assert lines == ["Oliver SMITH", "FLAT 2", "221B BAKER STREET", "NW1 6XE LONDON", "ROYAUME UNI"]


@pytest.mark.parametrize(("values", "message"), [
    ({"address_line1": "1 rue A", "postcode": "75001", "city": "Paris"}, "no recipient"),
    ({"last_name": "X", "postcode": "75001", "city": "Paris"}, "no street"),
    ({"last_name": "X", "address_line1": "1 rue A", "postcode": "7500", "city": "Paris"}, "5 digits"),
    ({"last_name": "X", "address_line1": "1 rue A", "postcode": "75001"}, "no city"),
])
def test_unformattable_addresses_are_clear_errors(values: dict[str, str], message: str) -> None:
    with pytest.raises(AddressError, match=message):
        format_address(values)


def test_letter_pdf_has_the_address_in_the_window(tmp_path: Path) -> None:
    html = letter_html("<h1>Merci</h1><p>Bonjour</p>", address_lines=["Zoé DUPRÉ", "12 RUE DES LILAS", "69003 LYON"],
                       brand="Atelier", postal_address="Atelier SAS, 3 rue Neuve, 69001 Lyon", date="1 mars 2026",
                       lang="fr")
    assert "left: 112mm; top: 50mm" in html
    pdf = html_to_pdf(html)
    assert pdf.pages == 1 and pdf.content.startswith(b"%PDF-")
    if shutil.which("pdftotext"):
        path = tmp_path / "letter.pdf"
        path.write_bytes(pdf.content)
        text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "69003 LYON" in text and "Merci" in text
