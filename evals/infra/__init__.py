"""Plumbing every layer shares: atomic files and locks, content hashes, provenance, OpenAI-compatible clients."""
