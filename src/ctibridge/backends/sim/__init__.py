"""The embedded Amazon Connect simulator backend (``SimBackend``), driven by the Simulator topic.

Agents ``agent1`` … ``agentN`` with states ``Available`` (routable), ``Not Ready``, ``Break``,
``Lunch`` (not routable) and ``Offline``; queues ``InboundTest``, ``Sales``, ``Support``; quick
connects ``Billing``, ``Supervisor``.  Ids come from ``random.Random(seed)`` (uuid4-formatted,
deterministic with a seed), times from the injected clock.

Snapshot conventions (the engine relies on these exactly):

* ``AgentSnapshot.state`` is the availability state the agent chose; it does NOT change to Busy
  etc. while on a contact (the engine derives system states).  ``next_state`` holds the enqueued
  state (Connect's enqueueNextState), applied when the last contact is cleared.
* Agent leg: ``role="agent", type="agent", phone_number=None``, its own uuid connection id.
* Customer leg: ``role="customer"``, ``type="inbound"`` for contacts of kind inbound/transfer,
  ``"outbound"`` for kind outbound/preview; ``connection_id == contact_id`` (as in Connect's
  published samples); ``phone_number`` = the customer's number.
* Third-party leg: ``role="third_party", type="outbound"``, ``phone_number`` = the dialled
  number, or the quick connect / agent / queue name.
* ``Connection.since`` = when the status last changed; ``previous_status`` = the status before
  the current one (None when new).  Whenever a connection's status changes, both are set.
* Contact: ``kind`` inbound|transfer|outbound|preview; ``topic`` "InboundCall" for
  queue-delivered and transfer contacts, the ``Dial.topic`` for dialled ones, "OutboundCall" for
  previews; ``state`` live|acw|missed|rejected|error; ``queue``, ``queue_since`` (ms), ``ani``
  (customer number), ``dnis``, ``attributes`` ((name, value) strings), ``campaign``.
* Connections are listed in the order agent, customer, third party.

Every change of a snapshot is reported to the sink synchronously, before ``execute`` /
``simulate`` returns, once per agent touched; timer-driven changes (ring timeout, a dialled
party answering) are reported from the timer callback.
"""

from .backend import SimBackend, SimulatorError

__all__ = ["SimBackend", "SimulatorError"]
