/**
 * The delay proxy, run as a child process so its work is not billed to the benchmark's CPU time: forwards
 * TCP between the clients and PostgreSQL, holding every chunk for `delayMillis` in each direction (order
 * kept), and counts round trips, protocol messages and bytes. Arguments: target host, target port, delay.
 * Talks to its parent over IPC: `{ ready: port }`, then answers `reset` and `read` requests.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { MessageCounter } from './message-counter.js';
import type { ProxyRequest, ProxyResponse, WireCounts } from './wire-counts.js';

const [host = '127.0.0.1', portText = '5432', delayText = '0'] = process.argv.slice(2);
const targetPort = Number(portText);
const delayMillis = Number(delayText);

interface Link {
  readonly toServer: MessageCounter;
  readonly toClient: MessageCounter;
  /** Which side sent the last chunk: a client chunk after a server chunk starts a new round trip. */
  lastFromClient: boolean;
}

const links = new Set<Link>();
let base = {
  roundTrips: 0,
  clientMessages: 0,
  parseMessages: 0,
  serverMessages: 0,
  clientBytes: 0,
  serverBytes: 0,
};
const totals = {
  roundTrips: 0,
  clientBytes: 0,
  serverBytes: 0,
  closedClientMessages: 0,
  closedParseMessages: 0,
  closedServerMessages: 0,
};

function snapshot(): Omit<WireCounts, 'connections'> {
  let clientMessages = totals.closedClientMessages;
  let serverMessages = totals.closedServerMessages;
  let parseMessages = totals.closedParseMessages;
  for (const link of links) {
    clientMessages += link.toServer.messages;
    parseMessages += link.toServer.parses;
    serverMessages += link.toClient.messages;
  }
  return {
    roundTrips: totals.roundTrips,
    clientMessages,
    parseMessages,
    serverMessages,
    clientBytes: totals.clientBytes,
    serverBytes: totals.serverBytes,
  };
}

function forward(from: Socket, to: Socket, onChunk: (chunk: Buffer) => void): void {
  from.on('data', (chunk: Buffer) => {
    onChunk(chunk);
    if (delayMillis > 0) setTimeout(() => to.write(chunk), delayMillis);
    else to.write(chunk);
  });
  from.on('end', () => {
    if (delayMillis > 0) setTimeout(() => to.end(), delayMillis);
    else to.end();
  });
}

const server = createServer((client) => {
  client.setNoDelay(true);
  const upstream = createConnection({ host, port: targetPort });
  upstream.setNoDelay(true);
  const link: Link = {
    toServer: new MessageCounter(true),
    toClient: new MessageCounter(false),
    lastFromClient: false,
  };
  link.toServer.onEncryptionRequest = () => link.toClient.expectRawByte();
  links.add(link);
  forward(client, upstream, (chunk) => {
    if (!link.lastFromClient) totals.roundTrips++;
    link.lastFromClient = true;
    totals.clientBytes += chunk.length;
    link.toServer.feed(chunk);
  });
  forward(upstream, client, (chunk) => {
    link.lastFromClient = false;
    totals.serverBytes += chunk.length;
    link.toClient.feed(chunk);
  });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    totals.closedClientMessages += link.toServer.messages;
    totals.closedParseMessages += link.toServer.parses;
    totals.closedServerMessages += link.toClient.messages;
    links.delete(link);
    client.destroy();
    upstream.destroy();
  };
  client.on('close', close);
  upstream.on('close', close);
  client.on('error', close);
  upstream.on('error', close);
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('proxy has no port');
  process.send?.({ ready: address.port });
});

process.on('message', (request: ProxyRequest) => {
  const now = snapshot();
  if (request.kind === 'reset') base = now;
  const counts: WireCounts = {
    roundTrips: now.roundTrips - base.roundTrips,
    clientMessages: now.clientMessages - base.clientMessages,
    parseMessages: now.parseMessages - base.parseMessages,
    serverMessages: now.serverMessages - base.serverMessages,
    clientBytes: now.clientBytes - base.clientBytes,
    serverBytes: now.serverBytes - base.serverBytes,
    connections: links.size,
  };
  const response: ProxyResponse = { id: request.id, counts };
  process.send?.(response);
});

// The parent went away: nothing else will ever talk to us.
process.on('disconnect', () => process.exit(0));
