declare module 'pg-cursor' {
  /** pg-cursor's Submittable: `client.query(new Cursor(text, values))`, then `read(n)` until it returns []. */
  export default class Cursor<R = Record<string, unknown>> {
    constructor(text: string, values?: unknown[]);
    submit(connection: unknown): void;
    read(rows: number): Promise<R[]>;
    close(): Promise<void>;
  }
}
