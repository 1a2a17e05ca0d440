// In-process requests for the overhead benches (parts-ab.mjs, parts-in-full.mjs,
// instructions.mjs): a real IncomingMessage/ServerResponse pair handed to the app, as node:http's
// server would, without a TCP connection. The response writes to a sink stream, so it really
// finishes: `finish` fires, the socket is detached and `close` follows on the next tick, as in
// the server (an unfinished response would be logged as aborted, and on-finished listeners would
// pile up on the shared socket). Run the event loop between batches (`settle()`): the finish
// callbacks, promise callbacks and log batches run there, as in a server.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';

// An unconnected socket answers remoteAddress from _peername: the client is 127.0.0.1.
const socket = new Socket();
socket._peername = { address: '127.0.0.1', family: 'IPv4', port: 40000 };
socket.setMaxListeners(0);

const HEADERS = { host: 'bench', accept: 'application/json', 'user-agent': 'bench' };

/** Sends one `GET url` through `app` (a request listener). */
export function request(app, url = '/api/items/42') {
  const req = new IncomingMessage(socket);
  req.method = 'GET';
  req.url = url;
  req.headers = { ...HEADERS };
  req.complete = true;
  req.push(null);
  const res = new ServerResponse(req);
  const sink = new Duplex({
    write(_chunk, _encoding, callback) {
      callback();
    },
    writev(_chunks, callback) {
      callback();
    },
    read() {},
  });
  res.assignSocket(sink);
  res.on('finish', () => {
    // As node:http's server: an unread body is dumped, the socket detached, `close` next tick.
    if (!req._consuming && !req._readableState.resumeScheduled) req._dump();
    res.detachSocket(sink);
    process.nextTick(() => res.emit('close'));
  });
  app(req, res);
  return res;
}

/** Lets the event loop run: pending ticks, promises and due timers. */
export const settle = () => new Promise((resolve) => setImmediate(resolve));
