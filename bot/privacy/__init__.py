"""Customers' rights: export one person's data, erase it, and retention of comments."""
