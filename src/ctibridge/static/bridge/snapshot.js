// @ts-check
/**
 * The bridge's snapshot mapping: a Streams agent (state, next state, contacts with their
 * connections, attributes, queue, timestamps) as the snapshot the hub reads
 * (ctibridge/backends/streams/wire.py).  Pure functions of the Streams objects, loaded before
 * bridge.js, which sends what ``ctibridgeSnapshot.snapshotOf`` returns on every agent refresh.
 */
"use strict";

const ctibridgeSnapshot = (function () {
  /** @param {Date | number | string | null | undefined} value @returns {number | null} */
  function ms(value) {
    if (value === null || value === undefined) return null;
    if (value instanceof Date) return value.getTime();
    if (typeof value === "number") return value < 1e11 ? Math.round(value * 1000) : value;
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? null : parsed;
  }

  /** @param {connect.AgentState} state */
  function stateOf(state) {
    return {
      name: state.name,
      type: state.type,
      agentStateARN: state.agentStateARN || null,
      startTimestamp: ms(state.startTimestamp),
    };
  }

  /** @param {connect.AgentStateDefinition} state */
  function definitionOf(state) {
    return { name: state.name, type: state.type, agentStateARN: state.agentStateARN || null };
  }

  /** @param {connect.Endpoint | null} endpoint */
  function endpointOf(endpoint) {
    if (!endpoint) return null;
    return {
      type: endpoint.type || null,
      name: endpoint.name || null,
      phoneNumber: endpoint.phoneNumber || null,
    };
  }

  /** @param {connect.BaseConnection} connection */
  function connectionOf(connection) {
    const state = connection.getState();
    return {
      connectionId: connection.getConnectionId(),
      type: connection.getType(),
      initial: connection.isInitialConnection(),
      state: { type: state.type, timestamp: ms(state.timestamp) || Date.now() },
      endpoint: endpointOf(connection.getEndpoint()),
    };
  }

  /** @param {connect.Contact} contact */
  function contactOf(contact) {
    const state = contact.getState();
    const queue = contact.getQueue();
    const raw = contact.getAttributes() || {};
    /** @type {Record<string, {name: string, value: string}>} */
    const attributes = {};
    for (const key of Object.keys(raw)) {
      const attribute = raw[key];
      if (!attribute) continue;
      // Connect leaves `value` out of an attribute set to nothing: empty, never "undefined"
      const value = attribute.value === undefined || attribute.value === null ? "" : attribute.value;
      attributes[key] = { name: attribute.name || key, value: String(value) };
    }
    return {
      contactId: contact.getContactId(),
      type: contact.getType(),
      state: { type: state.type, timestamp: ms(state.timestamp) || Date.now() },
      initiationMethod: contact.getInitiationMethod() || null,
      queue: queue ? { name: queue.name || null, queueARN: queue.queueARN || null } : null,
      queueTimestamp: ms(contact.getQueueTimestamp()),
      attributes: attributes,
      systemEndpoint: endpointOf(contact.getConnectSystemEndpoint()),
      connections: contact.getConnections().map(connectionOf),
    };
  }

  /** @param {connect.Agent} current @param {boolean} muted (kept by bridge.js from Streams' mute events) */
  function snapshotOf(current, muted) {
    const availability = current.getAvailabilityState();
    const next = current.getNextState();
    const configuration = current.getConfiguration();
    return {
      state: stateOf(current.getState()),
      availability: {
        state: availability.state,
        type: availability.type || null,
        agentStateARN: availability.agentStateARN || null,
        timeStamp: ms(availability.timeStamp) || Date.now(),
      },
      nextState: next ? stateOf(next) : null,
      muted: muted,
      configuration: {
        name: configuration.name,
        username: configuration.username,
        agentARN: configuration.agentARN || null,
        extension: configuration.extension || "",
        softphoneEnabled: configuration.softphoneEnabled,
        routingProfile: configuration.routingProfile ? configuration.routingProfile.name : "",
      },
      contacts: current.getContacts().map(contactOf),
    };
  }

  return { snapshotOf, definitionOf };
})();
