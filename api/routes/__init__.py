"""REST routers, one per resource, over the one service layer (api/service.py)."""
