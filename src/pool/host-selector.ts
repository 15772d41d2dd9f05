import type pg from 'pg';
import type { Logger } from 'pino';
import { LogEvent } from '../logging/events.js';
import { errorCode } from '../util/error-code.js';
import { HostHealth, hostSequence } from './host-health.js';
import { type HostPlan, hostLabel, type TargetSessionAttrs } from './hosts.js';
import { watchParameters } from './pg-client-internals.js';
import {
  ROLE_QUERY,
  roleFromParameters,
  roleFromRow,
  roleMatches,
  type SessionRole,
} from './session-role.js';

/** The targets for which "the server" is the primary: a change of server is a failover (`host.switched`). */
const WANTS_PRIMARY: ReadonlySet<TargetSessionAttrs> = new Set<TargetSessionAttrs>(['read-write', 'primary']);

const NOT_WHAT_IT_WAS = 'the server is no longer what the connection was chosen for';

/** What the selector needs from the connection factory: one attempt at one host, and closing a client. */
export interface HostConnector {
  /** One connection attempt with `config`; rejects (the client closed) when it fails. */
  open(config: pg.ClientConfig): Promise<pg.Client>;
  /** Closes a client the selector does not want. Never rejects. */
  close(client: pg.Client): Promise<void>;
  /** A pooled client must not be reused: its server is no longer what it was chosen for. */
  markBroken(client: pg.Client, why: Error): void;
}

/** No host answered as `targetSessionAttrs` asks (yet: a failover may be under way). Transient: `08001`. */
export class NoMatchingHostError extends Error {
  /** SQLSTATE class 08 (client unable to establish connection): a retry may succeed. */
  readonly code = '08001';
}

/**
 * Picks the server of each new connection of a multi-host pool, as libpq does with `target_session_attrs`
 * and `load_balance_hosts`: the hosts in order (or shuffled), each judged by the role its startup report
 * shows, the first acceptable one kept. Remembers which hosts were down or of the wrong role (see
 * `HostHealth`), logs `host.switched` when new connections go to another server than before, and tells the
 * pool (`onRoleChanged`) when a host turned out to be no longer what its pooled connections were chosen for.
 */
export class HostSelector {
  readonly #plan: HostPlan;
  readonly #log: Logger;
  readonly #health: HostHealth;
  readonly #connector: HostConnector;
  readonly #hostOf = new WeakMap<pg.Client, number>();
  /** Each client's ParameterStatus reports, from its first moment. */
  readonly #parameters = new WeakMap<pg.Client, ReadonlyMap<string, string>>();
  /** The open connections this selector chose, so a host that changed role can have them dropped. */
  readonly #open = new Set<pg.Client>();
  #last: number | undefined;

  constructor(plan: HostPlan, log: Logger, connector: HostConnector) {
    this.#plan = plan;
    this.#log = log;
    this.#connector = connector;
    this.#health = new HostHealth(plan.hosts.length);
  }

  /**
   * Call before `connect()` on every client: keeps its startup report, and marks it broken when the server
   * reports a role on an open session that no longer matches (PostgreSQL reports a promotion's
   * `in_hot_standby` with the answer to the session's next query).
   */
  watch(client: pg.Client): void {
    const parameters = watchParameters(client, () => {
      if (this.#open.has(client) && this.roleChanged(client, parameters)) {
        this.#drop(client);
      }
    });
    this.#parameters.set(client, parameters);
  }

  /** The connection was closed: forget it. */
  forget(client: pg.Client): void {
    this.#open.delete(client);
  }

  /** The index of the host a client of this selector is connected to. */
  hostOf(client: pg.Client): number | undefined {
    return this.#hostOf.get(client);
  }

