/** Where the integration tests' PostgreSQL server came from. */
export type PgServerKind = 'DATABASE_URL' | 'testcontainers' | 'embedded';

/** A PostgreSQL server the test run uses, and how to let it go. */
export interface TestServer {
  /** Where the server came from. */
  readonly kind: PgServerKind;
  /** Connects as a superuser to a maintenance database. Contains the password: never log it whole. */
  readonly adminUrl: string;
  /** Stops the server if this run started it (a no-op otherwise); rejects if it could not be stopped or cleaned up. */
  stop(): Promise<void>;
}
