"""Documents to text: HTML without tags (headings kept), PDF text, folders walked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.errors import UsageError
from tether.memory.chunk import chunk_text
from tether.memory.extract import find_documents, html_to_text, read_document


def test_html_keeps_headings_and_visible_text_only() -> None:
    html = """<html><head><title>t</title><style>p{color:red}</style></head><body>
    <h1>Guide</h1><p>First &amp; <b>bold</b> paragraph.</p><script>alert('x')</script>
    <h2>Install</h2><ul><li>Run make.</li><li>Run tests.</li></ul></body></html>"""
    text = html_to_text(html)
    assert "alert" not in text and "color" not in text and "<" not in text
    assert "First & bold paragraph." in text
    chunks = chunk_text(text)
    assert {c.heading for c in chunks} >= {("Guide",), ("Guide", "Install")}


def _pdf(text: str) -> bytes:
    """A minimal one-page PDF with ``text`` in Helvetica (built by hand, valid xref)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_pdf_text_and_folder_walk(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(_pdf("Invoices are due in thirty days."))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# B\n\ntext")
    (tmp_path / "sub" / "c.bin").write_bytes(b"\0")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "d.txt").write_text("secret")
    assert "Invoices are due in thirty days." in read_document(tmp_path / "a.pdf")
    found = [p.relative_to(tmp_path).as_posix() for p in find_documents(tmp_path)]
    assert found == ["a.pdf", "sub/b.md"]


def test_bad_inputs_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or folder"):
        list(find_documents(tmp_path / "missing"))
    (tmp_path / "x.docx").write_bytes(b"PK")
    with pytest.raises(UsageError, match="supported: "):
        read_document(tmp_path / "x.docx")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(UsageError, match="cannot read the PDF"):
        read_document(tmp_path / "broken.pdf")
