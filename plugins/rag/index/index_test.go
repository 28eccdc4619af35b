package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// build builds an index of vecs under ids id(i).
func build(t testing.TB, vecs [][]float32, o Options, id func(int) uint32) *Index {
	t.Helper()
	b := NewBuilder(len(vecs[0]), o)
	for i, v := range vecs {
		if err := b.Add(id(i), v); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func sparseID(i int) uint32 { return uint32(i*7 + 3) }

// cosine is the reference similarity, in float64.
func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// recall is the share of exact's ids that got finds.
func recall(got, exact [][]Result) float64 {
	hit, all := 0, 0
	for i := range exact {
		want := map[uint32]bool{}
		for _, r := range exact[i] {
			want[r.ID] = true
		}
		for _, r := range got[i] {
			if want[r.ID] {
				hit++
			}
		}
		all += len(exact[i])
	}
	return float64(hit) / float64(all)
}

func TestRoundTrip(t *testing.T) {
	data := clustered(600, 48, 6, 1)
	queries := clustered(20, 48, 6, 2)
	for _, tc := range []struct {
		name  string
		opts  Options
		graph bool
	}{
		{"float32 flat", Options{Kind: Float32}, false},
		{"float32 graph", Options{Kind: Float32, FlatMax: -1, M: 8}, true},
		{"int8 flat", Options{Kind: Int8}, false},
		{"int8 graph", Options{Kind: Int8, FlatMax: 100}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := build(t, data, tc.opts, sparseID)
			if ix.HasGraph() != tc.graph {
				t.Fatalf("HasGraph = %v, want %v", ix.HasGraph(), tc.graph)
			}
			path := filepath.Join(t.TempDir(), "c.idx")
			if err := ix.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != headerSize+ix.Bytes() {
				t.Errorf("file has %d bytes, want header + Bytes() = %d", st.Size(), headerSize+ix.Bytes())
			}
			op, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer op.Close()
			if op.Len() != len(data) || op.Dim() != 48 || op.Kind() != tc.opts.Kind || op.HasGraph() != tc.graph {
				t.Fatalf("opened: len %d dim %d kind %v graph %v", op.Len(), op.Dim(), op.Kind(), op.HasGraph())
			}
			if !slices.Equal(op.IDs(), ix.IDs()) {
				t.Fatal("ids differ after the round trip")
			}
			for i := range data {
				want, _ := ix.Vector(sparseID(i))
				got, ok := op.Vector(sparseID(i))
				if !ok || !slices.Equal(got, want) {
					t.Fatalf("Vector(%d) differs after the round trip", sparseID(i))
				}
			}
			for _, q := range queries {
				if a, b := ix.Search(q, 10), op.Search(q, 10); !slices.Equal(a, b) || len(a) != 10 {
					t.Fatalf("Search differs after the round trip:\n%v\n%v", a, b)
				}
				if a, b := ix.SearchExact(q, 5), op.SearchExact(q, 5); !slices.Equal(a, b) {
					t.Fatalf("SearchExact differs after the round trip:\n%v\n%v", a, b)
				}
			}
		})
	}
}

func TestSearchExactIsExact(t *testing.T) {
	data := clustered(500, 32, 5, 3)
	queries := clustered(10, 32, 5, 4)
	for _, kind := range []Kind{Float32, Int8} {
		ix := build(t, data, Options{Kind: kind}, sparseID)
		tol := 1e-5
		if kind == Int8 {
			tol = 0.02
		}
		for _, q := range queries {
			got := ix.SearchExact(q, 7)
			ref := make([]Result, len(data))
			for i, v := range data {
				ref[i] = Result{ID: sparseID(i), Score: float32(cosine(q, v))}
			}
			slices.SortFunc(ref, func(a, b Result) int {
				if a.Score != b.Score {
					if a.Score > b.Score {
						return -1
					}
					return 1
				}
				return int(a.ID) - int(b.ID)
			})
			if len(got) != 7 {
				t.Fatalf("%v: %d results, want 7", kind, len(got))
			}
			for i, r := range got {
				if i > 0 && r.Score > got[i-1].Score {
					t.Fatalf("%v: results not best first: %v", kind, got)
				}
				v, _ := ix.Vector(r.ID)
				if d := math.Abs(float64(r.Score) - cosine(q, v)); d > tol {
					t.Fatalf("%v: score %v of id %d is not the cosine %v", kind, r.Score, r.ID, cosine(q, v))
				}
			}
			if kind == Float32 {
				for i := range got {
					if got[i].ID != ref[i].ID {
						t.Fatalf("exact top 7 %v, reference %v", got, ref[:7])
					}
				}
			}
		}
	}
}

func TestRecallHNSWvsFlat(t *testing.T) {
	n := 10000
	if raceEnabled {
		n = 1000
	}
	// Queries from the same distribution as the data, not in it.
	all := clustered(n+200, 128, 50, 5)
	data, queries := all[:n], all[n:]
	// Ground truth: the exact float32 top 10.
	flat := build(t, data, Options{FlatMax: math.MaxInt}, sparseID)
	var exact [][]Result
	for _, q := range queries {
		exact = append(exact, flat.SearchExact(q, 10))
	}
	for _, tc := range []struct {
		kind Kind
		min  float64
	}{
		{Float32, 0.95},
		{Int8, 0.90}, // quantisation error on top of the graph's
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			ix := build(t, data, Options{Kind: tc.kind, FlatMax: -1, Seed: 1}, sparseID)
			var got [][]Result
			for _, q := range queries {
				got = append(got, ix.Search(q, 10))
			}
			r := recall(got, exact)
			t.Logf("%v: recall@10 %.4f vs flat float32", tc.kind, r)
			if r < tc.min {
				t.Errorf("%v: recall@10 %.4f, want >= %v", tc.kind, r, tc.min)
			}
		})
	}
}

