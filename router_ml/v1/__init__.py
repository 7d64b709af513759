"""Generated gRPC code for the router_ml.v1 API (built from protos/ at install time)."""
