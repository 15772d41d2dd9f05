import type { ClientConfig } from 'pg';
import { ConfigError } from '../errors.js';
import { checkOneOf, describeValue } from '../util/option-checks.js';

/** What `targetSessionAttrs` accepts: libpq's `target_session_attrs` values. */
export const TARGET_SESSION_ATTRS = [
  'any',
  'read-write',
  'read-only',
  'primary',
  'standby',
  'prefer-standby',
] as const;
/** Which server a connection may go to: see `PoolConfig.targetSessionAttrs`. */
export type TargetSessionAttrs = (typeof TARGET_SESSION_ATTRS)[number];

/** What `loadBalanceHosts` accepts: libpq's `load_balance_hosts` values. */
export const LOAD_BALANCE_MODES = ['disable', 'random'] as const;
/** In which order the hosts are tried: see `PoolConfig.loadBalanceHosts`. */
export type LoadBalanceMode = (typeof LOAD_BALANCE_MODES)[number];

/** One server of a multi-host configuration. */
export interface HostAddress {
  readonly host: string;
  /** Undefined: the driver's default (5432, or `PGPORT`). */
  readonly port: number | undefined;
}

/** The hosts a pool connects to, and how it picks one. Undefined for a plain single-host configuration. */
export interface HostPlan {
  readonly hosts: readonly HostAddress[];
  readonly targetSessionAttrs: TargetSessionAttrs;
  readonly loadBalanceHosts: LoadBalanceMode;
  /** The driver configuration for `hosts[index]`: `base` with that one host (in its connection string). */
  configFor(base: ClientConfig, index: number): ClientConfig;
}

/** The connection-string parameters this module consumes (pg does not know them). */
const URL_PARAMS = { target: 'target_session_attrs', balance: 'load_balance_hosts' } as const;

/** `scheme://[userinfo@]hostlist[/path][?query][#…]`, with the host list taken apart by hand (WHATWG URL cannot). */
const URL_PATTERN = /^(postgres(?:ql)?:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/i;

/** A `host[:port]` or `[v6]:port` item of a host list, as written in a URL. */
function parseHostItem(item: string, field: string): HostAddress {
  const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(item);
  const plain = /^([^:]*)(?::(\d*))?$/.exec(item);
  const match = bracketed ?? plain;
  if (match === null) throw new ConfigError(field, 'expected a list of host[:port] items');
  const [, host = '', port] = match;
  return { host: decodeURIComponent(host), port: port ? checkPort(Number(port), field) : undefined };
}

function checkPort(port: number, field: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ConfigError(field, `expected ports from 1 to 65535, got ${describeValue(port)}`);
  }
  return port;
}

/** The hosts of `host`/`port` fields: arrays, or libpq's comma-separated strings. */
function fieldHosts(hostField: unknown, portField: unknown): HostAddress[] | undefined {
  const hosts =
    typeof hostField === 'string' ? hostField.split(',') : Array.isArray(hostField) ? hostField : undefined;
  if (hosts === undefined) return undefined;
  if (hosts.length === 0 || hosts.some((h) => typeof h !== 'string' || h === '')) {
    throw new ConfigError(
      'host',
      `expected a host name or a non-empty list of them, got ${describeValue(hostField)}`,
    );
  }
  const ports =
    portField === undefined
      ? []
      : typeof portField === 'string'
        ? portField.split(',').map(Number)
        : Array.isArray(portField)
          ? portField.map(Number)
          : [Number(portField)];
  if (ports.length > 1 && ports.length !== hosts.length) {
    throw new ConfigError(
      'port',
      `expected one port, or one per host (${hosts.length}), got ${ports.length}`,
    );
  }
  for (const p of ports) checkPort(p, 'port');
  return hosts.map((host, i) => ({ host: host as string, port: ports.length > 1 ? ports[i] : ports[0] }));
}

/**
 * Reads the hosts from a pool configuration: several hosts in a `postgres://` connection string (libpq's
 * `postgres://u@db1:5432,db2:5432/app`), or `host` (and `port`) as arrays or comma-separated strings. The
 * options win over the connection string's `target_session_attrs` / `load_balance_hosts`. Returns undefined
 * for one host and no `targetSessionAttrs` (nothing to choose). Throws `ConfigError` naming the field.
 */
