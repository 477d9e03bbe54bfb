"""hopflow: workflow automation on Apache Kafka. This package is the command line."""

__version__ = "0.1.0"
