package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Result is the answer of a task, before encoding.
type Result struct {
	// Response is the value of the "response" field: a string
	// (conversations, generative_answer), an [Article], or one entry per
	// text ([]Translation, []Questions, []*string for simplify_text).
	Response any
	// Errors lists the texts of a per-text task that failed; their entries
	// in Response keep their place.
	Errors []ItemError
}

// ItemError is the failure of one text of a per-text task.
type ItemError struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// Article is the response of the article endpoints.
type Article struct {
	ArticleText string `json:"article_text"`
}

// Translation is one entry of the translate response.
type Translation struct {
	Original   string `json:"original"`
	Translated string `json:"translated"`
	Error      string `json:"error,omitempty"`
}

// Questions is one entry of the generate_questions response.
type Questions struct {
	Text      string   `json:"text"`
	Questions []string `json:"questions"`
	Error     string   `json:"error,omitempty"`
}

// Run sends the task's calls through c (per-text calls concurrently, at most
// Config.Concurrency at once) and shapes the response. A per-text task
// succeeds when at least one text does; the failed ones are reported in
// Result.Errors. When every call fails, Run returns the first error.
func (s *Service) Run(ctx context.Context, t *Task, c Completer) (Result, error) {
	if !t.PerText() {
		if len(t.Calls) != 1 {
			return Result{}, &internalError{fmt.Errorf("%s: task has %d calls, want 1", t.Endpoint, len(t.Calls))}
		}
		text, err := complete(ctx, c, t.Model, t.Calls[0], t.Options)
		if err != nil {
			return Result{}, err
		}
		if t.Endpoint == ArticleFromText || t.Endpoint == FullArticle {
			return Result{Response: Article{text}}, nil
		}
		return Result{Response: text}, nil
	}

	outs, errs := s.each(ctx, c, t)
	var res Result
	for i, err := range errs {
		if err != nil {
			res.Errors = append(res.Errors, ItemError{i, err.Error()})
		}
	}
	if len(res.Errors) == len(errs) && len(errs) > 0 {
		return Result{}, errs[0]
	}
	errText := func(i int) string {
		if errs[i] != nil {
			return errs[i].Error()
		}
		return ""
	}
	switch t.Endpoint {
	case Translate:
		out := make([]Translation, len(outs))
		for i := range outs {
			out[i] = Translation{Original: t.Texts[i], Translated: outs[i], Error: errText(i)}
		}
		res.Response = out
	case GenerateQuestions:
		out := make([]Questions, len(outs))
		for i := range outs {
			qs := []string{}
			if errs[i] == nil {
				qs = parseQuestions(outs[i])
			}
			out[i] = Questions{Text: t.Texts[i], Questions: qs, Error: errText(i)}
		}
		res.Response = out
	default: // simplify_text
		out := make([]*string, len(outs))
		for i := range outs {
			if errs[i] == nil {
				out[i] = &outs[i]
			}
		}
		res.Response = out
	}
	return res, nil
}

// each runs every call of t with a bounded pool of workers; results and
// errors are indexed like t.Calls. It returns when every worker has.
func (s *Service) each(ctx context.Context, c Completer, t *Task) ([]string, []error) {
	n := len(t.Calls)
	outs := make([]string, n)
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(s.cfg.Concurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				outs[i], errs[i] = complete(ctx, c, t.Model, t.Calls[i], t.Options)
			}
		})
	}
	wg.Wait()
	return outs, errs
}

// complete calls c, turning a panic into an error so one bad call cannot take
// the process down from a worker goroutine.
func complete(ctx context.Context, c Completer, model string, msgs []Message, o Options) (text string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &internalError{fmt.Errorf("completer panicked: %v", r)}
		}
	}()
	return c.Complete(ctx, model, msgs, o)
}

// parseQuestions extracts the questions from a model's answer: when some
// lines are enumerated ("1. …", "2) …") only those are kept (dropping any
// preamble); otherwise every non-empty line, bullet stripped.
func parseQuestions(s string) []string {
	var numbered, plain []string
	for _, ln := range strings.Split(s, "\n") {
		ln = strings.TrimSpace(ln)
		if ln == "" {
			continue
		}
		if q, ok := stripNumber(ln); ok {
			if q != "" {
				numbered = append(numbered, q)
			}
			continue
		}
		for _, bullet := range []string{"- ", "* ", "• "} {
			ln = strings.TrimSpace(strings.TrimPrefix(ln, bullet))
		}
		if ln != "" {
			plain = append(plain, ln)
		}
	}
	if len(numbered) > 0 {
		return numbered
	}
	if plain == nil {
		return []string{}
	}
	return plain
}

// stripNumber removes a leading "N." or "N)" enumeration.
func stripNumber(ln string) (string, bool) {
	i := 0
	for i < len(ln) && ln[i] >= '0' && ln[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(ln) || (ln[i] != '.' && ln[i] != ')') {
		return ln, false
	}
	return strings.TrimSpace(ln[i+1:]), true
}

// Encode renders a result as the endpoints' JSON envelope:
// {"response": …, "generation_time": seconds, "errors": […]} (errors only
// when some text failed).
func Encode(res Result, elapsed time.Duration) ([]byte, error) {
	env := struct {
		Response       any         `json:"response"`
		GenerationTime float64     `json:"generation_time"`
		Errors         []ItemError `json:"errors,omitempty"`
	}{res.Response, elapsed.Seconds(), res.Errors}
	return marshal(env)
}

// EncodeError renders err as the router's error object for built-in
// endpoints and returns it with its status (see [Status]):
// {"error": {"message", "type": "builtin_error", "param", "code"}, "status": false}.
// param names the offending field of a [FieldError], else it is null.
func EncodeError(err error) (int, []byte) {
	code := Status(err)
	var param *string
	var fe *FieldError
	if errors.As(err, &fe) && fe.Field != "" {
		param = &fe.Field
	}
	type body struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    int     `json:"code"`
	}
	b, mErr := marshal(struct {
		Error  body `json:"error"`
		Status bool `json:"status"`
	}{body{err.Error(), "builtin_error", param, code}, false})
	if mErr != nil {
		return http.StatusInternalServerError, []byte(`{"error":{"message":"internal error","type":"builtin_error","param":null,"code":500},"status":false}`)
	}
	return code, b
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding response: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Handle runs endpoint name on a request body without streaming (a caller
// that streams checks Task.Stream after [Service.Prepare] instead) and
// returns the status and JSON body for the client. generation_time counts
// from the call to Handle.
func (s *Service) Handle(ctx context.Context, name string, body []byte, c Completer) (int, []byte) {
	start := time.Now()
	t, err := s.Prepare(name, body)
	if err != nil {
		return EncodeError(err)
	}
	res, err := s.Run(ctx, t, c)
	if err != nil {
		return EncodeError(err)
	}
	b, err := Encode(res, time.Since(start))
	if err != nil {
		return EncodeError(&internalError{err})
	}
	return http.StatusOK, b
}
