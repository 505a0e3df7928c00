"""Helpers shared by test folders, imported as ``support.<module>`` from any of them (``tests/``
is on pytest's path through ``tests/conftest.py``): ``hub`` (settings, tokens, frames and
closes for live-hub tests), ``aes_records`` (Connect-shaped API answers and Agent Event Stream
records)."""
