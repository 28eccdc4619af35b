//go:build !unix

package audit

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir opens dir/.lock; on this platform no lock is taken.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: lock: %w", err)
	}
	return f, nil
}
