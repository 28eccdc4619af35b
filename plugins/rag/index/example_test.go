package index_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/llmrouter/llm-router/plugins/rag/index"
)

// A collection's life: build, write, open (mmap), search, then update one
// vector and remove another by rebuilding from the open index.
func Example() {
	dir, err := os.MkdirTemp("", "index-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "docs.idx")

	b := index.NewBuilder(3, index.Options{Kind: index.Float32})
	for id, v := range [][]float32{{1, 0, 0}, {0.9, 0.1, 0}, {0, 1, 0}, {0, 0, 1}} {
		if err := b.Add(uint32(id), v); err != nil {
			log.Fatal(err)
		}
	}
	ix, err := b.Build()
	if err != nil {
		log.Fatal(err)
	}
	if err := ix.WriteFile(path); err != nil {
		log.Fatal(err)
	}

	op, err := index.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range op.Search([]float32{2, 0, 0}, 2) {
		fmt.Printf("id %d score %.3f\n", r.ID, r.Score)
	}

	// Vector 1 changes, vector 3 goes.
	nb := index.NewBuilder(op.Dim(), index.Options{Kind: index.Float32})
	if err := nb.AddFrom(op, func(id uint32) bool { return id != 1 && id != 3 }); err != nil {
		log.Fatal(err)
	}
	if err := nb.Add(1, []float32{0, 0.1, 0.9}); err != nil {
		log.Fatal(err)
	}
	nu, err := nb.Build()
	if err != nil {
		log.Fatal(err)
	}
	op.Close()
	if err := nu.WriteFile(path); err != nil {
		log.Fatal(err)
	}
	fmt.Println(nu.Len(), nu.Search([]float32{0, 0, 1}, 1)[0].ID)
	// Output:
	// id 0 score 1.000
	// id 1 score 0.994
	// 3 1
}
