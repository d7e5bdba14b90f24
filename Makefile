# Convenience wrappers around the two quick-start scripts.
.PHONY: demo test bench
demo:
	scripts/demo.sh
test:
	scripts/test.sh
bench:
	scripts/bootstrap.sh
	for b in benchmarks/bench_*.py; do .venv/bin/python $$b || exit 1; done
