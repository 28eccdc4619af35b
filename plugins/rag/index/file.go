package index

// WriteFile writes the index to path atomically (a temporary file in the
// same directory, synced, then renamed): a versioned header and the index's
// arrays, with a CRC-32C checksum of both.
func (ix *Index) WriteFile(path string) error {
	panic("not implemented yet")
}

// Open opens an index written by WriteFile. On unix the file is mapped
// read-only and searched in place; elsewhere it is read whole. A file that is
// not an index, of another format version, corrupt or truncated is an error
// wrapping ErrFormat that says which.
func Open(path string) (*Index, error) {
	panic("not implemented yet")
}

// Close releases the mapping of an opened index (a built one has nothing to
// release). The index must not be used afterwards, nor Close be called while
// a search runs.
func (ix *Index) Close() error {
	panic("not implemented yet")
}
