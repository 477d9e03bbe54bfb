"""hopflow's benchmark client: drives a running worker over HTTP, never imports the engine.

`bench.sink` is the local HTTP peer the benchmarked workflow calls (tests reuse it);
`bench.run` creates the workflow, fires runs and reports throughput and latency.
"""
