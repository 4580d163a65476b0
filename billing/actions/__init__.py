"""What billing adds to bulk actions: one module each, registered on import
(billing.apps)."""
