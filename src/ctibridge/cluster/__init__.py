"""Cluster mode (``ctibridge serve --cluster redis://HOST:PORT/DB``): many hub nodes, one Redis.

* :mod:`.scripts` - the Lua scripts (lease with fencing epoch, fenced append); one hash tag
  ``{login}`` per agent, so a Redis Cluster can shard agents.
* :mod:`.journal` - :class:`RedisJournal`, the hub's Journal on a Redis stream per agent.
* :mod:`.lease` - acquiring, renewing and releasing agent leases.
* :mod:`.node` - :class:`ClusterNode`: runs the leases, routes commands to the owner and
  answers back, and fans the owner's events out to this node's apps.

Needs the ``redis`` package (``pip install 'ctibridge[cluster]'``).
"""
