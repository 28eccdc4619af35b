package activate

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/web/manager/store"
)

// Source is where the active config comes from; *store.Store is one.
type Source interface {
	// Active returns the newest activation, ok false when there is none.
	Active(ctx context.Context) (act store.Activation, ok bool, err error)
	// WaitActive returns the newest activation with Seq > afterSeq,
	// waiting for one.
	WaitActive(ctx context.Context, afterSeq int64) (store.Activation, error)
}

var _ Source = (*store.Store)(nil)

// Retry bounds for a database that is down.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// Follow makes this instance serve the active config of src until ctx ends:
// the current one first (a no-op when it is already served), then each new
// activation. Each one is validated before the swap; a refused one (or one
// this instance cannot apply: ErrCannotApply) is logged and the instance
// keeps what it serves; other failures are retried. Database errors are retried
// with backoff (Follow survives a database restart). It returns ctx's error.
//
// Run it in a goroutine with the Caddy module's context (caddy.Context, or
// a child of it): applying reloads Caddy, which cancels that context before
// the old module's Cleanup runs, so Cleanup may wait for Follow to return;
// the new config's module starts its own Follow, which finds the document
// already served.
func Follow(ctx context.Context, src Source, a *Applier, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	var seq int64
	backoff := minBackoff
	wait := func() error {
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(backoff*2, maxBackoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	first := true
	for {
		var act store.Activation
		var ok bool
		var err error
		if first {
			act, ok, err = src.Active(ctx)
		} else {
			act, err = src.WaitActive(ctx, seq)
			ok = err == nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			log.Warn("config manager: waiting for the active config", zap.Error(err), zap.Duration("retry_in", backoff))
			if err := wait(); err != nil {
				return err
			}
			continue
		}
		backoff = minBackoff
		first = false
		if !ok {
			continue // nothing activated yet: wait for the first
		}
		seq = act.Seq
		if err := apply(ctx, src, a, act, log, wait); err != nil {
			return err
		}
	}
}

// apply applies one activation, retrying with backoff while it fails for
// another reason than the validator's refusal, until it succeeds or a newer
// activation supersedes it; it returns only ctx's error.
func apply(ctx context.Context, src Source, a *Applier, act store.Activation, log *zap.Logger, wait func() error) error {
	for {
		res, err := a.Apply(ctx, act.Doc)
		var ve *ValidationError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &ve), errors.Is(err, ErrCannotApply):
			log.Error("config manager: activation refused; serving the previous config",
				zap.Int64("seq", act.Seq), zap.Int64("config", act.ConfigID), zap.Int64("revision", act.Revision), zap.Error(err))
			return nil
		case err != nil:
			log.Error("config manager: activation failed; retrying", zap.Int64("seq", act.Seq), zap.Error(err))
			if err := wait(); err != nil {
				return err
			}
			if cur, ok, err := src.Active(ctx); err == nil && ok && cur.Seq > act.Seq {
				log.Warn("config manager: activation superseded by a newer one before it could be applied",
					zap.Int64("seq", act.Seq), zap.Int64("newer_seq", cur.Seq))
				return nil // Follow waits for activations after act.Seq: the newer one comes at once
			}
			continue
		case res.Reloaded:
			log.Info("config manager: now serving the active config",
				zap.Int64("seq", act.Seq), zap.Int64("config", act.ConfigID), zap.Int64("revision", act.Revision),
				zap.String("by", act.By))
		}
		return nil
	}
}
