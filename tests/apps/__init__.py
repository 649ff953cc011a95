"""ASGI applications the black-box tests serve."""
