// sqlite: a small driver over SQLite's amalgamation (built from Debian's sqlite3 source, musl-gcc
// -static) that works with an on-disk database in /tmp with SQLite's default locking (fcntl record
// locks) and rollback journal: a table, 10,000 inserts in one transaction, an index, aggregate
// queries, a second connection kept out by the first one's write lock, PRAGMA integrity_check,
// and the database read again through a fresh connection. The build runs it natively and the
// scenario requires the same bytes from the personality.
// Invariant: every line printed depends only on SQL results, never on time or addresses.
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "sqlite3.h"

static int print_row(void* label, int columns, char** values, char** names) {
  (void)names;
  printf("%s:", (const char*)label);
  for (int i = 0; i < columns; ++i) printf(" %s", values[i] != NULL ? values[i] : "NULL");
  printf("\n");
  return 0;
}

static void run(sqlite3* database, const char* label, const char* sql) {
  char* error = NULL;
  int result = sqlite3_exec(database, sql, print_row, (void*)label, &error);
  if (result != SQLITE_OK) {
    printf("%s: error %d %s\n", label, result, error != NULL ? error : "");
    sqlite3_free(error);
  }
}

int main(void) {
  const char* path = "/tmp/test.db";
  sqlite3* database;
  if (sqlite3_open(path, &database) != SQLITE_OK) {
    printf("open failed: %s\n", sqlite3_errmsg(database));
    return 1;
  }
  printf("sqlite %s\n", sqlite3_libversion());
  run(database, "journal", "PRAGMA journal_mode");
  run(database, "create", "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL, value INTEGER, score REAL)");
  run(database, "begin", "BEGIN");
  sqlite3_stmt* insert;
  sqlite3_prepare_v2(database, "INSERT INTO t(name, value, score) VALUES (?, ?, ?)", -1, &insert, NULL);
  for (int i = 1; i <= 10000; ++i) {
    char name[32];
    snprintf(name, sizeof name, "n%05d", (i * 7919) % 10007);
    sqlite3_bind_text(insert, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(insert, 2, (int)(((unsigned)i * 2654435761u) % 1000u));
    sqlite3_bind_double(insert, 3, i / 4.0);
    if (sqlite3_step(insert) != SQLITE_DONE) {
      printf("insert %d failed: %s\n", i, sqlite3_errmsg(database));
      return 1;
    }
    sqlite3_reset(insert);
  }
  sqlite3_finalize(insert);
  run(database, "commit", "COMMIT");
  run(database, "index", "CREATE INDEX t_value ON t(value)");
  run(database, "totals", "SELECT count(*), sum(value), min(name), max(name), avg(score) FROM t");
  run(database, "groups", "SELECT value, count(*), min(id) FROM t WHERE value < 4 GROUP BY value ORDER BY value");
  run(database, "plan", "EXPLAIN QUERY PLAN SELECT id FROM t WHERE value = 3");
  run(database, "top", "SELECT name, value FROM t ORDER BY value DESC, name LIMIT 3");
  run(database, "update", "UPDATE t SET value = value + 1 WHERE id % 100 = 0");
  run(database, "delete", "DELETE FROM t WHERE id > 9990");
  run(database, "changed", "SELECT count(*), sum(value) FROM t");

  // A second connection: the first one's write transaction keeps it out (SQLITE_BUSY), then not.
  sqlite3* other;
  sqlite3_open(path, &other);
  run(database, "begin-immediate", "BEGIN IMMEDIATE");
  run(database, "write-in-transaction", "INSERT INTO t(name, value, score) VALUES ('late', 1, 0)");
  run(other, "other-write", "INSERT INTO t(name, value, score) VALUES ('other', 2, 0)");
  run(other, "other-read", "SELECT count(*) FROM t");
  run(database, "commit-again", "COMMIT");
  run(other, "other-write-after", "INSERT INTO t(name, value, score) VALUES ('other', 2, 0)");
  run(other, "other-read-after", "SELECT count(*) FROM t");
  sqlite3_close(other);

  run(database, "integrity", "PRAGMA integrity_check");
  run(database, "pages", "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size");
  sqlite3_close(database);

  struct stat file;
  if (stat(path, &file) == 0) printf("file bytes %lld\n", (long long)file.st_size);
  struct stat journal;
  printf("journal gone %d\n", stat("/tmp/test.db-journal", &journal) != 0);

  if (sqlite3_open(path, &database) != SQLITE_OK) return 1;
  run(database, "reopened", "SELECT count(*), sum(value), max(id) FROM t");
  run(database, "index-used", "SELECT count(*) FROM t INDEXED BY t_value WHERE value BETWEEN 10 AND 19");
  run(database, "integrity-again", "PRAGMA integrity_check");
  sqlite3_close(database);
  return 0;
}
