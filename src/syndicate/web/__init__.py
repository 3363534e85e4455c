"""The HTTP service: the /v1 API, /metrics and health probes over one Syndicator."""
