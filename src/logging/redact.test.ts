import { describe, expect, it } from 'vitest';
import { credentialRedactor, MAX_TEXT_CHARS, Redactor, redactCredentials } from './redact.js';

describe('redactCredentials', () => {
  it('removes the password of a postgres URL and keeps the user and host', () => {
    expect(redactCredentials('at postgres://app:S3cret@db:5432/app now')).toBe(
      'at postgres://app:[redacted]@db:5432/app now',
    );
    expect(redactCredentials('POSTGRESQL://app:pw@db/x')).toBe('POSTGRESQL://app:[redacted]@db/x');
    // A password may hold ':' and '/', as the old pattern allowed.
    expect(redactCredentials('postgres://u:a:b/c@h/d')).toBe('postgres://u:[redacted]@h/d');
  });

  it('removes every URL password in a text, and only those', () => {
    const text = 'postgres://a:one@h1/x and postgresql://b:two@h2/y, http://c:three@h3/z';
    expect(redactCredentials(text)).toBe(
      'postgres://a:[redacted]@h1/x and postgresql://b:[redacted]@h2/y, http://c:three@h3/z',
    );
  });

  it('leaves URLs without a password alone', () => {
    for (const text of [
      'postgres://app@db/app',
      'postgres://db/app',
      'postgres://app:',
      'postgres://a:b c@d',
    ]) {
      expect(redactCredentials(text)).toBe(text);
    }
  });

  it('removes password= parameters', () => {
    expect(redactCredentials('postgres://u@h/d?sslmode=require&password=PW1&x=1')).toBe(
      'postgres://u@h/d?sslmode=require&password=[redacted]&x=1',
    );
    expect(redactCredentials('PASSWORD=PW2 host=h')).toBe('PASSWORD=[redacted] host=h');
  });

  it('with cut, treats a URL password running to the end of the text as a password', () => {
    expect(redactCredentials('postgres://u:PARTIAL', true)).toBe('postgres://u:[redacted]');
    expect(redactCredentials('postgres://u:PARTIAL', false)).toBe('postgres://u:PARTIAL');
  });

  it('is linear: 156 KB of "postgres://a:" repeated, or of "password=", takes milliseconds', () => {
    for (const unit of ['postgres://a:', 'password=', 'postgres://a:b@']) {
      const text = unit.repeat(Math.ceil(160_000 / unit.length));
      const started = performance.now();
      redactCredentials(text);
      redactCredentials(text, true);
      // The old backtracking pattern took seconds here; a loaded 2-core machine stays far below this.
      expect(performance.now() - started).toBeLessThan(250);
    }
  });
});

describe('Redactor', () => {
  const redactor = new Redactor(['p@ss w0rd', undefined, '', 'postgres://app:p%40ss%20w0rd@db/app']);

  it('replaces literal secrets, their URL-encoded form, and the connection string whole', () => {
    expect(redactor.text('pw p@ss w0rd; url postgres://app:p%40ss%20w0rd@db/app; enc p%40ss%20w0rd')).toBe(
      'pw [redacted]; url [redacted]; enc [redacted]',
    );
  });

  it('cuts text longer than 8 KB and notes the original length', () => {
    const long = 'x'.repeat(208_000);
    const out = redactor.text(long);
    expect(MAX_TEXT_CHARS).toBe(8_192);
    expect(out.startsWith('x'.repeat(MAX_TEXT_CHARS))).toBe(true);
    expect(out).toContain('[truncated: 208000 characters in all]');
    expect(out.length).toBeLessThan(MAX_TEXT_CHARS + 100);
  });

  it('never leaves part of a secret or URL password at the cut', () => {
    // The secret starts just before the cut and ends after it.
    const literal = redactor.text(`${'y'.repeat(MAX_TEXT_CHARS - 4)}p@ss w0rd${'z'.repeat(20_000)}`);
    expect(literal).not.toContain('p@ss');
    // A URL password that starts before the cut and whose '@' lies far beyond it.
    const url = redactor.text(
      `${'y'.repeat(MAX_TEXT_CHARS - 30)}postgres://u:LONGPASSWORD${'q'.repeat(20_000)}@h`,
    );
    expect(url).toContain('postgres://u:[redac');
    expect(url).not.toContain('LONGP');
    expect(url).toContain('[truncated:');
  });

  it('stays fast on huge inputs: only the head is searched', () => {
    const text = 'postgres://a:'.repeat(4_000_000);
    const started = performance.now();
    const out = redactor.text(text);
    // A search of all 52 million characters takes seconds; a loaded machine may add ~100 ms to the head's.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(out).toContain(`[truncated: ${text.length} characters in all]`);
    expect(out.length).toBeLessThan(20_000);
  });

  it('summarises an error: type, message, server fields, stack and cause, with text cut', () => {
    const cause = Object.assign(new TypeError('Invalid URL'), { input: 'postgres://u:SECRET@h:x/d' });
    const err = Object.assign(new Error(`boom ${'m'.repeat(20_000)}`, { cause }), {
      code: '22P02',
      detail: 'see postgres://u:SECRET@h/d',
      where: 'SQL with values',
    });
    const out = redactor.error(err);
    expect(out).toMatchObject({ type: 'Error', code: '22P02', detail: 'see postgres://u:[redacted]@h/d' });
    expect(out).not.toHaveProperty('where');
    expect(String(out.message)).toContain('[truncated: 20005 characters in all]');
    expect(String(out.stack)).toMatch(/^Error: boom m+… \[truncated: 20005 characters in all\]\n\s+at /);
    expect(out.cause).toEqual({ type: 'TypeError', message: 'Invalid URL', stack: expect.any(String) });
    expect(JSON.stringify(out)).not.toContain('SECRET');
  });

  it('summarises odd thrown values without throwing', () => {
    const throwing = new Proxy(new Error('hidden'), {
      get() {
        throw new Error('no reading');
      },
    });
    const cases: unknown[] = [
      Object.create(null),
      Object.assign(Object.create(null), { message: 'null-proto message', code: 'X1' }),
      Symbol('thrown'),
      throwing,
      Object.freeze({ message: 'frozen' }),
      Object.freeze(new Error('frozen error')),
      undefined,
      null,
      42,
    ];
    for (const value of cases) {
      expect(() => credentialRedactor.error(value)).not.toThrow();
      expect(typeof credentialRedactor.error(value).message).toBe('string');
    }
    expect(credentialRedactor.error(cases[1])).toEqual({
      type: 'object',
      message: 'null-proto message',
      code: 'X1',
    });
    expect(credentialRedactor.error(cases[2]).message).toBe('Symbol(thrown)');
  });

  it('follows a cause cycle only a few levels deep', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(() => JSON.stringify(credentialRedactor.error(a))).not.toThrow();
  });
});
