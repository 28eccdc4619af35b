// Package prompts is the system-prompt library of the built-in task endpoints.
//
// Prompts are text files named <id>.prompt, kept per language. The embedded
// library (resources/prompts) uses the layout
//
//	<lang>/<id>.prompt          e.g. pl/builtin/system/translate-to-pl.prompt
//
// and an override directory (LLM_ROUTER_PROMPTS_DIR) may use that layout or the
// original system's one, where the language is a directory inside the id:
//
//	builtin/system/<lang>/<name>.prompt
//
// Both resolve to the same (id, language) pair, e.g. id
// "builtin/system/translate-to-pl", language "pl". A file on disk wins over the
// embedded one. A file with no language directory in its path is
// language-neutral: it answers for every language that has no file of its own.
//
// Prompt texts may contain ##NAME## placeholders, filled by [Fill].
package prompts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// Ext is the file extension of prompt files.
const Ext = ".prompt"

// ErrNotFound reports a prompt id that the library does not hold in any language.
var ErrNotFound = errors.New("prompt not found")

// ErrLanguage reports a prompt id that exists, but not in the requested language.
var ErrLanguage = errors.New("prompt not available in this language")

type key struct{ lang, id string }

// Library is an immutable set of prompts, safe for concurrent use.
type Library struct {
	texts map[key]string
	langs map[string][]string // id → languages holding it, sorted
}

// New loads every *.prompt file from embedded (rooted at the prompts directory,
// i.e. holding "pl/…" and "en/…"; may be nil) and then from overrideDir (may be
// empty), whose files replace embedded ones with the same id and language.
// A non-empty overrideDir that does not exist is an error.
func New(embedded fs.FS, overrideDir string) (*Library, error) {
	l := &Library{texts: map[key]string{}, langs: map[string][]string{}}
	if embedded != nil {
		if err := l.load(embedded, "embedded prompts"); err != nil {
			return nil, err
		}
	}
	if overrideDir != "" {
		st, err := os.Stat(overrideDir)
		if err != nil {
			return nil, fmt.Errorf("prompts directory: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("prompts directory %s: not a directory", overrideDir)
		}
		if err := l.load(os.DirFS(overrideDir), overrideDir); err != nil {
			return nil, err
		}
	}
	for k := range l.texts {
		l.langs[k.id] = append(l.langs[k.id], k.lang)
	}
	for _, v := range l.langs {
		sort.Strings(v)
	}
	return l, nil
}

func (l *Library) load(fsys fs.FS, where string) error {
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, Ext) {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		lang, id := split(strings.TrimSuffix(p, Ext))
		l.texts[key{lang, id}] = string(b)
		return nil
	})
	if err != nil {
		return fmt.Errorf("loading %s: %w", where, err)
	}
	return nil
}

// split turns a slash-separated path (without extension) into a language and
// a language-free id. The language is the first path element that looks like
// a language code (two lowercase letters) and is not the last element.
func split(p string) (lang, id string) {
	parts := strings.Split(p, "/")
	for i := 0; i < len(parts)-1; i++ {
		if isLang(parts[i]) {
			rest := append(append([]string{}, parts[:i]...), parts[i+1:]...)
			return parts[i], strings.Join(rest, "/")
		}
	}
	return "", p
}

func isLang(s string) bool {
	return len(s) == 2 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z'
}

// Get returns the text of prompt id in language lang. The id is
// language-free ("builtin/system/translate-to-pl"); an id in the original
// form ("builtin/system/pl/translate-to-pl") is accepted too, and its
// language is used when lang is empty. When the language has no file but a
// language-neutral one exists, that one is returned. Errors wrap
// [ErrNotFound] or [ErrLanguage].
func (l *Library) Get(id, lang string) (string, error) {
	id = strings.Trim(path.Clean(strings.TrimSuffix(id, Ext)), "/")
	if idLang, bare := split(id); idLang != "" {
		id = bare
		if lang == "" {
			lang = idLang
		}
	}
	if t, ok := l.texts[key{lang, id}]; ok {
		return t, nil
	}
	if t, ok := l.texts[key{"", id}]; ok {
		return t, nil
	}
	have := l.langs[id]
	if len(have) == 0 {
		return "", fmt.Errorf("prompt %q: %w", id, ErrNotFound)
	}
	return "", fmt.Errorf("prompt %q in language %q (available: %s): %w",
		id, lang, strings.Join(have, ", "), ErrLanguage)
}

// Languages returns the languages that hold prompt id, sorted ("" stands for
// a language-neutral file).
func (l *Library) Languages(id string) []string {
	return append([]string(nil), l.langs[id]...)
}

// Fill replaces every ##NAME## placeholder in text whose NAME is a key of
// vars with its value, in one pass: values are inserted literally and never
// scanned for further placeholders. Unknown placeholders stay as they are.
// A key may be given either as NAME or as ##NAME##.
func Fill(text string, vars map[string]string) string {
	if len(vars) == 0 || !strings.Contains(text, "##") {
		return text
	}
	var b strings.Builder
	rest := text
	for {
		i := strings.Index(rest, "##")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i+2:], "##")
		if j < 0 {
			break
		}
		name := rest[i+2 : i+2+j]
		v, ok := lookup(vars, name)
		if !ok {
			// Not ours: keep one '#' and rescan, since a real placeholder
			// may start right after it ("###N##", "##x ##N##").
			b.WriteString(rest[:i+1])
			rest = rest[i+1:]
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(text) + len(v))
		}
		b.WriteString(rest[:i])
		b.WriteString(v)
		rest = rest[i+2+j+2:]
	}
	if b.Len() == 0 && len(rest) == len(text) {
		return text
	}
	b.WriteString(rest)
	return b.String()
}

func lookup(vars map[string]string, name string) (string, bool) {
	if name == "" || strings.ContainsAny(name, " \t\r\n#") {
		return "", false
	}
	if v, ok := vars[name]; ok {
		return v, true
	}
	v, ok := vars["##"+name+"##"]
	return v, ok
}
