"""Backends: where agent snapshots come from and where actions go (see ``base.Backend``)."""
