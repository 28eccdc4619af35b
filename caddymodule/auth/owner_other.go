//go:build !unix

package auth

import (
	"io/fs"
	"os"
)

// keepOwner does nothing where file ownership is not Unix-like.
func keepOwner(*os.File, fs.FileInfo) {}

// keepGroup does nothing where file ownership is not Unix-like.
func keepGroup(*os.File, fs.FileInfo) {}

// inode is unknown here.
func inode(fs.FileInfo) uint64 { return 0 }

// account is a user that must be able to read the keys file; never checked here.
type account struct{ name string }

// lookupAccount finds nothing where file ownership is not Unix-like.
func lookupAccount(string) (*account, error) { return nil, nil }

func (a *account) canRead(string, fs.FileInfo) error { return nil }

func (a *account) readable() string { return "" }

func ownerText(fs.FileInfo) string { return "owner unknown" }
