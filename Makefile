# Convenience wrappers around the two quick-start scripts.
.PHONY: demo test bench vm-test
demo:
	scripts/demo.sh
test:
	scripts/test.sh
# One table of ratios, each against a baseline measured in the same run (about 5 minutes with
# these small inputs; run benchmarks/bench_pipeline.py without options for the issue's x200 file).
bench:
	scripts/bootstrap.sh
	.venv/bin/python benchmarks/bench_pipeline.py --copies 50 --profile --live --live-seconds 5 \
		--live-budget 120 --others

# Boot the demo box for real (tests/vm): needs root, /dev/kvm, qemu-system-x86, qemu-utils,
# mmdebstrap. Builds the box from the Debian mirror (cached), then provisions it offline.
# The host needs only pytest (the box gets FlowCEP from wheels): without .venv, a two-package
# build/vm-venv is made in seconds instead of the full .venv (minutes).
vm-test:
	@for t in qemu-system-x86_64 qemu-img mmdebstrap; do command -v $$t >/dev/null || \
	  { echo "vm-test: $$t is missing: apt-get install qemu-system-x86 qemu-utils mmdebstrap"; exit 1; }; done
	@py=.venv/bin/python; if [ ! -x .venv/bin/pytest ]; then py=build/vm-venv/bin/python; \
	  [ -x build/vm-venv/bin/pytest ] || { python3 -m venv build/vm-venv && \
	  $$py -m pip install -q --disable-pip-version-check "pytest>=8" "pytest-timeout>=2.2"; } || exit 1; fi; \
	  echo "FLOWCEP_VM_TEST=1 $$py -m pytest -q -s -p no:cacheprovider -m vm tests/vm"; \
	  FLOWCEP_VM_TEST=1 $$py -m pytest -q -s -p no:cacheprovider -m vm tests/vm
