"""Track stock levels per product."""

STOCK = {
    "stoneware-mug": 24,
    "porcelain-bowl": 12,
    "terracotta-planter": 7,
    "celadon-vase": 2,
    "raku-tea-bowl": 0,  # sold out
}


def up(conn):
    conn.execute("ALTER TABLE products ADD COLUMN stock INTEGER NOT NULL DEFAULT 0")
    conn.executemany(
        "UPDATE products SET stock = ? WHERE slug = ?",
        [(count, slug) for slug, count in sorted(STOCK.items())],
    )
