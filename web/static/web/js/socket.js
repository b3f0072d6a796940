// The one module that owns the websocket.  Feature modules subscribe to it; none of them
// touch the socket directly.
//
// It connects to /ws/, answers the server's `hello` with `resume` (the last seen sequence
// number of every room it knows), sends a `ping` every `heartbeat_interval` seconds,
// reconnects with exponential backoff and jitter, matches answers to requests by `req_id`,
// and hands each event to the subscribers of its `type` exactly once and without gaps: a
// room event already seen is dropped, a jump in sequence asks the server to replay, and
// `resync.required` (too far behind to replay) re-reads the history through REST.

import { apiFetch } from './api.js';
import { gettext } from './i18n.js';

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;
const GAP_RETRY_MS = 2_000;
const SEEN_LIMIT = 5_000;
const CLOSE_UNAUTHENTICATED = 4401;
const CLOSE_CLIENT_GAVE_UP = 4000;

export const STATE = Object.freeze({
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
});

/** A request the server refused, or one that never got an answer. */
export class SocketRequestError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.code = code;
    this.details = details;
  }

  /** Whether sending the same request again later may succeed. */
  get retryable() {
    return ['disconnected', 'timeout', 'rate_limited', 'server_error'].includes(this.code);
  }
}

export class CommunisSocket {
  constructor({ path = '/ws/', loginUrl = '/login/', requestTimeout = REQUEST_TIMEOUT_MS } = {}) {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.url = `${scheme}//${window.location.host}${path}`;
    this.loginUrl = loginUrl;
    this.requestTimeout = requestTimeout;
    this.ws = null;
    this.state = STATE.CONNECTING;
    this.ready = false;
    this.everReady = false;
    this.attempt = 0;
    this.nextRequestId = 1;
    this.limits = {};
    this.user = null;
    this.subscribers = new Map();
    this.requests = new Map();
    this.positions = new Map(); // room id -> last contiguous sequence number seen
    this.seen = new Map(); // room id -> Set of sequence numbers seen
    this.gapRepairAt = new Map(); // room id -> time of the last replay request
    this.reconnectTimer = null;
    this.heartbeatTimer = null;
    this.stopped = false;
    window.addEventListener('offline', () => this.drop('offline'));
    window.addEventListener('online', () => this.reconnectNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.reconnectNow();
    });
  }

  // --- subscriptions --------------------------------------------------------------------
  /** Call `handler(frame)` for every event of `type` ('*' for all); return an unsubscriber. */
  on(type, handler) {
    if (!this.subscribers.has(type)) this.subscribers.set(type, new Set());
    this.subscribers.get(type).add(handler);
    return () => this.subscribers.get(type)?.delete(handler);
  }

  emit(type, payload) {
    for (const key of [type, '*']) {
      for (const handler of this.subscribers.get(key) ?? []) {
        try {
          handler(payload);
        } catch (error) {
          console.error('subscriber of %s failed', type, error);
        }
      }
    }
  }

  // --- positions ------------------------------------------------------------------------
  /** Remember that everything in `room` up to `seq` is already shown (e.g. from REST). */
  notePosition(room, seq) {
    const current = this.positions.get(room);
    if (current === undefined || seq > current) this.positions.set(room, seq);
  }

  position(room) {
    return this.positions.get(room);
  }

  forgetRoom(room) {
    this.positions.delete(room);
    this.seen.delete(room);
  }

  resumePositions(rooms = [...this.positions.keys()]) {
    const positions = {};
    for (const room of rooms) {
      const seq = this.positions.get(room);
      if (seq !== undefined) positions[`room.${room}`] = seq;
    }
    return positions;
  }

  // --- connection -----------------------------------------------------------------------
  connect() {
    if (this.stopped) return;
    const open = this.ws && this.ws.readyState <= WebSocket.OPEN;
    if (open) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.setState(this.everReady ? STATE.RECONNECTING : STATE.CONNECTING);
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.addEventListener('message', (event) => {
      if (ws === this.ws) this.receive(event.data);
    });
    ws.addEventListener('close', (event) => {
      if (ws === this.ws) this.closed(event.code);
    });
  }

  /** Abandon the current socket (it cannot be trusted any more) and reconnect. */
  drop(reason = 'dropped') {
    const ws = this.ws;
    if (!ws) return;
    this.closed(CLOSE_CLIENT_GAVE_UP);
    try {
      ws.close(CLOSE_CLIENT_GAVE_UP, reason);
    } catch {
      // Already closing: nothing more to do.
    }
  }

  /** Close for good (the person is signing out or leaving): no reconnect, no redirect. */
  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    this.closed(1000);
    ws?.close(1000);
  }

  /** Skip the backoff wait (the network came back, the tab became visible). */
  reconnectNow() {
    if (this.ws || !this.reconnectTimer) return;
    this.attempt = 0;
    this.connect();
  }

  closed(code) {
    this.ws = null;
    this.ready = false;
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    for (const [reqId, pending] of this.requests) {
      clearTimeout(pending.timer);
      pending.reject(new SocketRequestError('disconnected', gettext('The connection was lost.')));
      this.requests.delete(reqId);
    }
    if (this.stopped) return;
    if (code === CLOSE_UNAUTHENTICATED) {
      this.emit('socket:unauthenticated', {});
      this.goToSignIn();
      return;
    }
    this.setState(this.everReady ? STATE.RECONNECTING : STATE.CONNECTING);
    this.emit('socket:closed', { code });
    this.scheduleReconnect();
  }

  goToSignIn() {
    const here = window.location.pathname + window.location.search + window.location.hash;
    window.location.assign(`${this.loginUrl}?next=${encodeURIComponent(here)}`);
  }

  scheduleReconnect() {
    if (this.reconnectTimer) return;
    // Full jitter on an exponential ceiling: a thousand tabs dropped together come back spread out.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('socket:state', { state });
  }

  // --- inbound frames -------------------------------------------------------------------
  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object') return;
    switch (frame.type) {
      case 'hello':
        this.hello(frame);
        return;
      case 'ok':
      case 'error':
        this.answer(frame);
        return;
      case 'resync.required':
        this.resync(frame);
        return;
      default:
        this.deliver(frame);
    }
  }

  hello(frame) {
    const data = frame.data ?? {};
    this.limits = data.limits ?? {};
    this.user = data.user ?? null;
    this.startHeartbeat();
    const reconnect = this.everReady;
    this.request('resume', { positions: this.resumePositions() })
      .then((result) => {
        this.ready = true;
        this.everReady = true;
        this.attempt = 0;
        this.setState(STATE.CONNECTED);
        this.emit('socket:ready', { reconnect, ignored: result.ignored ?? [] });
      })
      .catch(() => this.drop('resume failed'));
  }

  answer(frame) {
    const pending = this.requests.get(frame.req_id);
    if (!pending) {
      if (frame.type === 'error') this.emit('socket:error', frame.error ?? {});
      return;
    }
    this.requests.delete(frame.req_id);
    clearTimeout(pending.timer);
    if (frame.type === 'ok') {
      pending.resolve(frame.data ?? {});
    } else {
      const error = frame.error ?? {};
      pending.reject(new SocketRequestError(error.code ?? 'error', error.message ?? '', error));
    }
  }

  /** Hand an event to its subscribers once; room events only in sequence, never twice. */
  deliver(frame) {
    const room = frame.room;
    const seq = frame.seq;
    if (room == null || seq == null) {
      this.emit(frame.type, frame);
      return;
    }
    const seen = this.seenIn(room);
    const position = this.positions.get(room);
    if (seen.has(seq) || (position !== undefined && seq <= position)) return;
    this.remember(room, seq);
    if (position === undefined) {
      this.positions.set(room, seq);
    } else if (seq === position + 1) {
      this.advance(room);
    } else {
      this.repairGap(room);
    }
    this.emit(frame.type, frame);
  }

  seenIn(room) {
    let seen = this.seen.get(room);
    if (!seen) {
      seen = new Set();
      this.seen.set(room, seen);
    }
    return seen;
  }

  remember(room, seq) {
    const seen = this.seenIn(room);
    seen.add(seq);
    if (seen.size > SEEN_LIMIT) {
      const floor = this.positions.get(room) ?? 0;
      for (const old of seen) if (old < floor) seen.delete(old);
    }
  }

  advance(room) {
    const seen = this.seenIn(room);
    let position = this.positions.get(room) ?? 0;
    while (seen.has(position + 1)) position += 1;
    this.positions.set(room, position);
  }

  /** Events jumped ahead: ask the server to replay the room from our last contiguous seq. */
  repairGap(room) {
    const last = this.gapRepairAt.get(room) ?? 0;
    if (!this.ready || Date.now() - last < GAP_RETRY_MS) return;
    this.gapRepairAt.set(room, Date.now());
    this.request('resume', { positions: this.resumePositions([room]) }).catch(() => {});
  }

  /** Too far behind to replay: read the missed messages through REST, oldest first. */
  async resync(frame) {
    const room = frame.room;
    const afterSeq = frame.data?.after_seq ?? this.positions.get(room) ?? 0;
    const latestSeq = frame.data?.latest_seq ?? afterSeq;
    // The server continues the live stream after latest_seq; REST fills in the rest.
    this.notePosition(room, latestSeq);
    this.emit('resync.required', frame);
    let after = afterSeq;
    try {
      for (;;) {
        const page = await apiFetch(`/api/rooms/${room}/messages/?after=${after}&limit=100`);
        for (const message of page.messages) {
          after = Math.max(after, message.seq);
          if (this.seenIn(room).has(message.seq)) continue;
          this.remember(room, message.seq);
          this.emit('message.created', {
            v: 1,
            type: 'message.created',
            id: `r${room}:${message.seq}`,
            room,
            seq: message.seq,
            ts: message.created_at,
            data: { message },
            replayed: true,
          });
        }
        if (!page.has_more || page.messages.length === 0) break;
      }
      this.notePosition(room, after);
      this.advance(room);
    } catch (error) {
      console.warn('re-reading room %s failed', room, error);
    }
    this.emit('socket:resynced', { room });
  }

  // --- requests -------------------------------------------------------------------------
  /** Send a request frame; resolve with the `ok` data, reject with a SocketRequestError. */
  request(type, fields = {}, { timeout = this.requestTimeout } = {}) {
    return new Promise((resolve, reject) => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        reject(new SocketRequestError('disconnected', gettext('Not connected.')));
        return;
      }
      const reqId = `c${this.nextRequestId++}`;
      const timer = setTimeout(() => {
        this.requests.delete(reqId);
        reject(new SocketRequestError('timeout', gettext('The server did not answer in time.')));
      }, timeout);
      this.requests.set(reqId, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...fields, type, req_id: reqId }));
    });
  }

  startHeartbeat() {
    clearInterval(this.heartbeatTimer);
    const seconds = Number(this.limits.heartbeat_interval) || 25;
    this.heartbeatTimer = setInterval(() => {
      // A ping that gets no answer within one interval means a dead socket: start over.
      this.request('ping', {}, { timeout: seconds * 1000 }).catch((error) => {
        if (error.code === 'timeout') this.drop('heartbeat timeout');
      });
    }, seconds * 1000);
  }
}
