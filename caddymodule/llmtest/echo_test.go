package llmtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestEchoAndFailEvery(t *testing.T) {
	s := NewOpenAI("e")
	defer s.Close()
	s.SetEcho("PL: ")
	s.SetFailEvery(3)
	var codes []int
	for i, text := range []string{"a", "b", "c", "d"} {
		body := `{"model":"m","messages":[{"role":"system","content":"sys"},{"role":"user","content":"` + text + `"}]}`
		resp, err := http.Post(s.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusOK && out.Choices[0].Message.Content != "PL: "+text {
			t.Errorf("call %d answered %q", i, out.Choices[0].Message.Content)
		}
	}
	if want := []int{200, 200, 500, 200}; !equal(codes, want) {
		t.Errorf("statuses %v, want %v", codes, want)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