func TestAddErrors(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name string
		dim  int
		opts Options
		id   uint32
		vec  []float32
		want string
		dimE bool
	}{
		{"wrong dim", 4, Options{}, 1, []float32{1, 2, 3}, "has 3 dimensions, the index 4", true},
		{"zero vector", 3, Options{}, 1, []float32{0, 0, 0}, "zero, NaN or infinite", false},
		{"NaN", 3, Options{}, 1, []float32{1, nan, 0}, "zero, NaN or infinite", false},
		{"Inf", 3, Options{}, 1, []float32{1, float32(math.Inf(1)), 0}, "zero, NaN or infinite", false},
		{"duplicate id", 3, Options{}, 7, []float32{1, 0, 0}, "id 7 added twice", false},
		{"dim 0", 0, Options{}, 1, []float32{}, "dimension 0 outside", false},
		{"bad kind", 3, Options{Kind: 9}, 1, []float32{1, 0, 0}, "unknown vector kind 9", false},
		{"bad M", 3, Options{M: 1}, 1, []float32{1, 0, 0}, "M 1 outside", false},
		{"huge EfSearch", 3, Options{EfSearch: 1 << 21}, 1, []float32{1, 0, 0}, "EfSearch 2097152 outside", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder(tc.dim, tc.opts)
			if tc.name == "duplicate id" {
				if err := b.Add(7, []float32{0, 1, 0}); err != nil {
					t.Fatal(err)
				}
			}
			err := b.Add(tc.id, tc.vec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Add: %v, want an error containing %q", err, tc.want)
			}
			if errors.Is(err, ErrDim) != tc.dimE {
				t.Errorf("errors.Is(%v, ErrDim) = %v", err, !tc.dimE)
			}
		})
	}
	b := NewBuilder(2, Options{})
	if _, err := b.Build(); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(1, []float32{1, 0}); err == nil {
		t.Error("Add after Build succeeded")
	}
	if _, err := b.Build(); err == nil {
		t.Error("second Build succeeded")
	}
}

