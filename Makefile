# Convenience wrappers around the two quick-start scripts.
.PHONY: demo test bench vm-test
demo:
	scripts/demo.sh
test:
	scripts/test.sh
bench:
	scripts/bootstrap.sh
	for b in benchmarks/bench_*.py; do .venv/bin/python $$b || exit 1; done

# Boot the demo box for real (tests/vm): needs root, /dev/kvm, qemu-system-x86, qemu-utils,
# mmdebstrap. Builds the box from the Debian mirror (cached), then provisions it offline.
vm-test:
	@for t in qemu-system-x86_64 qemu-img mmdebstrap; do command -v $$t >/dev/null || \
	  { echo "vm-test: $$t is missing: apt-get install qemu-system-x86 qemu-utils mmdebstrap"; exit 1; }; done
	test -x .venv/bin/python || scripts/bootstrap.sh "[test]"
	FLOWCEP_VM_TEST=1 .venv/bin/python -m pytest -q -s -p no:cacheprovider -m vm tests/vm
