"""The topic catalog: every topic hopflow uses, declared with its partitions and codecs."""

from topics.catalog import Catalog, TopicSpec

__all__ = ["Catalog", "TopicSpec"]
