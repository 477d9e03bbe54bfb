"""Step types: pure functions of (config, context) -> outcome, free of Kafka and Faust."""
