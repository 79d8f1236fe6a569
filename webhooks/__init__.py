"""Inbound webhooks: endpoints, signature verifiers, ingestion and the delivery log."""
