"""pdf_to_text on PDFs built here with pymupdf: layout, clean-up and every typed error."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pymupdf
import pytest

from converters import pdf as pdf_module
from converters.errors import (
    CorruptPdfError, EmptyFileError, EncryptedPdfError, FileVanishedError, NoTextError, NotAPdfError,
    PdfError, TooManyPagesError, WrongPasswordError,
)
from converters.pdf import pdf_to_text, read_pdf

LOREM = ("Quantum gardens grow slowly under careful observation. " * 3).strip()


def save(doc: pymupdf.Document, path: Path, **kwargs) -> Path:
    doc.save(path, **kwargs)
    doc.close()
    return path


def text_pdf(path: Path, pages: list[str], **kwargs) -> Path:
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(72, 100, 540, 700), text, fontsize=11)
    return save(doc, path, **kwargs)


def test_text_title_metadata_and_hash(tmp_path):
    path = tmp_path / "report.pdf"
    doc = pymupdf.open()
    for body in ("First page body.", "Second page body."):
        doc.new_page().insert_textbox(pymupdf.Rect(72, 100, 540, 700), body)
    doc.set_metadata({"title": "Annual Report", "author": "Ada"})
    save(doc, path)
    result = pdf_to_text(path)
    assert [(p.number, p.text) for p in result.pages] == [(1, "First page body."), (2, "Second page body.")]
    assert result.page_count == 2
    assert result.text == "First page body.\n\nSecond page body."
    assert result.title == "Annual Report"
    assert result.metadata["author"] == "Ada"
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_title_falls_back_to_first_line(tmp_path):
    path = text_pdf(tmp_path / "untitled.pdf", ["Needle In A Haystack\nThe special magic number is 4821."])
    assert pdf_to_text(path).title == "Needle In A Haystack"


def test_two_columns_come_out_column_by_column(tmp_path):
    doc = pymupdf.open()
    page = doc.new_page()  # 612 x 792
    page.insert_textbox(pymupdf.Rect(72, 60, 540, 90), "A Study Of Two Columns", fontsize=16)
    left = ["Left one: " + LOREM, "Left two: " + LOREM]
    right = ["Right one: " + LOREM, "Right two: " + LOREM]
    page.insert_textbox(pymupdf.Rect(72, 110, 296, 700), "\n\n".join(left), fontsize=10)
    page.insert_textbox(pymupdf.Rect(316, 110, 540, 700), "\n\n".join(right), fontsize=10)
    text = pdf_to_text(save(doc, tmp_path / "columns.pdf")).pages[0].text
    order = [text.index(s) for s in ("A Study Of Two Columns", "Left one:", "Left two:", "Right one:", "Right two:")]
    assert order == sorted(order), text
    assert "Quantum gardens grow slowly under careful observation." in text  # lines reflowed


def test_ruled_table_becomes_markdown_rows(tmp_path):
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 80), "Quarterly figures follow.", fontsize=11)
    rows = [["Region", "Sales"], ["North", "120"], ["South", "95"]]
    x, y, w, h = 72, 100, 120, 24
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            page.draw_rect(pymupdf.Rect(x + c * w, y + r * h, x + (c + 1) * w, y + (r + 1) * h), color=(0, 0, 0))
            page.insert_text((x + c * w + 6, y + r * h + 16), cell, fontsize=11)
    page.insert_text((72, 200), "End of the table section.", fontsize=11)
    text = pdf_to_text(save(doc, tmp_path / "table.pdf")).pages[0].text
    lines = text.splitlines()
    assert "|Region|Sales|" in lines
    assert "|North|120|" in lines and "|South|95|" in lines
    assert any(set(line) <= {"|", "-", ":"} and "---" in line for line in lines)  # header separator
    assert text.count("North") == 1  # table text is not repeated as plain text
    assert text.index("Quarterly figures") < text.index("|Region|") < text.index("End of the table")


def test_hyphenation_and_repeated_headers_footers_removed(tmp_path):
    doc = pymupdf.open()
    for n in range(1, 5):
        page = doc.new_page()
        page.insert_text((72, 40), "ACME Corp Confidential", fontsize=9)
        page.insert_text((280, 770), f"Page {n} of 4", fontsize=9)
        page.insert_textbox(pymupdf.Rect(72, 100, 540, 700), f"Body {n} talks about an exam-\nple of careful typo-\ngraphy.")
    result = pdf_to_text(save(doc, tmp_path / "report.pdf"))
    for n, page in enumerate(result.pages, start=1):
        assert page.text == f"Body {n} talks about an example of careful typography."


def test_single_page_keeps_its_header(tmp_path):
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 40), "Memo To All Staff", fontsize=9)
    page.insert_textbox(pymupdf.Rect(72, 100, 540, 700), "Body.")
    assert pdf_to_text(save(doc, tmp_path / "memo.pdf")).pages[0].text == "Memo To All Staff\n\nBody."


def test_encrypted_pdf_needs_the_right_password(tmp_path):
    path = text_pdf(tmp_path / "secret.pdf", ["Top secret text."],
                    encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="open-sesame", owner_pw="owner")
    with pytest.raises(EncryptedPdfError, match=r"'secret.pdf' is password-protected; add it again with its password \(--password\)."):
        pdf_to_text(path)
    with pytest.raises(WrongPasswordError, match="The password for 'secret.pdf' is wrong; add it again with the right password."):
        pdf_to_text(path, password="guess")
    assert pdf_to_text(path, password="open-sesame").pages[0].text == "Top secret text."


def image_only_pdf(path: Path) -> Path:
    doc = pymupdf.open()
    page = doc.new_page()
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 64, 64), False)
    pix.clear_with(180)
    page.insert_image(pymupdf.Rect(72, 72, 300, 300), pixmap=pix)
    return save(doc, path)


def test_image_only_pdf_without_tesseract(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf_module, "tesseract_available", lambda: False)
    with pytest.raises(NoTextError, match=r"'scan.pdf' has no extractable text \(scanned pages\?\); install Tesseract OCR "
                       r"\(apt install tesseract-ocr\) or use a PDF with text."):
        pdf_to_text(image_only_pdf(tmp_path / "scan.pdf"))


def test_tesseract_detection_follows_the_binary(monkeypatch):
    monkeypatch.setattr(pdf_module.shutil, "which", lambda name: None)
    assert pdf_module.tesseract_available() is False


CASES = [
    # (file name, bytes, error class, message)
    ("empty.pdf", b"", EmptyFileError, "'empty.pdf' is empty (0 bytes); choose the real PDF file."),
    ("archive.pdf", b"PK\x03\x04" + b"\0" * 200, NotAPdfError,
     "'archive.pdf' is not a PDF file, whatever its name says; export it to PDF first."),
    ("notes.pdf", b"Just some notes, saved with the wrong name.\n", NotAPdfError, "'notes.pdf' is not a PDF file"),
    ("broken.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 8, CorruptPdfError,
     "'broken.pdf' is a damaged PDF that cannot be read; re-download or re-export it."),
]


@pytest.mark.parametrize("name,data,error,message", CASES)
def test_bad_files(tmp_path, name, data, error, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(error) as info:
        pdf_to_text(path)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, PdfError)


def test_a_pdf_whose_only_text_is_one_top_line_a_page_is_read(tmp_path):
    doc = pymupdf.open()
    for n in range(1, 4):
        doc.new_page().insert_text((72, 50), f"Specimen label {n}: Quercus robur", fontsize=11)
    text = pdf_to_text(save(doc, tmp_path / "labels.pdf"))
    assert [p.text for p in text.pages] == [f"Specimen label {n}: Quercus robur" for n in (1, 2, 3)]


def test_page_limit(tmp_path):
    path = text_pdf(tmp_path / "long.pdf", ["one", "two", "three"])
    with pytest.raises(TooManyPagesError, match=r"'long.pdf' has more pages than the limit; split it or raise the limit \(--max-pages\)."):
        pdf_to_text(path, max_pages=2)
    assert pdf_to_text(path, max_pages=3).page_count == 3


def test_missing_file(tmp_path):
    with pytest.raises(FileVanishedError, match="gone.pdf' does not exist \\(or vanished\\); check the path"):
        pdf_to_text(tmp_path / "gone.pdf")


def test_a_file_is_read_once_and_extracted_from_those_bytes(tmp_path):
    path = text_pdf(tmp_path / "doc.pdf", ["The first version."])
    pdf = read_pdf(path)
    assert pdf.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and pdf.name == "doc.pdf"
    text_pdf(path, ["A later version, written after the read."])
    doc = pdf_to_text(pdf)
    assert doc.pages[0].text == "The first version." and doc.sha256 == pdf.sha256


@pytest.mark.parametrize("make", [lambda p: os.mkfifo(p), lambda p: p.symlink_to("/dev/zero")],
                         ids=["fifo", "dev-zero"])
def test_only_regular_files_are_read(tmp_path, make):
    make(tmp_path / "odd.pdf")
    with pytest.raises(NotAPdfError, match="odd.pdf' is not a regular file"):
        read_pdf(tmp_path / "odd.pdf")


def test_folder_named_pdf(tmp_path):
    (tmp_path / "folder.pdf").mkdir()
    with pytest.raises(NotAPdfError, match="folder.pdf' is a folder; give the PDF file inside it."):
        pdf_to_text(tmp_path / "folder.pdf")