export function parseHostPlan(
  config: Readonly<Record<string, unknown>>,
  targetOption: unknown,
  balanceOption: unknown,
): HostPlan | undefined {
  const url = typeof config.connectionString === 'string' ? URL_PATTERN.exec(config.connectionString) : null;
  let hosts: HostAddress[] | undefined;
  let urlTarget: string | undefined;
  let urlBalance: string | undefined;
  if (url !== null) {
    const [, , , hostList = '', rest = ''] = url;
    const items = hostList.split(',');
    // One host stays as written (pg reports what it cannot parse, when it connects).
    hosts =
      items.length > 1
        ? items.map((item) => parseHostItem(item, 'connectionString'))
        : [{ host: hostList, port: undefined }];
    const query = new URLSearchParams(/\?([^#]*)/.exec(rest)?.[1] ?? '');
    urlTarget = query.get(URL_PARAMS.target) ?? undefined;
    urlBalance = query.get(URL_PARAMS.balance) ?? undefined;
  } else {
    hosts = fieldHosts(config.host, config.port);
    if (hosts !== undefined && hosts.length < 2) hosts = undefined;
  }
  const several = hosts !== undefined && hosts.length > 1;
  const choosing = [targetOption, urlTarget, balanceOption, urlBalance].some((v) => v !== undefined);
  if (!several && !choosing) return undefined;
  const targetSessionAttrs = checkOneOf(
    targetOption !== undefined ? 'targetSessionAttrs' : 'connectionString target_session_attrs',
    targetOption ?? urlTarget ?? (several ? 'read-write' : 'any'),
    TARGET_SESSION_ATTRS,
  );
  const loadBalanceHosts = checkOneOf(
    balanceOption !== undefined ? 'loadBalanceHosts' : 'connectionString load_balance_hosts',
    balanceOption ?? urlBalance ?? 'disable',
    LOAD_BALANCE_MODES,
  );
  const list: readonly HostAddress[] = hosts ?? [
    { host: String(config.host ?? 'localhost'), port: optionalPort(config.port) },
  ];
  return Object.freeze({
    hosts: Object.freeze(list),
    targetSessionAttrs,
    loadBalanceHosts,
    configFor: (base: ClientConfig, index: number) =>
      configForHost(base, list[index] as HostAddress, url, list.length === 1),
  });
}

function optionalPort(port: unknown): number | undefined {
  return port === undefined ? undefined : Number(port);
}

/** `base` aimed at one host: its connection string rewritten to name only that host, or host/port set. */
function configForHost(
  base: ClientConfig,
  address: HostAddress,
  url: RegExpExecArray | null,
  only: boolean,
): ClientConfig {
  const config: ClientConfig = { ...base };
  if (url !== null && typeof base.connectionString === 'string') {
    const [, scheme = '', userInfo = '', hostList = '', rest = ''] = url;
    if (only) {
      config.connectionString = `${scheme}${userInfo}${hostList}${withoutOurParams(rest)}`;
      return config;
    }
    const host = address.host.includes(':') ? `[${address.host}]` : encodeURIComponent(address.host);
    const port = address.port === undefined ? '' : `:${address.port}`;
    config.connectionString = `${scheme}${userInfo}${host}${port}${withoutOurParams(rest)}`;
    return config;
  }
  config.host = address.host;
  if (address.port === undefined) delete config.port;
  else config.port = address.port;
  return config;
}

/** The path and query of a connection string less `target_session_attrs` and `load_balance_hosts`. */
function withoutOurParams(rest: string): string {
  const match = /^([^?#]*)(?:\?([^#]*))?(#.*)?$/.exec(rest);
  if (match === null || match[2] === undefined) return rest;
  const query = new URLSearchParams(match[2]);
  query.delete(URL_PARAMS.target);
  query.delete(URL_PARAMS.balance);
  const text = query.toString();
  return `${match[1] ?? ''}${text ? `?${text}` : ''}${match[3] ?? ''}`;
}

/** `host:port` for log lines (never a password: hosts carry none). */
export function hostLabel(address: HostAddress): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return address.port === undefined ? host : `${host}:${address.port}`;
}
