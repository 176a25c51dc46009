# The README's commands. Each target sets up the virtual environment from uv.lock first.
.PHONY: setup demo test lint typecheck unit bench fmt shell serve docs train-nlu nlu-eval

VENV := .venv/bin

setup:
	@bash scripts/bootstrap.sh

demo: setup
	$(VENV)/cxbot demo

shell: setup
	$(VENV)/cxbot db upgrade
	$(VENV)/cxbot shell

serve: setup
	$(VENV)/cxbot serve

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/lint-imports

typecheck: setup
	$(VENV)/mypy

unit: setup
	$(VENV)/pytest

test: lint typecheck unit

fmt: setup
	$(VENV)/ruff format .
	$(VENV)/ruff check --fix .

bench: setup
	@for b in bench/[!_]*.py; do echo "== $$b"; $(VENV)/python $$b || exit 1; done

docs: setup
	$(VENV)/python scripts/gen_settings_doc.py

# Retrain the comment negativity model from the training corpora (writes flows/understanding/negativity_model.json).
train-nlu: setup
	$(VENV)/python scripts/train_nlu.py

# Aggregate figures of the model on the blind eval split (never prints a text).
nlu-eval: setup
	$(VENV)/python scripts/nlu_blind_eval.py --classifier rules
	$(VENV)/python scripts/nlu_blind_eval.py --classifier model