func TestQueryEdgeCases(t *testing.T) {
	data := clustered(300, 16, 3, 8)
	for _, o := range []Options{{}, {FlatMax: -1}, {Kind: Int8, FlatMax: -1}} {
		ix := build(t, data, o, sparseID)
		q := data[0]
		for _, tc := range []struct {
			name string
			q    []float32
			k    int
			want int
		}{
			{"k > n", q, 1000, 300},
			{"k = n", q, 300, 300},
			{"k 0", q, 0, 0},
			{"k negative", q, -1, 0},
			{"short query", q[:15], 5, 0},
			{"long query", append(slices.Clone(q), 1), 5, 0},
			{"zero query", make([]float32, 16), 5, 0},
			{"unnormalised query", scaled(q, 1000), 1, 1},
		} {
			for name, f := range map[string]func([]float32, int) []Result{"Search": ix.Search, "SearchExact": ix.SearchExact} {
				got := f(tc.q, tc.k)
				if len(got) != tc.want {
					t.Errorf("%+v %s %s: %d results, want %d", o, name, tc.name, len(got), tc.want)
				}
				if tc.name == "unnormalised query" && got[0].ID != sparseID(0) {
					t.Errorf("%+v %s: a vector's own (scaled) query found %d, not itself", o, name, got[0].ID)
				}
				if tc.want == 300 {
					seen := map[uint32]bool{}
					for _, r := range got {
						seen[r.ID] = true
					}
					if len(seen) != 300 {
						t.Errorf("%+v %s %s: %d distinct ids, want all 300", o, name, tc.name, len(seen))
					}
				}
			}
		}
	}
}

func scaled(v []float32, f float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * f
	}
	return out
}

func TestEmptyIndex(t *testing.T) {
	ix, err := NewBuilder(8, Options{FlatMax: -1}).Build()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "empty.idx")
	if err := ix.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	op, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	for _, x := range []*Index{ix, op} {
		if x.Len() != 0 || x.Dim() != 8 || x.HasGraph() {
			t.Fatalf("len %d dim %d graph %v", x.Len(), x.Dim(), x.HasGraph())
		}
		q := []float32{1, 0, 0, 0, 0, 0, 0, 0}
		if r := x.Search(q, 3); r != nil {
			t.Errorf("Search on empty index: %v", r)
		}
		if r := x.SearchExact(q, 3); r != nil {
			t.Errorf("SearchExact on empty index: %v", r)
		}
		if _, ok := x.Vector(0); ok {
			t.Error("Vector(0) found in an empty index")
		}
	}
}

func TestOneVectorAndFlatMax(t *testing.T) {
	// One vector never gets a graph; FlatMax decides for more.
	for _, tc := range []struct {
		n, flatMax int
		graph      bool
	}{
		{1, -1, false},
		{2, -1, true},
		{50, 51, false},
		{50, 50, true},
		{50, 0, false}, // default: flat up to flatBudget/dim
	} {
		ix := build(t, clustered(tc.n, 8, 2, 9), Options{FlatMax: tc.flatMax}, sparseID)
		if ix.HasGraph() != tc.graph {
			t.Errorf("n %d FlatMax %d: graph %v, want %v", tc.n, tc.flatMax, ix.HasGraph(), tc.graph)
		}
		if r := ix.Search(clustered(1, 8, 2, 9)[0], 1); len(r) != 1 || r[0].ID != sparseID(0) {
			t.Errorf("n %d: search for vector 0 found %v", tc.n, r)
		}
	}
}

