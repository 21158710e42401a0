"""DocLoRA application: document library, ingestion pipeline, chat engine, CLI and UI."""

__version__ = "0.1.0"
