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
// A table without FerretDB's index gets a plain lookup index, as before.
const idLookupExpr = `_ferretdb_sjson->'$._id'`

func indexTables(ctx context.Context, dir string, logger *slog.Logger) {
	files, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	if err != nil {
		return
	}
	for _, file := range files {
		if err := indexFile(ctx, file); err != nil {
			logger.WarnContext(ctx, "could not add _id lookup indexes", slog.String("file", file), slog.String("error", err.Error()))
		}
	}
}

func indexFile(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\_ferretdb%' ESCAPE '\'`)
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

	for _, table := range tables {
		if strings.ContainsAny(table, `"`) {
			continue
		}
		if err := indexTable(ctx, db, table); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
	}
	return nil
}

func indexTable(ctx context.Context, db *sql.DB, table string) error {
	unique := table + "__id_" // the name FerretDB gives its _id index
	var def string
	err := db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, unique).Scan(&def)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = db.ExecContext(ctx, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "%s__id_lookup" ON "%s" (%s)`, table, table, idLookupExpr))
		return err
	case err != nil:
		return err
	case strings.Contains(def, idLookupExpr):
		return nil
	}
	// One transaction: our write lock keeps every writer out, so no duplicate _id can get in
	// between the drop and the create; a failure rolls back to FerretDB's index.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
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
