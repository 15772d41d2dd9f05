import { UnsupportedStatementError } from '../errors.js';

/** Leading whitespace and comments, skipped before a statement is classified. */
const LEADING = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/;
const BARE_BEGIN = /^(?:begin(?:\s+(?:work|transaction))?|start\s+transaction)\s*;?\s*$/i;
const BARE_COMMIT = /^(?:commit|end)(?:\s+(?:work|transaction))?\s*;?\s*$/i;
const BARE_ROLLBACK = /^(?:rollback|abort)(?:\s+(?:work|transaction))?\s*;?\s*$/i;
/** `ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name`: the tool's own savepoint, passed through. */
const ROLLBACK_TO = /^rollback(?:\s+(?:work|transaction))?\s+to\b/i;
const TX_CONTROL = /^(?:begin|start\s+transaction|commit|end|rollback|abort)\b/i;

/** What a statement sent inside a joined transaction is, as far as the view cares. */
export type Control = 'begin' | 'commit' | 'rollback' | 'refuse' | undefined;

/**
 * @internal How the view treats `text` inside a joined transaction: a bare BEGIN / COMMIT / ROLLBACK maps to a
 * savepoint; transaction control anywhere else (with options, or in any statement of a multi-statement text)
 * is refused; everything else (the tool's own SAVEPOINT / ROLLBACK TO included) runs as written.
 */
export function classifyControl(text: string): Control {
  const parts = statements(text);
  if (parts.length <= 1) return classifyOne(parts[0] ?? '');
  return parts.some((part) => classifyOne(part) !== undefined) ? 'refuse' : undefined;
}

function classifyOne(statement: string): Control {
  const s = statement.replace(LEADING, '');
  if (BARE_BEGIN.test(s)) return 'begin';
  if (BARE_COMMIT.test(s)) return 'commit';
  if (BARE_ROLLBACK.test(s)) return 'rollback';
  if (ROLLBACK_TO.test(s)) return undefined;
  return TX_CONTROL.test(s) ? 'refuse' : undefined;
}

const DOLLAR_TAG = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/;

/**
 * Splits `text` at the semicolons that end statements, skipping quoted strings and identifiers, dollar-quoted
 * bodies and comments; empty statements are dropped. A scan, not a parser: an `E'…\''` escape may end a
 * string early, which can only make the view refuse, never skip a statement it should have seen.
 */
function statements(text: string): string[] {
  if (!text.includes(';')) return [text];
  const out: string[] = [];
  const n = text.length;
  let start = 0;
  let i = 0;
  const skipTo = (end: number, width: number) => {
    i = end < 0 ? n : end + width;
  };
  while (i < n) {
    const ch = text[i];
    const next = text[i + 1];
    if (ch === "'" || ch === '"') skipTo(text.indexOf(ch, i + 1), 1);
    else if (ch === '-' && next === '-') skipTo(text.indexOf('\n', i), 1);
    else if (ch === '/' && next === '*') skipTo(text.indexOf('*/', i + 2), 2);
    else if (ch === '$' && DOLLAR_TAG.test(text.slice(i, i + 66))) {
      const tag = DOLLAR_TAG.exec(text.slice(i, i + 66))?.[0] ?? '$$';
      skipTo(text.indexOf(tag, i + tag.length), tag.length);
    } else {
      if (ch === ';') {
        out.push(text.slice(start, i));
        start = i + 1;
      }
      i++;
    }
  }
  out.push(text.slice(start));
  return out.filter((part) => part.replace(LEADING, '').length > 0);
}

/** The error for transaction control the view cannot map onto a savepoint; `why` says what was wrong. */
export function refusal(text: string, why: string): UnsupportedStatementError {
  const head = text.replace(LEADING, '').slice(0, 40).split(/\s+/).slice(0, 3).join(' ').toUpperCase();
  return new UnsupportedStatementError(
    `refused "${head.replace(/[^A-Z ;]/g, '')}…" through pgPool() inside a pg-scope transaction: ${why}; ` +
      'send transaction control as its own statement, or use the transaction API (nothing was sent)',
  );
}
