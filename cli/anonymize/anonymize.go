// Package anonymize is `llm-router anonymize [FILE]`: it masks personal
// data in a file or stdin locally with fast_masker (and, when --pii-url is
// given, the external PII service after it), prints the masked text and,
// with --mappings FILE, writes the placeholder → original mapping.
package anonymize

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	fastmasker "github.com/llmrouter/llm-router/plugins/fast_masker"
	piimasker "github.com/llmrouter/llm-router/plugins/pii_masker"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "anonymize",
		Usage: "[FILE] [--mappings FILE] [--pii-url URL] [--only TAGS | --disable TAGS]",
		Short: "Masks personal data in a file or stdin with fast_masker",
		Long: `
Masks personal data (e-mail addresses, phone numbers, PESEL, IBAN, …) in FILE,
or stdin when FILE is absent or "-", with the router's fast_masker, locally:
nothing leaves the machine unless --pii-url names a PII service, which then
masks the text after fast_masker. The masked text goes to stdout; the
mapping of placeholders to the original values goes to --mappings FILE
(created mode 0600; it holds the personal data), never to the terminal.

  llm-router anonymize letter.txt --mappings letter.map.json > letter.masked.txt
  echo "Write to jan@example.com" | llm-router anonymize
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Args = cobra.MaximumNArgs(1)
			f := cmd.Flags()
			f.String("mappings", "", "write the placeholder → original mapping (JSON) to this file")
			f.String("pii-url", os.Getenv("LLM_ROUTER_MASKER_PII_HOST"), "PII service base URL (default $LLM_ROUTER_MASKER_PII_HOST); empty: fast_masker only")
			f.Duration("pii-timeout", 30*time.Second, "timeout of a PII service call")
			f.StringSlice("only", nil, "mask only these tags (e.g. EMAIL,PHONE)")
			f.StringSlice("disable", nil, "do not mask these tags")
			cmd.RunE = run
		},
	})
}

// MaxInput bounds the input read.
const MaxInput = 64 << 20

// Options configure [Mask].
type Options struct {
	Only, Disable []string
	// PII is the PII service (nil: none).
	PII *piimasker.Masker
}

// Mask masks r into w and returns the mapping. Every line is masked with
// one fast_masker session, so a value keeps its placeholder throughout;
// with a PII service the fast-masked text then goes to the service, whole.
func Mask(ctx context.Context, r io.Reader, w io.Writer, o Options) (map[string]string, error) {
	var opts []fastmasker.Option
	for _, t := range append(append([]string(nil), o.Only...), o.Disable...) {
		if !fastmasker.KnownTag(strings.ToUpper(t)) {
			return nil, fmt.Errorf("unknown tag %q (known: %s)", t, strings.Join(fastmasker.Tags(), ", "))
		}
	}
	if len(o.Only) > 0 {
		opts = append(opts, fastmasker.Only(upper(o.Only)...))
	}
	if len(o.Disable) > 0 {
		opts = append(opts, fastmasker.Disable(upper(o.Disable)...))
	}
	m := fastmasker.New(opts...)
	var s fastmasker.Session
	br := bufio.NewReaderSize(io.LimitReader(r, MaxInput+1), 64<<10)
	var out strings.Builder // only with a PII service, which needs the whole text
	bw := bufio.NewWriter(w)
	var n int64
	for {
		line, err := br.ReadString('\n')
		n += int64(len(line))
		if n > MaxInput {
			return nil, fmt.Errorf("input larger than %d bytes", MaxInput)
		}
		if len(line) > 0 {
			masked := m.Mask(line, &s)
			if o.PII != nil {
				out.WriteString(masked)
			} else if _, werr := bw.WriteString(masked); werr != nil {
				return nil, werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading: %w", err)
		}
	}
	mappings := s.Mappings()
	if mappings == nil {
		mappings = map[string]string{}
	}
	if o.PII != nil {
		texts, pm, err := o.PII.MaskTexts(ctx, []string{out.String()})
		if err != nil {
			return nil, fmt.Errorf("PII service: %w", err)
		}
		if _, err := bw.WriteString(texts[0]); err != nil {
			return nil, err
		}
		maps.Copy(mappings, pm)
	}
	return mappings, bw.Flush()
}

func upper(tags []string) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = strings.ToUpper(t)
	}
	return out
}

func run(c *cobra.Command, args []string) error {
	c.SilenceUsage = true
	f := c.Flags()
	mapPath, _ := f.GetString("mappings")
	piiURL, _ := f.GetString("pii-url")
	piiTimeout, _ := f.GetDuration("pii-timeout")
	var o Options
	o.Only, _ = f.GetStringSlice("only")
	o.Disable, _ = f.GetStringSlice("disable")
	in := io.Reader(c.InOrStdin())
	if len(args) == 1 && args[0] != "-" {
		file, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer file.Close()
		in = file
	}
	if piiURL != "" {
		pm, err := piimasker.New(piimasker.Config{Host: piiURL, Timeout: piiTimeout, CacheSize: -1})
		if err != nil {
			return fmt.Errorf("--pii-url: %w", err)
		}
		defer pm.Close()
		o.PII = pm
	}
	ctx := c.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	mappings, err := Mask(ctx, in, c.OutOrStdout(), o)
	if err != nil {
		return err
	}
	if mapPath == "" {
		return nil
	}
	b, err := json.MarshalIndent(mappings, "", "  ")
	if err != nil {
		return err
	}
	if err := writeSecret(mapPath, append(b, '\n')); err != nil {
		return fmt.Errorf("--mappings: %w", err)
	}
	return nil
}

// writeSecret writes data to a new or truncated file only its owner can
// read.
func writeSecret(path string, data []byte) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := fh.Chmod(0o600); err != nil {
		fh.Close()
		return err
	}
	_, err = fh.Write(data)
	return errors.Join(err, fh.Close())
}
