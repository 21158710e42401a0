"""DocLoRA application: document library, ingestion pipeline, chat engine, CLI and UI."""

# OpenMP wait policy (torch and llama.cpp both use libgomp here): the app keeps libgomp's default,
# a short spin before sleeping. Measured on a quiet 2-core machine (benchmarks/chat.py and
# benchmarks/app.py): OMP_WAIT_POLICY=PASSIVE made every llama.cpp barrier a sleep/wake, decode
# 33 -> 21 tokens/s and +9% per adapter, with no gain even while torch internalizes in another
# thread. Users can still set OMP_WAIT_POLICY themselves; the test suite sets PASSIVE because CI
# machines may be shared by other jobs, where spinning threads steal their cores.

__version__ = "0.1.0"
