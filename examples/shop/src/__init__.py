"""Kiln example shop: a tiny stdlib-only WSGI app (see ../wsgi.py)."""
