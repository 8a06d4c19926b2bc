# Entry points for people and CI. `make demo` runs the main job, `make test` the whole test suite.
CARGO ?= cargo

.PHONY: deps demo test bench vuln sbom smoke replay-check

deps:
	bash scripts/install-deps.sh

demo:
	AXIOM_DEPS=run bash scripts/install-deps.sh
	$(CARGO) run --release --bin axiom -- demo

test: deps
	$(CARGO) test --workspace

bench: deps
	$(CARGO) bench -p axiom-benches

# Advisory scan against a local RustSec database; skipped with a message when none is present.
vuln:
	bash deploy/scripts/vuln.sh

# CycloneDX 1.5 SBOM of the axiom binary at target/sbom/axiom.cdx.json.
sbom:
	python3 deploy/scripts/sbom.py

# Smoke check of a running node at AXIOM_SERVER (default http://127.0.0.1:8080).
smoke:
	bash deploy/scripts/smoke.sh

# Replays recent decisions of a running node at AXIOM_SERVER; needs AXIOM_TOKEN (complianceofficer
# or securityadmin) or AXIOM_JWT_HS256_SECRET with TENANT. Fails when any decision drifts.
replay-check:
	$(CARGO) run --release --bin axiom -- replay-check $(if $(TENANT),--tenant $(TENANT)) --sample $(or $(SAMPLE),100)
