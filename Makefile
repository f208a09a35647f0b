# The two commands of the README, and the pieces they are made of.
.PHONY: demo test setup lab-up lab-down lab-status sanity sanity-all lint ee perf perf-page refusals

demo: ## set up, bring the lab up, and run the main job (campus build-out + VM migration)
	scripts/demo.sh

test: ## the whole test suite: unit, lab, integration, sanity, lint (what CI runs)
	scripts/test.sh

setup:
	scripts/setup.sh

lab-up:
	scripts/setup.sh && tests/lab/lab.sh up

lab-down: ## destroys the lab: its hosts with the cluster, Ceph data and migrated VMs, and the simulators' state
	@echo "lab-down: destroying the lab (hosts, cluster, Ceph data, migrated VMs, simulator state; cached images stay)"
	tests/lab/lab.sh down
	@# the metal machines and switches of `make demo` (stages 2-3)
	@d="$${REFORGE_LAB_DIR:-$(CURDIR)/.lab}"; if [ -s "$$d/metal.json" ] || [ -d "$$d/metal" ]; then tests/lab/lab.sh down metal; fi
	@# the simulator lab of `make test` (REFORGE_LAB_KEEP=1 leaves it up)
	@if [ -d .lab-sims ]; then REFORGE_LAB_DIR="$(CURDIR)/.lab-sims" tests/lab/lab.sh down vcsim redfish; fi

lab-status: ## every lab component: up or down, and where
	tests/lab/lab.sh status
	@# the metal machines (`make demo` brings them up; `lab.sh up metal`)
	-@tests/lab/lab.sh status metal

sanity: ## ansible-test sanity on the newest ansible-core (the release in .venv; what CI runs)
	scripts/setup.sh
	scripts/sanity.sh --venv

perf: ## the benchmarks (tests/perf) against the lab, then docs/performance.md from what they measured
	scripts/setup.sh
	scripts/test.sh tests/perf
	.venv/bin/python scripts/perf_page.py

refusals: ## docs/refusals.md from the tests that prove each refusal (the quality gate checks it is current)
	.venv/bin/python scripts/refusals_page.py

perf-page: ## docs/performance.md from the last measurements in .lab (benchmarks and cluster tests of `make test`)
	.venv/bin/python scripts/perf_page.py

sanity-all: ## ansible-test sanity on every ansible-core release that runs on this Python (2.15-2.19 on 3.11)
	scripts/setup.sh
	scripts/sanity-all.sh

ee: ## the execution environment for AWX: Debian 13 base made here, ansible-builder + podman (docs/execution-environment.md)
	scripts/setup.sh
	scripts/ee/build.sh
