"""The error hints link to sections of the troubleshooting page that exist."""

from __future__ import annotations

import re
from pathlib import Path

from neuromorpho_api._explain import TROUBLESHOOTING, troubleshooting

ROOT = Path(__file__).resolve().parents[2]


def test_every_linked_section_exists() -> None:
    page = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    labels = set(re.findall(r"^\(([\w-]+)\)=$", page, re.M))
    source = "\n".join(
        path.read_text(encoding="utf-8")
        for path in (ROOT / "src" / "neuromorpho_api").rglob("*.py")
    )
    linked = set(re.findall(r'troubleshooting\("([\w-]+)"\)', source))
    assert linked, "no hint links to the troubleshooting page"
    assert linked <= labels, f"no such section: {sorted(linked - labels)}"


def test_the_address_is_the_published_page() -> None:
    assert TROUBLESHOOTING.endswith("/troubleshooting.html")
    assert troubleshooting("site-down") == TROUBLESHOOTING + "#site-down"
