"""The local runtime: the stack of template.yaml served on this machine, no AWS account, no Docker."""
