"""Storage: peewee models, the deferred database they share, and versioned migrations."""
