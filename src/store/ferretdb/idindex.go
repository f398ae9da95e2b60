package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the SQLite driver FerretDB itself uses
)

// FerretDB v1.24's SQLite backend looks documents up by _id with the expression
// `_ferretdb_sjson->'$._id'`, but indexes _id as `_ferretdb_sjson->"_id"`. SQLite matches
// expression indexes textually, so every lookup by _id scans the whole table.
//
// For every collection table it creates, we rebuild its unique _id index (same name, still
// unique) on the expression it queries with. The two expressions name the same value, so the
// index still makes a second insert of an _id fail as a duplicate key, and every insert and
// update keeps one _id index up to date instead of two: each one parses the whole document.
// A table without FerretDB's index, or too large to rebuild in place, gets a plain lookup index.
const idLookupExpr = `_ferretdb_sjson->'$._id'`

// A rebuild holds SQLite's write lock while it reads the whole table (about 11 us a document):
// above this many rows a table keeps FerretDB's index plus a lookup index (correct, each write
// maintains both), so that neither a start nor FerretDB's writers wait on it for long.
const maxRebuildRows = 250_000

// Tables (file and name) left at the two-index layout, warned about once.
var tooLarge = map[string]bool{}

func indexTables(ctx context.Context, dir string, logger *slog.Logger) {
	files, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	if err != nil {
		return
	}
	for _, file := range files {
		if err := indexFile(ctx, file, logger); err != nil {
			logger.WarnContext(ctx, "could not index _id lookups", slog.String("file", file), slog.String("error", err.Error()))
		}
	}
}

func indexFile(ctx context.Context, file string, logger *slog.Logger) error {
	// _txlock=immediate: a transaction takes the write lock when it begins, so what it reads of
	// the schema stays true until it commits.
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_txlock=immediate")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	// FerretDB's tables: not its metadata, not SQLite's own (sqlite_stat1 after an ANALYZE).
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\_ferretdb%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, name)
	}
	rows.Close()

	// One table's failure (dropped meanwhile, locked too long) leaves the others to be indexed.
	var errs []error
	for _, table := range tables {
		if strings.ContainsAny(table, `"`) {
			continue
		}
		if err := indexTable(ctx, db, table, file, logger); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", table, err))
		}
	}
	return errors.Join(errs...)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// indexSQL is the CREATE statement of an index, "" if there is none.
func indexSQL(ctx context.Context, q querier, name string) (string, error) {
	var def string
	err := q.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, name).Scan(&def)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return def, err
}

// done says whether a table already has the layout we give it: read without a lock, as the
// check runs every few seconds beside FerretDB's writers.
func done(ctx context.Context, db *sql.DB, file, table string) (bool, error) {
	def, err := indexSQL(ctx, db, table+"__id_")
	if err != nil || strings.Contains(def, idLookupExpr) {
		return err == nil, err
	}
	if def != "" && !tooLarge[file+"\x00"+table] {
		return false, nil
	}
	lookup, err := indexSQL(ctx, db, table+"__id_lookup")
	return lookup != "", err
}

func indexTable(ctx context.Context, db *sql.DB, table, file string, logger *slog.Logger) error {
	if ok, err := done(ctx, db, file, table); ok || err != nil {
		return err
	}
	unique := table + "__id_" // the name FerretDB gives its _id index
	lookup := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "%s__id_lookup" ON "%s" (%s)`, table, table, idLookupExpr)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	def, err := indexSQL(ctx, tx, unique) // again, under the write lock
	switch {
	case err != nil:
		return err
	case strings.Contains(def, idLookupExpr):
		return nil
	case def == "":
		if _, err := tx.ExecContext(ctx, lookup); err != nil {
			return err
		}
		return tx.Commit()
	}
	var rowsEver sql.NullInt64 // the largest rowid: at least the rows there are, read from the b-tree's end
	if err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT max(rowid) FROM "%s"`, table)).Scan(&rowsEver); err != nil {
		return err
	}
	if rowsEver.Int64 > maxRebuildRows {
		if !tooLarge[file+"\x00"+table] {
			tooLarge[file+"\x00"+table] = true
			logger.WarnContext(ctx, "table too large to rebuild its _id index in place: it keeps FerretDB's index and a lookup index, so each write maintains both",
				slog.String("file", file), slog.String("table", table), slog.Int64("rows", rowsEver.Int64))
		}
		if _, err := tx.ExecContext(ctx, lookup); err != nil {
			return err
		}
		return tx.Commit()
	}
	// Our write lock keeps every writer out, so no duplicate _id can get in between the drop and
	// the create; a failure rolls back to FerretDB's index.
	for _, q := range []string{
		fmt.Sprintf(`DROP INDEX "%s"`, unique),
		fmt.Sprintf(`CREATE UNIQUE INDEX "%s" ON "%s" (%s)`, unique, table, idLookupExpr),
		fmt.Sprintf(`DROP INDEX IF EXISTS "%s__id_lookup"`, table),
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// keepIndexed adds the indexes now and whenever new tables may have appeared.
func keepIndexed(ctx context.Context, dir string, every time.Duration, logger *slog.Logger) {
	if _, err := os.Stat(dir); err != nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		indexTables(ctx, dir, logger)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
