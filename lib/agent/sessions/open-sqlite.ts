import type BetterSqlite3 from 'better-sqlite3';

// Internal: no public declaration imports this file, so better-sqlite3's types stay out of an app
// that does not install it (the stores keep their database handles private).

/**
 * Opens a SQLite database for one of the library's stores: WAL mode (readers
 * never block the writer), NORMAL sync (durable across process crashes), and
 * a 5 s busy timeout for other processes sharing the file.
 */
export function openSqlite(path: string, user: string): BetterSqlite3.Database {
  const Database = loadBetterSqlite3(user);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Loads the optional `better-sqlite3` peer dependency, or says how to install it. */
export function loadBetterSqlite3(user = 'SqliteSessionStore'): typeof BetterSqlite3 {
  try {
    // Loaded lazily: better-sqlite3 is an optional peer dependency.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('better-sqlite3') as typeof BetterSqlite3;
  } catch (error) {
    throw new Error(
      `${user} needs the "better-sqlite3" package: run \`npm install better-sqlite3@12\`. (${(error as Error).message})`,
    );
  }
}
