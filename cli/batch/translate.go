package batch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/llmrouter/llm-router/client"
)

// Translator translates the accepted fields of each record through the
// router's translate endpoint. An output line is
// {"id": …, "<field>": "<translation>", …, "original": {"<field>": "<text>", …}}.
type Translator struct {
	Client *client.Client
	Model  string
	// Fields are the fields to translate (--accept-field).
	Fields []string
	// Options are the generation options sent with every request.
	Options client.Options
	// ItemRetries is how many times a text whose translation failed is sent
	// again on its own (default 2).
	ItemRetries int
}

// Check requires every accepted field to be present.
func (t *Translator) Check(r Record) error {
	var missing []string
	for _, f := range t.Fields {
		if _, ok := r.Fields[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("field %s not in the record (its fields: %s)", strings.Join(quote(missing), ", "), strings.Join(r.Names(), ", "))
	}
	return nil
}

func quote(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

// Process sends the batch's texts in one translate request, then sends each
// failed text again on its own. The answer's entries are checked against
// the texts sent (the router returns each text as "original"), so a record
// never receives another record's translation.
func (t *Translator) Process(ctx context.Context, batch []Record) []Result {
	type slot struct {
		rec   int
		field string
	}
	var texts []string
	var slots []slot
	outs := make([]map[string]any, len(batch))
	orig := make([]map[string]any, len(batch))
	errs := make([]error, len(batch))
	for i, r := range batch {
		outs[i] = map[string]any{"id": r.ID}
		orig[i] = map[string]any{}
		for _, f := range t.Fields {
			s, ok := r.Fields[f].(string)
			if !ok {
				if r.Fields[f] != nil {
					errs[i] = fmt.Errorf("field %q is not a string", f)
				}
				outs[i][f] = r.Fields[f]
				continue
			}
			orig[i][f] = s
			if strings.TrimSpace(s) == "" {
				outs[i][f] = s
				continue
			}
			texts = append(texts, s)
			slots = append(slots, slot{i, f})
		}
	}
	if len(texts) > 0 {
		got, itemErrs, err := t.translate(ctx, texts)
		if err != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = err
				}
			}
		} else {
			for k, sl := range slots {
				if itemErrs[k] != nil && errs[sl.rec] == nil {
					errs[sl.rec] = itemErrs[k]
				}
				outs[sl.rec][sl.field] = got[k]
			}
		}
	}
	res := make([]Result, len(batch))
	for i, r := range batch {
		outs[i]["original"] = orig[i]
		res[i] = Result{Rec: r, Out: outs[i], Err: errs[i]}
	}
	return res
}

// translate returns the translation of every text, with an error for each
// text that still failed after ItemRetries solo attempts.
func (t *Translator) translate(ctx context.Context, texts []string) ([]string, []error, error) {
	out := make([]string, len(texts))
	errs := make([]error, len(texts))
	res, err := t.Client.Translate(ctx, client.TextsRequest{Model: t.Model, Texts: texts, Options: t.Options})
	var api *client.APIError
	switch {
	case err != nil && len(texts) > 1 && errors.As(err, &api) && api.StatusCode >= 500:
		// Every text failed: each is retried below on its own.
		for i := range errs {
			errs[i] = err
		}
	case err != nil:
		return nil, nil, err
	default:
		for i, e := range res.Response {
			switch {
			case e.Original != texts[i]:
				return nil, nil, fmt.Errorf("%w: entry %d of the answer is for another text", client.ErrInvalidResponse, i)
			case e.Error != "":
				errs[i] = errors.New(e.Error)
			default:
				out[i] = e.Translated
			}
		}
	}
	retries := t.ItemRetries
	if retries == 0 {
		retries = 2
	}
	for i := range texts {
		for n := 0; errs[i] != nil && n < retries && ctx.Err() == nil; n++ {
			if n > 0 || len(texts) == 1 {
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(200<<n) * time.Millisecond):
				}
			}
			one, err := t.Client.Translate(ctx, client.TextsRequest{Model: t.Model, Texts: texts[i : i+1], Options: t.Options})
			switch {
			case err != nil:
				errs[i] = err
			case one.Response[0].Original != texts[i]:
				errs[i] = fmt.Errorf("%w: the answer is for another text", client.ErrInvalidResponse)
			case one.Response[0].Error != "":
				errs[i] = errors.New(one.Response[0].Error)
			default:
				out[i], errs[i] = one.Response[0].Translated, nil
			}
		}
	}
	return out, errs, nil
}
