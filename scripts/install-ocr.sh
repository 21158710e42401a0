#!/usr/bin/env bash
# Installs Debian's Tesseract OCR (with its English data) for scanned PDFs, only when it is missing.
# pymupdf's OCR calls this system tesseract; the scanned-page tests need it.
set -euo pipefail
if command -v tesseract >/dev/null 2>&1; then
  exit 0
fi
bash "$(dirname "$0")/apt-install.sh" install-ocr tesseract-ocr tesseract-ocr-eng
echo "[install-ocr] $(tesseract --version 2>&1 | head -n 1)"
