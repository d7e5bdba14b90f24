# Convenience wrappers around the two quick-start scripts.
.PHONY: demo test bench
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
