"""Powertools Routers, one module per resource; the functions of template.yaml include them."""
