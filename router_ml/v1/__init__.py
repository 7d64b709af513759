"""Generated gRPC code for the router_ml.v1 API (built from protos/ at install time)."""

#: The prefix of the ``Reason`` enum's value names (``REASON_MAX_EXPECTED_UTILITY``).
REASON_PREFIX = "REASON_"
