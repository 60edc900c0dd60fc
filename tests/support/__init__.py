"""Helpers every test tier shares: record factories (``records``) and one way to wait (``waiting``)."""
