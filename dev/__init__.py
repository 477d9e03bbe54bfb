"""Developer tooling: run a local Apache Kafka broker without Docker."""
