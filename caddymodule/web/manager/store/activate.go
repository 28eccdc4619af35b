package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Activate records that revision of config id is what the routers serve. It
// checks only that u may see the config and that the revision exists: whether
// u may activate and whether the document is valid is the caller's decision.
// On PostgreSQL it also sends NOTIFY llm_router_manager_active (delivered at
// commit) with the new Seq as payload.
func (s *Store) Activate(ctx context.Context, u User, id, revision int64) (Activation, error) {
	var a Activation
	err := s.tx(ctx, func(tx *sql.Tx) error {
		v, err := s.version(ctx, tx, u, id, revision)
		if err != nil {
			return err
		}
		a, err = scanActivation(tx.QueryRowContext(ctx, s.q(
			"INSERT INTO activations (config_id, revision, doc, by_user, at) VALUES (?, ?, ?, ?, ?) RETURNING "+activationCols),
			id, revision, v.Doc, u.Name, millis(s.now())))
		if err != nil {
			return dbErr("activate", err)
		}
		if s.pg && s.pgNotify {
			if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", notifyChannel, fmt.Sprint(a.Seq)); err != nil {
				return dbErr("notify", err)
			}
		}
		return nil
	})
	return a, err
}

const activationCols = "seq, config_id, revision, doc, by_user, at"

func scanActivation(r scanner) (Activation, error) {
	var (
		a  Activation
		at int64
	)
	if err := r.Scan(&a.Seq, &a.ConfigID, &a.Revision, &a.Doc, &a.By, &at); err != nil {
		return Activation{}, err
	}
	a.At = fromMillis(at)
	return a, nil
}

// Active returns the newest activation; false when there is none.
func (s *Store) Active(ctx context.Context) (Activation, bool, error) {
	a, err := scanActivation(s.db.QueryRowContext(ctx, "SELECT "+activationCols+" FROM activations ORDER BY seq DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return Activation{}, false, nil
	}
	if err != nil {
		return Activation{}, false, dbErr("active config", err)
	}
	return a, true, nil
}

// newer returns the newest activation if its Seq is above after. It reads
// only the sequence number until there is something new: WaitActive calls it
// in a loop and documents are up to MaxDocSize.
func (s *Store) newer(ctx context.Context, after int64) (Activation, bool, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, "SELECT seq FROM activations ORDER BY seq DESC LIMIT 1").Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && seq <= after) {
		return Activation{}, false, nil
	}
	if err != nil {
		return Activation{}, false, dbErr("active config", err)
	}
	a, err := scanActivation(s.db.QueryRowContext(ctx, s.q("SELECT "+activationCols+" FROM activations WHERE seq = ?"), seq))
	if err != nil {
		return Activation{}, false, dbErr("active config", err)
	}
	return a, true, nil
}

// WaitActive blocks until there is an activation with Seq > afterSeq and
// returns the newest one, or until ctx ends (ctx's error). It uses
// LISTEN/NOTIFY on PostgreSQL (with a slow poll as a safety net) and polling
// on SQLite. A failed query is returned as an error: the caller (a fleet
// follower) retries with a backoff, so an unreachable database shows in its
// log instead of hanging silently.
func (s *Store) WaitActive(ctx context.Context, afterSeq int64) (Activation, error) {
	interval := s.poll
	if s.pg {
		conn, err := pgx.Connect(ctx, s.url)
		if err != nil {
			return Activation{}, fmt.Errorf("store: listen: %w", err)
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn.Close(cctx)
		}()
		if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
			return Activation{}, fmt.Errorf("store: listen: %w", err)
		}
		// Listening before the first look: an activation committed between
		// the two is seen by one or the other.
		for {
			if a, ok, err := s.newer(ctx, afterSeq); err != nil || ok {
				return a, err
			}
			if s.waiting != nil {
				s.waiting()
			}
			wctx, cancel := context.WithTimeout(ctx, s.safety)
			_, err := conn.WaitForNotification(wctx)
			cancel()
			if ctx.Err() != nil {
				return Activation{}, ctx.Err()
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return Activation{}, fmt.Errorf("store: listen: %w", err)
			}
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if a, ok, err := s.newer(ctx, afterSeq); err != nil || ok {
			return a, err
		}
		if s.waiting != nil {
			s.waiting()
		}
		select {
		case <-ctx.Done():
			return Activation{}, ctx.Err()
		case <-t.C:
		}
	}
}
