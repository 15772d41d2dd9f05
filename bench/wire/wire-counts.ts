/** What the delay proxy counted since its last reset (all connections together). */
export interface WireCounts {
  /** Client→server bursts that followed a server answer (or opened the connection). */
  readonly roundTrips: number;
  /** Protocol messages sent by the clients. */
  readonly clientMessages: number;
  /** Parse messages sent by the clients (0 for a statement already prepared on its connection). */
  readonly parseMessages: number;
  /** Protocol messages sent by the server. */
  readonly serverMessages: number;
  readonly clientBytes: number;
  readonly serverBytes: number;
  /** Connections open through the proxy now. */
  readonly connections: number;
}

/** Parent → proxy: zero the counters (`reset`) or just read them. */
export interface ProxyRequest {
  readonly id: number;
  readonly kind: 'reset' | 'read';
}

/** Proxy → parent: the counts (for `reset`, those just before zeroing). */
export interface ProxyResponse {
  readonly id: number;
  readonly counts: WireCounts;
}