// rewrite changes an index file with edit and, when fix is set, recomputes
// both checksums so that only the structural checks can catch it.
func rewrite(t *testing.T, src, dst string, fix bool, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	b = edit(b)
	if fix && len(b) >= headerSize {
		fixChecksums(b)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixChecksums recomputes both checksums of an index file's bytes.
func fixChecksums(b []byte) {
	le := binary.LittleEndian
	le.PutUint32(b[56:], crc32.Checksum(b[headerSize:], castagnoli))
	le.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
}

func TestOpenBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.idx")
	ix := build(t, clustered(200, 16, 4, 10), Options{FlatMax: -1, M: 4}, sparseID)
	if err := ix.WriteFile(good); err != nil {
		t.Fatal(err)
	}
	size := int(headerSize + ix.Bytes())
	lay := layoutOf(ix.header())
	le := binary.LittleEndian
	for _, tc := range []struct {
		name string
		fix  bool
		edit func([]byte) []byte
		want string
	}{
		{"empty file", false, func(b []byte) []byte { return nil }, "shorter than the 64-byte header"},
		{"cut in the header", false, func(b []byte) []byte { return b[:40] }, "shorter than the 64-byte header"},
		{"header only", false, func(b []byte) []byte { return b[:headerSize] }, fmt.Sprintf("truncated: 64 bytes, the header says %d", size)},
		{"cut in the vectors", false, func(b []byte) []byte { return b[:size/2] }, "truncated"},
		{"last byte missing", false, func(b []byte) []byte { return b[:size-1] }, "truncated"},
		{"trailing data", false, func(b []byte) []byte { return append(b, 0) }, "trailing data"},
		{"foreign file", false, func(b []byte) []byte {
			return []byte(strings.Repeat(`{"not": "an index"}`, 10))
		}, "not an llm-router vector index"},
		{"other version", true, func(b []byte) []byte { le.PutUint32(b[8:], 2); return b }, "format version 2, this build reads version 1"},
		{"header bit flip", false, func(b []byte) []byte { b[20] ^= 1; return b }, "header checksum mismatch"},
		{"vector bit flip", false, func(b []byte) []byte { b[headerSize+int(lay.vecs)+5] ^= 0x10; return b }, "checksum mismatch (corrupt)"},
		{"graph bit flip", false, func(b []byte) []byte { b[size-3] ^= 1; return b }, "checksum mismatch (corrupt)"},
		{"neighbour out of range", true, func(b []byte) []byte {
			le.PutUint32(b[headerSize+int(lay.layer0)+4:], 1<<30)
			return b
		}, "neighbour 1073741824 out of range"},
		{"too many neighbours", true, func(b []byte) []byte {
			le.PutUint32(b[headerSize+int(lay.layer0):], 99)
			return b
		}, "99 neighbours on layer 0"},
		{"duplicate id", true, func(b []byte) []byte {
			copy(b[headerSize+int(lay.sortedIDs)+4:], b[headerSize+int(lay.sortedIDs):][:4])
			return b
		}, "not strictly ascending"},
		{"entry out of range", true, func(b []byte) []byte { le.PutUint32(b[32:], 5000); return b }, "bad graph header"},
		{"huge dimension", true, func(b []byte) []byte { le.PutUint32(b[16:], 1<<20); return b }, "dimension 1048576 outside"},
		{"n and payload disagree", true, func(b []byte) []byte { le.PutUint32(b[20:], 201); return b }, "its sections need"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			rewrite(t, good, path, tc.fix, tc.edit)
			op, err := Open(path)
			if err == nil {
				op.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open: %v; want ErrFormat naming the file and containing %q", err, tc.want)
			}
		})
	}
	if _, err := Open(filepath.Join(dir, "missing.idx")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing file: %v, want os.ErrNotExist", err)
	}
	if _, err := Open(dir); err == nil || !errors.Is(err, ErrFormat) {
		t.Errorf("Open of a directory: %v", err)
	}
	// The good file still opens after all that (nothing above touched it).
	op, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	op.Close()
}

func TestWriteFileIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.idx")
	small := build(t, clustered(10, 8, 2, 11), Options{}, sparseID)
	if err := small.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	// A failed write (directory gone) leaves no temporary file behind and
	// the old index intact.
	if err := small.WriteFile(filepath.Join(dir, "nodir", "c.idx")); err == nil {
		t.Fatal("WriteFile into a missing directory succeeded")
	}
	big := build(t, clustered(100, 8, 2, 12), Options{}, sparseID)
	if err := big.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries after two writes, want 1 (no temporary files)", len(ents))
	}
	op, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if op.Len() != 100 {
		t.Fatalf("replaced index has %d vectors, want 100", op.Len())
	}
}

