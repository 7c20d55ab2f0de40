"""The local AWS sandbox: a moto server seeded with sample tables, so Millrace runs with no AWS account.

This package is the one place where moto is set up and extended; `make run` and the tests share it.
"""
