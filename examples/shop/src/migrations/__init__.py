"""Schema migrations, applied in file-name order by src/db.py (kept as .py in builds)."""
