# Entry points for people and CI. `make demo` runs the main job, `make test` the whole test suite.
CARGO ?= cargo

.PHONY: deps demo test bench vuln sbom smoke

deps:
	bash scripts/install-deps.sh

demo: deps
	$(CARGO) run --release --bin axiom -- demo

test: deps
	$(CARGO) test --workspace

bench: deps
	$(CARGO) bench -p axiom-benches