func TestUpdateAndRemove(t *testing.T) {
	all := clustered(2100, 32, 8, 13)
	data, fresh, queries := all[:1000], all[1000:1050], all[1050:1150]
	for _, tc := range []struct {
		name    string
		kind    Kind
		newM    int // the rebuild's M
		removeN int // vectors 0..removeN-1 are removed, the next 50 updated
		reuse   bool
	}{
		{"float32 graph reused", Float32, 8, 100, true},
		{"int8 graph reused", Int8, 8, 100, true},
		{"float32 most removed", Float32, 8, 600, false},
		{"float32 other M", Float32, 12, 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := build(t, data, Options{Kind: tc.kind, FlatMax: -1, M: 8}, sparseID)
			path := filepath.Join(t.TempDir(), "c.idx")
			if err := old.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			op, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			removed := func(id uint32) bool { return id < sparseID(tc.removeN) }
			updated := func(id uint32) bool { return id >= sparseID(tc.removeN) && id < sparseID(tc.removeN+50) }
			b := NewBuilder(32, Options{Kind: tc.kind, FlatMax: -1, M: tc.newM, Seed: 2})
			if err := b.AddFrom(op, func(id uint32) bool { return !removed(id) && !updated(id) }); err != nil {
				t.Fatal(err)
			}
			if (b.base != nil) != tc.reuse {
				t.Fatalf("graph reused: %v, want %v", b.base != nil, tc.reuse)
			}
			// The old index may be closed once AddFrom returned.
			oldVec := map[uint32][]float32{}
			for _, id := range op.IDs() {
				oldVec[id], _ = op.Vector(id)
			}
			if err := op.Close(); err != nil {
				t.Fatal(err)
			}
			for i, v := range fresh {
				if err := b.Add(sparseID(tc.removeN+i), v); err != nil {
					t.Fatal(err)
				}
				if err := b.Add(uint32(100000+i), v); err != nil {
					t.Fatal(err)
				}
			}
			nu, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			if want := 1000 - tc.removeN + 50; nu.Len() != want {
				t.Fatalf("rebuilt index has %d vectors, want %d", nu.Len(), want)
			}
			for i := range data {
				id := sparseID(i)
				v, ok := nu.Vector(id)
				switch {
				case removed(id):
					if ok {
						t.Fatalf("removed id %d still in the index", id)
					}
				case updated(id):
					if !ok || cosine(v, fresh[i-tc.removeN]) < 0.999 {
						t.Fatalf("updated id %d does not have its new vector", id)
					}
				default:
					if !ok || !near(v, oldVec[id]) {
						t.Fatalf("kept id %d changed its vector in the rebuild", id)
					}
				}
			}
			for i := range data[:tc.removeN] {
				for _, r := range nu.Search(data[i], 10) {
					if removed(r.ID) {
						t.Fatalf("search returned removed id %d", r.ID)
					}
				}
			}
			for i, v := range fresh {
				r := nu.Search(v, 2)
				got := []uint32{r[0].ID, r[1].ID}
				slices.Sort(got)
				if want := []uint32{sparseID(tc.removeN + i), uint32(100000 + i)}; !slices.Equal(got, want) {
					t.Fatalf("search for new vector %d found %v, want %v", i, got, want)
				}
			}
			var got, exact [][]Result
			for _, q := range queries {
				got = append(got, nu.Search(q, 10))
				exact = append(exact, nu.SearchExact(q, 10))
			}
			if r := recall(got, exact); r < 0.95 {
				t.Errorf("recall@10 of the rebuilt index %.4f, want >= 0.95", r)
			}
		})
	}
	b := NewBuilder(31, Options{})
	if err := b.AddFrom(build(t, data, Options{}, sparseID), nil); !errors.Is(err, ErrDim) {
		t.Errorf("AddFrom with another dimension: %v, want ErrDim", err)
	}
}

