"""Create the products table and seed the catalogue."""

PRODUCTS = [
    # slug, name, description, price in cents
    ("stoneware-mug", "Stoneware Mug",
     "Wheel-thrown stoneware, 350 ml. Loved by tea & coffee drinkers <3", 1800),
    ("porcelain-bowl", "Porcelain Bowl",
     "A translucent \"everyday\" bowl for rice, soup or ramen.", 2450),
    ("terracotta-planter", "Terracotta Planter",
     "Unglazed terracotta with a drainage hole and saucer.", 3200),
    ("celadon-vase", "Celadon Vase",
     "Tall vase in a pale green celadon glaze, fired to cone 10.", 5600),
    ("raku-tea-bowl", "Raku Tea Bowl",
     "Each raku bowl is unique: smoke, crackle and copper flashes.", 7400),
]


def up(conn):
    conn.execute(
        """
        CREATE TABLE products (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            slug        TEXT NOT NULL UNIQUE,
            name        TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            price_cents INTEGER NOT NULL CHECK (price_cents >= 0)
        )
        """
    )
    conn.executemany(
        "INSERT INTO products (slug, name, description, price_cents) VALUES (?, ?, ?, ?)",
        PRODUCTS,
    )
