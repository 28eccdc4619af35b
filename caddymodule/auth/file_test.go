package auth

import (
	"strings"
	"testing"
)

func TestParseDocHuJSON(t *testing.T) {
	doc := `// keys
{
	"keys": [
		{
			"name": "alice", // the first key
			"sha256": "` + HashSecret("a") + `",
			"policy": {"models": ["*"], "endpoints": ["chat", "listing",], "rpm": 60},
			"created": "2026-11-01T00:00:00Z",
			"previous": [{"sha256": "` + HashSecret("old") + `", "valid_until": "2026-11-26T00:00:00Z"}],
		},
	],
}`
	recs, err := parseDoc([]byte(doc), "keys.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Name != "alice" || recs[0].Policy.RPM != 60 || len(recs[0].Previous) != 1 {
		t.Fatalf("parsed %+v", recs)
	}
}

func TestParseDocErrors(t *testing.T) {
	h := HashSecret("a")
	key := func(fields string) string { return `{"keys": [{` + fields + `}]}` }
	tests := []struct {
		name, doc, want string
	}{
		{"syntax", "{\n  \"keys\": [\n    {\"name\": }\n]}", "keys.json: hujson: line 3, column 14"},
		{"type", "{\n\"keys\": [{\"name\": 5}]}", "keys.json:2:"},
		{"unknown field", key(`"name": "a", "sha256": "` + h + `", "sha": 1`), `unknown field "sha"`},
		{"bad name", key(`"name": "a b", "sha256": "` + h + `"`), `keys[0]: name: want 1-64 characters`},
		{"empty name", key(`"sha256": "` + h + `"`), `keys[0]: name: want 1-64`},
		{"key as name", key(`"name": "sk-llmr-secretsecret", "sha256": "` + h + `"`), `keys[0]: name: looks like an API key`},
		{"bad hash", key(`"name": "a", "sha256": "abc"`), `keys[0] (a): sha256: want 64 hex digits`},
		{"plaintext key", key(`"name": "a", "sha256": "sk-llmr-notahashatallnotahashatallnotahashatallnotahashatall1234"`), `sha256: want 64 hex digits`},
		{"unknown family", key(`"name": "a", "sha256": "` + h + `", "policy": {"endpoints": ["chats"]}`), `unknown family "chats"`},
		{"negative rpm", key(`"name": "a", "sha256": "` + h + `", "policy": {"rpm": -1}`), `must not be negative`},
		{"previous without end", key(`"name": "a", "sha256": "` + h + `", "previous": [{"sha256": "` + HashSecret("b") + `"}]`), `previous[0].valid_until: missing`},
		{"duplicate name", `{"keys": [{"name": "a", "sha256": "` + h + `"}, {"name": "a", "sha256": "` + HashSecret("b") + `"}]}`, `keys[1] (a): duplicate name`},
		{"duplicate hash", `{"keys": [{"name": "a", "sha256": "` + h + `"}, {"name": "b", "sha256": "` + h + `"}]}`, `keys[1] (b): hash ` + h[:8] + `… appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseDoc([]byte(tt.doc), "keys.json")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parseDoc error = %v, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "keys.json") {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), h[:9]) || strings.Contains(err.Error(), "secretsecret") {
				t.Errorf("error %q shows more than 8 characters of a hash", err)
			}
		})
	}
}

func TestParseDocEmpty(t *testing.T) {
	for _, doc := range []string{"", "  \n", "{}", `{"keys": []}`} {
		recs, err := parseDoc([]byte(doc), "keys.json")
		if err != nil || len(recs) != 0 {
			t.Errorf("parseDoc(%q) = %v, %v; want no keys", doc, recs, err)
		}
	}
}
