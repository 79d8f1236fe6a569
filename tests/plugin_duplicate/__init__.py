"""A test-only app that re-declares a built-in action key: start-up must refuse it."""
