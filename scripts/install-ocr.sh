#!/usr/bin/env bash
# Installs Debian's Tesseract OCR (with its English data) for scanned PDFs, only when it is missing.
# pymupdf's OCR calls this system tesseract; the scanned-page tests need it.
set -euo pipefail
if command -v tesseract >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "[install-ocr] tesseract is missing; run this script as root (it uses apt-get)." >&2
  exit 1
fi
echo "[install-ocr] installing Debian's tesseract-ocr (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends tesseract-ocr tesseract-ocr-eng >/dev/null
echo "[install-ocr] $(tesseract --version 2>&1 | head -n 1)"
