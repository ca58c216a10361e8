"""Product queries."""

_COLUMNS = "id, slug, name, description, price_cents, stock"


def format_price(cents, currency="$"):
    """1800 -> '$18.00'."""
    cents = int(cents)
    sign = "-" if cents < 0 else ""
    return "%s%s%d.%02d" % (sign, currency, abs(cents) // 100, abs(cents) % 100)


def list_products(db, search=None):
    if search:
        like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return db.query("SELECT %s FROM products WHERE name LIKE ? ESCAPE '\\' OR description "
                        "LIKE ? ESCAPE '\\' ORDER BY name" % _COLUMNS, (like, like))
    return db.query("SELECT %s FROM products ORDER BY name" % _COLUMNS)


def get_product(db, slug):
    return db.query_one("SELECT %s FROM products WHERE slug = ?" % _COLUMNS, (slug,))


def product_json(product):
    """Public JSON shape of a product (used by /api/products)."""
    return {
        "slug": product["slug"],
        "name": product["name"],
        "description": product["description"],
        "price_cents": product["price_cents"],
        "price": format_price(product["price_cents"]),
        "stock": product["stock"],
        "in_stock": product["stock"] > 0,
        "url": "/product/" + product["slug"],
    }
