"""REST routers, one per resource, over the one service layer (application/executions.py)."""
