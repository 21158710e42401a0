# Two entry points: `make run` (install, then start the app on the bundled demo model)
# and `make test` (install, then run the whole suite). Both work on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test bench clean

setup:
	@PY=$(PY) bash scripts/setup.sh

run: setup
	$(BIN)/doclora ui

test: setup
	@bash scripts/test.sh

bench: setup
	$(BIN)/python benchmarks/internalize.py
	$(BIN)/python benchmarks/convert.py
	$(BIN)/python benchmarks/app.py
	$(BIN)/python benchmarks/chat.py
	$(BIN)/python benchmarks/needle.py

clean:
	rm -rf $(VENV) .pytest_cache artifacts
