"""UI parts shared by several pages (cards, charts, forms, the live-value feed)."""
