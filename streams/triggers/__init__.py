"""Triggers: every way a run starts besides a manual API call, each landing on Kafka first."""
