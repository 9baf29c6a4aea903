"""Use cases: one module per user action. They depend on the domain and on the ports below."""
