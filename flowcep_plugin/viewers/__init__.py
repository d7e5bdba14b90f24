"""Viewers without a cluster: a self-contained HTML report and a live terminal view.

Kibana is the answer when there is an Elasticsearch cluster; these are the answer without one
(NetViewer's viewers: tables, bars and pies of detections, categories and top talkers).
"""
