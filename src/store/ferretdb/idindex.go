package main

import (
	"context"
	"database/sql"
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
// expression indexes textually, so every lookup by _id scans the whole table. We add an index
// on the expression FerretDB queries with, for every collection table it creates.
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
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "%s__id_lookup" ON "%s" (%s)`, table, table, idLookupExpr)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
	}
	return nil
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
