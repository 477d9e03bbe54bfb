"""Outbound events: tenant webhook endpoints, signed deliveries, durable retries."""
