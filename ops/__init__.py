"""Operations: health and readiness, worker heartbeats, the home page, demo data."""
