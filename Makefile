# The two commands of the README: `sudo make demo` and `sudo make test`.
.PHONY: setup demo test lint bench clean vm

setup:
	@scripts/setup.sh

# The main job: the headline scenario (baseline, restriction, lifted), on this kernel
# when it has netem, otherwise in the testbed VM (built and cached on first use).
demo: setup
	.venv/bin/testbed run ru-2025-calls

# Every tier: the unit tests on every core (they send no packet and time nothing) while
# the VM image is built or checked (downloads and disk as much as CPU), the host tests
# here one at a time (real namespaces, real packets; on two workers, `-n 2 --dist loadgroup`,
# which tests/host/conftest.py prepares, two timing tests still fail now and then: not yet),
# then the VM tier (netem)
# inside the testbed VM; those two print their 25 slowest tests (where the suite's time
# goes). pytest's exit code 5 (no test collected) is reported, not failed on.
PYTEST_OK = rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc
test: setup
	@log=$$(mktemp); .venv/bin/testbed vm build > $$log 2>&1 & build=$$!; \
	.venv/bin/python -m pytest -n auto tests/unit; unit=$$?; \
	wait $$build; built=$$?; echo "testbed vm build (beside the unit tier):"; cat $$log; rm -f $$log; \
	if [ $$built -ne 0 ]; then exit $$built; fi; (exit $$unit); $(PYTEST_OK)
	@.venv/bin/python -m pytest -m "not vm" --ignore=tests/unit --durations=25; $(PYTEST_OK)
	@.venv/bin/testbed vm run -- python3 -m pytest -m vm tests/vm --color=no -p no:cacheprovider --durations=25; $(PYTEST_OK)

vm: setup
	.venv/bin/testbed vm build

lint: setup
	.venv/bin/ruff check testbed tests benchmarks scripts examples
	.venv/bin/lint-imports

bench: setup
	.venv/bin/python benchmarks/apply_speed.py
	.venv/bin/python benchmarks/catalog_apply.py
	.venv/bin/python benchmarks/reader_decide.py
	.venv/bin/python benchmarks/reader_kernel.py
	.venv/bin/python benchmarks/topology_speed.py
	.venv/bin/python benchmarks/program_start.py

clean:
	.venv/bin/testbed clean
