# The two commands of the README: `sudo make demo` and `sudo make test`.
.PHONY: setup demo test lint bench clean

setup:
	@scripts/setup.sh

# The main job: a real experiment on the embedded default topology (this kernel).
demo: setup
	.venv/bin/testbed try ru-2021-twitter-throttle

# Both tiers: unit tests (pure code) and host tests (real namespaces, real packets).
# pytest's exit code 5 means it collected no test; that is reported, not failed on.
test: setup
	@.venv/bin/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

lint: setup
	.venv/bin/ruff check testbed tests benchmarks

bench: setup
	.venv/bin/python benchmarks/apply_speed.py

clean:
	.venv/bin/testbed clean
