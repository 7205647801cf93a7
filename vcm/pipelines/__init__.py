"""Pipelines: compose vcm's pure functions into the user's jobs (train, evaluate, encode, ...)."""