// TestRebuildKeepsLinks: a kept node none of whose neighbours went keeps its
// links (renumbered); one that lost a neighbour gets only kept ones.
func TestRebuildKeepsLinks(t *testing.T) {
	data := clustered(400, 16, 4, 23)
	o := Options{FlatMax: -1, M: 6}
	old := build(t, data, o, sparseID)
	b := NewBuilder(16, o)
	gone := map[uint32]bool{0: true, 5: true}
	if err := b.AddFrom(old, func(id uint32) bool { return !gone[(id-3)/7] }); err != nil {
		t.Fatal(err)
	}
	nu, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	idsOf := func(ix *Index, pos uint32, l int) []uint32 {
		var ids []uint32
		for _, e := range ix.neighbours(pos, l) {
			ids = append(ids, ix.ids[e])
		}
		slices.Sort(ids)
		return ids
	}
	same, relinked := 0, 0
	for p := range nu.n {
		id := nu.ids[p]
		op, _ := old.position(id)
		was := idsOf(old, uint32(op), 0)
		now := idsOf(nu, uint32(p), 0)
		if slices.ContainsFunc(was, func(x uint32) bool { return gone[(x-3)/7] }) {
			relinked++
			if slices.ContainsFunc(now, func(x uint32) bool { return gone[(x-3)/7] }) {
				t.Fatalf("node %d still links a removed node", id)
			}
			continue
		}
		if !slices.Equal(was, now) {
			t.Fatalf("node %d lost no neighbour but its links changed: %v -> %v", id, was, now)
		}
		same++
	}
	if relinked == 0 || same == 0 {
		t.Fatalf("%d nodes relinked, %d unchanged: the test removed nothing that mattered", relinked, same)
	}
}

// near reports whether a and b agree to float32 rounding.
func near(a, b []float32) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			return false
		}
	}
	return len(a) == len(b)
}

func TestDeterministicBuild(t *testing.T) {
	data := clustered(800, 24, 6, 15)
	dir := t.TempDir()
	var files [][]byte
	for i, seed := range []int64{42, 42, 43} {
		ix := build(t, data, Options{FlatMax: -1, Seed: seed}, sparseID)
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := ix.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if !slices.Equal(files[0], files[1]) {
		t.Error("two builds with the same seed differ")
	}
	if slices.Equal(files[0], files[2]) {
		t.Error("builds with different seeds are identical (seed ignored?)")
	}
}

func TestConcurrentSearch(t *testing.T) {
	data := clustered(1500, 32, 8, 16)
	queries := clustered(64, 32, 8, 17)
	ix := build(t, data, Options{FlatMax: -1, M: 8}, sparseID)
	path := filepath.Join(t.TempDir(), "c.idx")
	if err := ix.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	op, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	want := make([][]Result, len(queries))
	for i, q := range queries {
		want[i] = op.Search(q, 10)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 20 {
				i := (g*7 + r) % len(queries)
				var got []Result
				if r%2 == 0 {
					got = op.Search(queries[i], 10)
				} else {
					got = op.SearchExact(queries[i], 10)
					if recall([][]Result{want[i]}, [][]Result{got}) < 0.5 {
						errs <- fmt.Sprintf("query %d: exact and graph results disagree", i)
						return
					}
					continue
				}
				if !slices.Equal(got, want[i]) {
					errs <- fmt.Sprintf("query %d: concurrent result differs", i)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := op.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
	if r := op.Search(queries[0], 10); r != nil {
		t.Errorf("Search after Close: %v, want nil", r)
	}
}

func TestSearchAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	data := clustered(2000, 32, 8, 18)
	q := clustered(1, 32, 8, 19)[0]
	for _, o := range []Options{{}, {FlatMax: -1}, {Kind: Int8, FlatMax: -1}} {
		ix := build(t, data, o, sparseID)
		for name, f := range map[string]func([]float32, int) []Result{"Search": ix.Search, "SearchExact": ix.SearchExact} {
			if a := testing.AllocsPerRun(50, func() { f(q, 10) }); a > 1 {
				t.Errorf("%+v %s: %v allocations per search, want 1 (the results)", o, name, a)
			}
		}
	}
}

func TestBuildProgress(t *testing.T) {
	var calls [][2]int
	o := Options{FlatMax: -1, M: 4, Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) }}
	build(t, clustered(3000, 8, 3, 25), o, sparseID)
	// Node 0 starts the graph; 2999 are inserted.
	want := [][2]int{{1024, 2999}, {2048, 2999}, {2999, 2999}}
	if !slices.Equal(calls, want) {
		t.Errorf("progress calls %v, want %v", calls, want)
	}
}
