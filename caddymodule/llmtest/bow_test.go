package llmtest

import (
	"context"
	"testing"

	"github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

func cosine(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// With SetBagOfWords the fakes answer vectors that put texts sharing words
// near each other, through both official clients.
func TestBagOfWordsEmbeddings(t *testing.T) {
	texts := []string{"vacation days per year", "how many vacation days do I get", "pierogi dough recipe"}
	check := func(t *testing.T, vecs [][]float64) {
		t.Helper()
		if len(vecs) != 3 || len(vecs[0]) != 64 {
			t.Fatalf("got %d vectors of %d", len(vecs), len(vecs[0]))
		}
		near, far := cosine(vecs[0], vecs[1]), cosine(vecs[0], vecs[2])
		if near < 0.5 || far > 0.2 || cosine(vecs[2], vecs[2]) < 0.999 {
			t.Fatalf("near %.2f far %.2f", near, far)
		}
		for i, v := range vecs {
			want := BagOfWords(texts[i], 64)
			for j := range v {
				if float64(v[j]) != float64(want[j]) {
					t.Fatalf("vector %d differs from BagOfWords", i)
				}
			}
		}
	}
	t.Run("openai", func(t *testing.T) {
		s := NewOpenAIPlus("emb")
		defer s.Close()
		s.SetBagOfWords(64)
		c := openai.NewClient(option.WithBaseURL(s.URL+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
		emb, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "e", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts}})
		if err != nil {
			t.Fatal(err)
		}
		var vecs [][]float64
		for _, d := range emb.Data {
			vecs = append(vecs, d.Embedding)
		}
		check(t, vecs)
	})
	t.Run("ollama", func(t *testing.T) {
		s := NewOllama("ol")
		defer s.Close()
		s.SetBagOfWords(64)
		emb, err := ollamaClient(t, s).Embed(context.Background(), &api.EmbedRequest{Model: "nomic-embed-text", Input: texts})
		if err != nil {
			t.Fatal(err)
		}
		var vecs [][]float64
		for _, e := range emb.Embeddings {
			v := make([]float64, len(e))
			for i, f := range e {
				v[i] = float64(f)
			}
			vecs = append(vecs, v)
		}
		check(t, vecs)
	})
}
