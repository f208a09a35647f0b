# The two commands of the README, and the pieces they are made of.
.PHONY: demo test setup lab-up lab-down lab-status sanity lint

demo: ## set up, bring the lab up, and run the main job (campus build-out + VM migration)
	scripts/demo.sh

test: ## the whole test suite: unit, lab, integration, sanity, lint (what CI runs)
	scripts/test.sh

setup:
	scripts/setup.sh

lab-up:
	scripts/setup.sh && tests/lab/lab.sh up

lab-down:
	tests/lab/lab.sh down

lab-status:
	tests/lab/lab.sh status
