# make bench            every benchmark side by side, ratios in benchmarks/results.md and .json
# make bench QUICK=1    fewer rounds and a smaller masking set (about half the time)
# Bootstraps the venv first when it is missing (scripts/bootstrap, as root).

PYTHON := .venv/bin/python
BENCH_FLAGS := $(if $(QUICK),--quick,)

.PHONY: bench bootstrap

bench: $(PYTHON)
	$(PYTHON) benchmarks/bench_all.py $(BENCH_FLAGS) $(if $(ONLY),--only $(ONLY),)

$(PYTHON):
	scripts/bootstrap

bootstrap:
	scripts/bootstrap
