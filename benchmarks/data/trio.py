"""The three PDFs of issue 29, built or found on a fresh Debian machine, for the browser test.

  apache-2.0.pdf              the Apache License 2.0 (base-files' text) printed to PDF
  shared-mime-info-spec.pdf   the freedesktop.org specification shipped by shared-mime-info
  libtasn1.pdf                the GNU Libtasn1 manual shipped by libtasn1-doc

Each comes from the installed file when its package is installed, else from the package's .deb
(downloaded and unpacked, never installed; needs `apt-get update` once). The 12 questions and
their gold answers are in trio.json.

  python benchmarks/data/trio.py OUT_DIR
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.data.debian import package_root, read_text, text_blocks  # noqa: E402
from converters.files import atomic_write  # noqa: E402

TRIO_JSON = Path(__file__).resolve().parent / "trio.json"


@dataclass(frozen=True)
class TrioPdf:
    """One of the three PDFs: its file name, Debian package and installed path."""

    file: str
    package: str
    path: str
    printed: bool = False  # a text file printed to PDF (else the package's own PDF)


TRIO = (
    TrioPdf("apache-2.0.pdf", "base-files", "/usr/share/common-licenses/Apache-2.0", printed=True),
    TrioPdf("shared-mime-info-spec.pdf", "shared-mime-info",
            "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"),
    TrioPdf("libtasn1.pdf", "libtasn1-doc", "/usr/share/doc/libtasn1-doc/libtasn1.pdf"),
)


def source_file(pdf: TrioPdf, cache: Path) -> Path:
    """The installed file, or the same file unpacked from the package's .deb."""
    installed = Path(pdf.path)
    if installed.is_file():
        return installed
    return package_root(pdf.package, cache) / pdf.path.lstrip("/")


def build(out: Path, cache: Path) -> list[Path]:
    """The three PDFs in ``out`` (written atomically); returns their paths."""
    from benchmarks.data.prose_build import layout_pdf

    out.mkdir(parents=True, exist_ok=True)
    made = []
    for pdf in TRIO:
        source, target = source_file(pdf, cache), out / pdf.file
        if pdf.printed:
            layout_pdf(text_blocks(read_text(source)), "Apache License, Version 2.0", target)
        else:
            atomic_write(target, lambda tmp, source=source: shutil.copyfile(source, tmp))
        made.append(target)
    return made


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="folder for the three PDFs")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "doclora-debian-packages")
    args = p.parse_args(argv)
    for path in build(args.out, args.cache):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
