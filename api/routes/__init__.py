"""REST routers, one per resource, over the one service layer (core/service.py)."""
