# The two commands a newcomer needs: `make run` and `make test`. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint sim bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/csms run

test: $(STAMP)
	$(BIN)/ruff check csms bridge simulators tests bench
	$(BIN)/mypy csms bridge simulators bench
	$(BIN)/pytest -n 3

sim: $(STAMP)
	$(BIN)/csms-sim charge-point --id CP1 --password cp1-secret-password --protocol 1.6 --url ws://127.0.0.1:9000/ocpp --meter-interval 10

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
