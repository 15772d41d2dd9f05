import type pg from 'pg';

/**
 * Which statements can carry others in their Sync (see `queryWithAhead` in pg-queries.ts): pure checks of the
 * query's config, made before anything is written.
 */

/**
 * True when `text` is one statement (no `;` but, at most, one at its end) and not a COPY. The extended
 * protocol takes one statement per Parse, where pg's simple protocol would run several: a text with a `;`
 * anywhere else (even inside a literal or a comment, which this does not tell apart) keeps the simple protocol.
 */
function oneStatement(text: string): boolean {
  // COPY … FROM STDIN without a copy stream: the simple protocol fails it at once (pg answers CopyFail); in
  // the extended one the server would wait for a Sync it ignored while copying.
  if (/^\s*copy\b/i.test(text)) return false;
  const semicolon = text.indexOf(';');
  return semicolon === -1 || text.slice(semicolon + 1).trim() === '';
}

/**
 * True when `config` can be sent in the extended protocol with statements written ahead of it in its Sync,
 * and nothing else of pg's depends on its Parse being the first answered: an unnamed statement without
 * `rows`, not a custom Submittable, not in `queryMode: 'simple'`, with a non-empty text. One with values goes
 * in the extended protocol anyway; one without goes there too when its text is a single statement (see
 * {@link oneStatement}); one pg would send as several statements in one Query message never carries any.
 */
export function canCarryAhead(config: string | pg.QueryConfig, values: unknown[] | undefined): boolean {
  let text: unknown = config;
  let own: unknown = values;
  if (typeof config !== 'string') {
    const c = config as pg.QueryConfig & { rows?: unknown; queryMode?: unknown; submit?: unknown };
    if (
      c.name !== undefined ||
      c.rows !== undefined ||
      typeof c.submit === 'function' ||
      c.queryMode === 'simple'
    )
      return false;
    text = c.text;
    own = values ?? c.values;
  }
  // pg sends an empty text in the simple protocol, whatever the values.
  if (typeof text !== 'string' || text === '') return false;
  if (own === undefined) return oneStatement(text);
  return Array.isArray(own) && (own.length > 0 || oneStatement(text));
}
