/**
 * Money transfers — like the classic Python `async with` transaction, which commits when the block succeeds and
 * rolls back when it raises. Shown: a transfer that commits (callback form and `await using` form), one that
 * rolls back on insufficient funds, a nested savepoint, and a serialization conflict resolved by retry.
 * Run it: `npm run example bank-transfer`.
 */
import { createPool, type Pool, type Transaction } from '../src/index.js'; // in your project: from 'pg-scope'

/** The application's own error: a transfer the balance does not cover. */
export class InsufficientFundsError extends Error {
  constructor(
    readonly account: string,
    readonly balance: number,
    readonly amount: number,
  ) {
    super(`insufficient funds: ${account} has ${balance.toFixed(2)}, needs ${amount.toFixed(2)}`);
    this.name = 'InsufficientFundsError';
  }
}

/**
 * Moves `amount` inside the caller's transaction. The balance check is explicit (and locks the row); the
 * table's CHECK (balance >= 0) stays as the last line of defence. Throwing here rolls the transaction back.
 */
async function transfer(tx: Transaction, from: string, to: string, amount: number): Promise<void> {
  const { rows } = await tx.query<{ balance: string }>(
    'select balance from bank_example.accounts where id = $1 for update',
    [from],
  );
  const balance = Number(rows[0]?.balance ?? 0);
  if (balance < amount) throw new InsufficientFundsError(from, balance, amount);
  await tx.query('update bank_example.accounts set balance = balance - $2 where id = $1', [from, amount]);
  await tx.query('update bank_example.accounts set balance = balance + $2 where id = $1', [to, amount]);
  await tx.query('insert into bank_example.ledger (from_account, to_account, amount) values ($1, $2, $3)', [
    from,
    to,
    amount,
  ]);
}

async function balances(pool: Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ id: string; balance: string }>(
    'select id, balance from bank_example.accounts order by id',
  );
  return Object.fromEntries(rows.map((r) => [r.id, Number(r.balance)]));
}

export async function main(connectionString: string) {
  await using pool = createPool({ connectionString, max: 4 });
  await pool.query(`
    drop schema if exists bank_example cascade;
    create schema bank_example;
    create table bank_example.accounts (
      id text primary key,
      balance numeric(12, 2) not null check (balance >= 0)
    );
    create table bank_example.ledger (
      id bigint generated always as identity primary key,
      from_account text not null references bank_example.accounts,
      to_account text not null references bank_example.accounts,
      amount numeric(12, 2) not null check (amount > 0)
    );
    insert into bank_example.accounts values ('alice', 100), ('bob', 50);
  `);

  // Commit, callback form: COMMIT when the callback resolves.
  await pool.transaction((tx) => transfer(tx, 'alice', 'bob', 30));
  console.log('alice -> bob 30: committed', await balances(pool));

  // Commit, `await using` form: commit is something you say. Without `await tx.commit()` the end of the block
  // rolls back.
  {
    await using tx = await pool.transaction();
    await transfer(tx, 'bob', 'alice', 10);
    await tx.commit();
  }
  console.log('bob -> alice 10: committed', await balances(pool));

  // Rollback: the callback throws, ROLLBACK is sent, and the caller gets the callback's error object.
  let refused = '';
  try {
    await pool.transaction((tx) => transfer(tx, 'bob', 'alice', 1_000));
  } catch (error) {
    if (!(error instanceof InsufficientFundsError)) throw error;
    refused = error.message;
    console.log(`bob -> alice 1000: rolled back (${error.message})`, await balances(pool));
  }

  // A nested transaction is a savepoint: its failure rolls back only its own work, and the outer transaction
  // goes on. Here the fee is optional: if bob cannot pay it, the main transfer still commits.
  const feePaid = await pool.transaction(async (tx) => {
    await transfer(tx, 'alice', 'bob', 20);
    return tx
      .transaction((savepoint) => transfer(savepoint, 'bob', 'alice', 500))
      .then(
        () => true,
        (error: unknown) => {
          if (!(error instanceof InsufficientFundsError)) throw error;
          return false;
        },
      );
  });
  console.log(`alice -> bob 20 with an optional fee (paid: ${feePaid}): committed`, await balances(pool));

  // Serialization conflict: two serializable transactions read the same balance, then both write it. The
  // second writer fails with SQLSTATE 40001; `retry` runs its callback again on a fresh transaction, which
  // sees the first one's result. Retry exists only in the callback form: it needs a callback to run again.
  const attempts: number[] = [0, 0];
  let bothRead: () => void = () => {};
  const barrier = new Promise<void>((resolve) => {
    bothRead = resolve;
  });
  let readers = 0;
  const overlapping = (index: number, amount: number) =>
    pool.transaction(
      async (tx) => {
        attempts[index] = (attempts[index] ?? 0) + 1;
        const { rows } = await tx.query<{ balance: string }>(
          "select balance from bank_example.accounts where id = 'alice'",
        );
        if (Number(rows[0]?.balance) < amount) throw new InsufficientFundsError('alice', 0, amount);
        if (attempts[index] === 1) {
          // Only so that this example's two first attempts overlap for sure: wait until both have read.
          if (++readers === 2) bothRead();
          await barrier;
        }
        await tx.query("update bank_example.accounts set balance = balance - $1 where id = 'alice'", [
          amount,
        ]);
        await tx.query("update bank_example.accounts set balance = balance + $1 where id = 'bob'", [amount]);
      },
      { isolation: 'serializable', retry: { maxAttempts: 5, baseDelayMillis: 10 } },
    );
  await Promise.all([overlapping(0, 5), overlapping(1, 7)]);
  console.log(
    `two overlapping serializable transfers: attempts ${attempts.join(' and ')}`,
    await balances(pool),
  );

  const final = await balances(pool);
  await pool.query('drop schema bank_example cascade');
  const { commits, rollbacks } = pool.stats();
  return { balances: final, refused, feePaid, attempts, commits, rollbacks };
}

if (import.meta.main) {
  const { runExample } = await import('./run.js');
  await runExample(main);
}