  /** One connection: tries the hosts once each; rejects with the last failure, or NoMatchingHostError. */
  async connect(base: pg.ClientConfig): Promise<pg.Client> {
    const connector = this.#connector;
    const plan = this.#plan;
    const target = plan.targetSessionAttrs;
    const order = this.#health.order(
      hostSequence(plan.hosts.length, plan.loadBalanceHosts === 'random'),
      target,
      performance.now(),
    );
    let lastError: unknown;
    const tried: string[] = [];
    let answered = false;
    // prefer-standby: the first server that answered, kept in case no host is a standby (libpq's second pass).
    let fallback: { client: pg.Client; index: number } | undefined;
    for (const index of order) {
      const label = hostLabel(plan.hosts[index] as (typeof plan.hosts)[number]);
      let client: pg.Client;
      try {
        client = await connector.open(plan.configFor(base, index));
      } catch (err) {
        this.#health.noteDown(index, performance.now());
        lastError = err;
        tried.push(`${label} (${errorCode(err) ?? 'failed'})`);
        continue;
      }
      let role: SessionRole;
      try {
        role = await judge(client, this.#parameters.get(client) ?? new Map());
      } catch (err) {
        void connector.close(client);
        this.#health.noteDown(index, performance.now());
        lastError = err;
        tried.push(`${label} (${errorCode(err) ?? 'failed'})`);
        continue;
      }
      this.#noteRole(index, role);
      answered = true;
      if (roleMatches(target, role)) {
        if (fallback) void connector.close(fallback.client);
        return this.#chosen(client, index);
      }
      tried.push(`${label} (${role.standby ? 'standby' : role.readOnly ? 'read-only' : 'read-write'})`);
      if (target === 'prefer-standby' && fallback === undefined) fallback = { client, index };
      else void connector.close(client);
    }
    if (fallback) return this.#chosen(fallback.client, fallback.index);
    if (!answered) throw lastError;
    throw new NoMatchingHostError(
      `no host matched targetSessionAttrs '${target}' (tried ${tried.join(', ')})`,
      lastError === undefined ? undefined : { cause: lastError },
    );
  }

  /**
   * A statement on `client` failed: SQLSTATE 25006 (read-only transaction) on a pool that wants a writable
   * server means its host is no longer the primary. Returns true when the client must not be reused.
   */
  noteQueryError(client: pg.Client, err: unknown): boolean {
    if (errorCode(err) !== '25006') return false;
    const target = this.#plan.targetSessionAttrs;
    if (!WANTS_PRIMARY.has(target)) return false;
    const index = this.#hostOf.get(client);
    if (index !== undefined) this.#noteRole(index, { standby: target === 'primary', readOnly: true });
    return true;
  }

  /**
   * The server reported new values on an open session of `client`: true when its role no longer matches
   * `targetSessionAttrs` (the connection must not be reused).
   */
  roleChanged(client: pg.Client, parameters: ReadonlyMap<string, string>): boolean {
    const role = roleFromParameters(parameters);
    const index = this.#hostOf.get(client);
    if (role === undefined || index === undefined) return false;
    this.#noteRole(index, role);
    const target = this.#plan.targetSessionAttrs;
    // prefer-standby accepts any server once chosen; the others must still match.
    return target !== 'prefer-standby' && !roleMatches(target, role);
  }

  /** A chosen connection must not be reused (once per connection). */
  #drop(client: pg.Client): void {
    if (!this.#open.delete(client)) return;
    this.#connector.markBroken(client, new Error(NOT_WHAT_IT_WAS));
  }

  #noteRole(index: number, role: SessionRole): void {
    const before = this.#health.noteRole(index, role, performance.now());
    const target = this.#plan.targetSessionAttrs;
    if (before !== undefined && roleMatches(target, before) && !roleMatches(target, role)) {
      for (const client of this.#open) {
        if (this.#hostOf.get(client) === index) this.#drop(client);
      }
    }
  }

  #chosen(client: pg.Client, index: number): pg.Client {
    this.#hostOf.set(client, index);
    this.#open.add(client);
    const previous = this.#last;
    this.#last = index;
    if (previous !== undefined && previous !== index && WANTS_PRIMARY.has(this.#plan.targetSessionAttrs)) {
      const hosts = this.#plan.hosts;
      this.#log.warn(
        {
          event: LogEvent.hostSwitched,
          from: hostLabel(hosts[previous] as (typeof hosts)[number]),
          to: hostLabel(hosts[index] as (typeof hosts)[number]),
        },
        'new connections go to another server',
      );
    }
    return client;
  }
}

/** The session's role: from the startup report, or (servers before 14) one query. */
async function judge(client: pg.Client, parameters: ReadonlyMap<string, string>): Promise<SessionRole> {
  const reported = roleFromParameters(parameters);
  if (reported) return reported;
  const result = await client.query<{ standby: boolean; read_only: boolean }>(ROLE_QUERY);
  return roleFromRow(result.rows[0] as { standby: boolean; read_only: boolean });
}
