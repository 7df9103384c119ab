# Two commands: `make run` starts the bot (the demo while .env has no BOT_TOKEN), `make test` runs every
# test and then the type check (`make typecheck` alone). Both set up .venv first. `make messages` extracts the text layer's
# strings into handlers/locales/messages.pot, the template a translation starts from.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
TYPED = bot handlers storage taxonomy sandbox

.PHONY: run test typecheck bench messages

$(BIN)/crowdshelf: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

run: $(BIN)/crowdshelf
	@test -f .env || (cp .env.example .env && echo "Created .env from .env.example: put your BOT_TOKEN in it.")
	$(BIN)/crowdshelf run --demo-without-token

test: $(BIN)/crowdshelf
	$(BIN)/python -m pytest
	$(BIN)/python -m mypy $(TYPED)

typecheck: $(BIN)/crowdshelf
	$(BIN)/python -m mypy $(TYPED)

bench: $(BIN)/crowdshelf
	$(BIN)/python benchmarks/answers.py

# N_ and _ mark one form; Nn_ a singular and its plural (handlers/i18n.py). No source lines in the
# template, so that it changes only when a string does.
messages: $(BIN)/crowdshelf
	$(BIN)/pybabel extract -F babel.cfg -k Nn_:1,2 --no-location --sort-output --project crowdshelf \
		-o handlers/locales/messages.pot handlers
