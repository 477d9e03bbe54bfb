"""HTTP views on the Faust web server: workflows, runs, health."""

from api.app import register

__all__ = ["register"]
