"""The HTTP edge: request/response models, identity, problem+json errors, the resolver factory."""
