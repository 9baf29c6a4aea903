"""Adapters: DynamoDB repository, payment gateways, event publisher."""
