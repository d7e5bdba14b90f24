"""Elasticsearch and Kibana support: client factory, index templates and ILM setup, the
KQL subset used by ``flowcep alerts search``, and dead-letter replay.

Kept apart from ``outputs/elasticsearch.py`` so the CLI verbs (``es``, ``kibana``,
``alerts``) can use them without building a pipeline.
"""
