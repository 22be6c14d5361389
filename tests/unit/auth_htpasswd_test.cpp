// Placeholder: replaced by its tests.
