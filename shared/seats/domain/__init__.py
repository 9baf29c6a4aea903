"""The pure domain: standard library only, no boto3, no Powertools."""
