package activate

import (
	"os"
	"path/filepath"
	"testing"
)

// An activation writes through an operator's symlink: the link stays, the
// file it points to gets the new document with the activation's mode.
func TestWriteFileKeepsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "kept", "models-config.json")
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte(`{"old": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "models-config.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(link, []byte(`{"new": true}`)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(link)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced: %v %v", fi.Mode(), err)
	}
	got, err := os.ReadFile(target)
	if err != nil || string(got) != `{"new": true}` {
		t.Fatalf("target holds %q, %v", got, err)
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != FileMode {
		t.Errorf("target mode %v, want %v", st.Mode().Perm(), FileMode)
	}
	// A dangling link is an error, not a file written beside it.
	dangling := filepath.Join(dir, "dangling.json")
	if err := os.Symlink(filepath.Join(dir, "nowhere", "x.json"), dangling); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(dangling, []byte(`{}`)); err == nil {
		t.Fatal("a dangling symlink was written through")
	}
}
