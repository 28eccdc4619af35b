//go:build unix

package auth

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// keepOwner gives f the owner and group of the file described by fi, when
// the process may (root, or a group it belongs to); otherwise it does nothing.
func keepOwner(f *os.File, fi fs.FileInfo) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		_ = f.Chown(int(st.Uid), int(st.Gid))
	}
}

// keepGroup gives f the group of the directory described by di, when the
// process may.
func keepGroup(f *os.File, di fs.FileInfo) {
	if st, ok := di.Sys().(*syscall.Stat_t); ok {
		_ = f.Chown(-1, int(st.Gid))
	}
}

// inode returns the file's inode number, which changes when a file is
// replaced by rename; 0 if unknown.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// account is a user that must be able to read the keys file.
type account struct {
	name string
	uid  int
	gids []int
}

// lookupAccount finds a local user and its groups; nil without error when
// name is empty or there is no such user (no service installed here).
func lookupAccount(name string) (*account, error) {
	if name == "" {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		if _, unknown := err.(user.UnknownUserError); unknown {
			return nil, nil
		}
		return nil, fmt.Errorf("looking up the service user %q: %w", name, err)
	}
	a := &account{name: name}
	if a.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("service user %q: uid %q", name, u.Uid)
	}
	gids, _ := u.GroupIds()
	gids = append(gids, u.Gid)
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil && !slices.Contains(a.gids, n) {
			a.gids = append(a.gids, n)
		}
	}
	return a, nil
}

// may reports whether the account has permission bit (4 read, 1 search) on
// a file with the given owner, group and mode.
func (a *account) may(st *syscall.Stat_t, mode fs.FileMode, bit fs.FileMode) bool {
	switch {
	case a.uid == 0:
		return true
	case int(st.Uid) == a.uid:
		return mode&(bit<<6) != 0
	case slices.Contains(a.gids, int(st.Gid)):
		return mode&(bit<<3) != 0
	default:
		return mode&bit != 0
	}
}

// canRead checks that the account can reach and read path once it has the
// owner and mode of fi; the error says how to fix it.
func (a *account) canRead(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if di, err := os.Stat(dir); err == nil {
			if dst, ok := di.Sys().(*syscall.Stat_t); ok && !a.may(dst, di.Mode().Perm(), 1) {
				return fmt.Errorf("refusing to write %s: the service user %s could not reach it, because it may not enter %s (%s, mode %04o); "+
					"fix: chgrp %s %s && chmod g+x %s, or pass --service-user '' if no llm-router service reads this file",
					path, a.name, dir, ownerText(di), di.Mode().Perm(), a.name, dir, dir)
			}
		}
		if next := filepath.Dir(dir); next == dir {
			break
		}
	}
	if !a.may(st, fi.Mode().Perm(), 4) {
		return fmt.Errorf("refusing to write %s: the service user %s could not read it (%s, mode %04o), and with auth on the service would stop; "+
			"fix: chgrp %s %s && chmod 0640 %s, then run the command again (or pass --service-user '' if no llm-router service reads this file)",
			path, a.name, ownerText(fi), fi.Mode().Perm(), a.name, path, path)
	}
	return nil
}

// readable is the note's suffix naming who can read the file.
func (a *account) readable() string {
	if a == nil {
		return ""
	}
	return ", readable by the service user " + a.name
}

// ownerText renders a file's owner and group by name where known.
func ownerText(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "owner unknown"
	}
	u, g := strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
	if x, err := user.LookupId(u); err == nil {
		u = x.Username
	}
	if x, err := user.LookupGroupId(g); err == nil {
		g = x.Name
	}
	return u + ":" + g
}
