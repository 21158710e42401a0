"""DocLoRA application: document library, ingestion pipeline, chat engine, CLI and UI."""

import os

# torch and llama.cpp each bring an OpenMP runtime; with the default (active) wait policy the idle
# threads of one spin on the cores the other needs: measured on 2 cores, time to first token went
# from ~21 s to ~10 ms and add from ~1 s to ~0.07 s per page with PASSIVE. Must be set before
# either library loads, so it lives here (every app entry point imports this package first).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
