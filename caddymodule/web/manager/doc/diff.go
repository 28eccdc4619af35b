package doc

import (
	"bytes"
	"strings"
)

// Op is what a diff line does.
type Op byte

// Diff operations.
const (
	Same   Op = '='
	Delete Op = '-'
	Insert Op = '+'
)

// Line is one line of a diff.
type Line struct {
	// Op is Same, Delete (only in a) or Insert (only in b).
	Op Op
	// A and B are the 1-based line numbers in a and b, 0 where the line is
	// not in that side.
	A, B int
	// Text is the line without its newline.
	Text string
}

// maxEdits bounds the work of Diff: past it, the rest of the middle is
// shown as deleted then inserted.
const maxEdits = 1000

// Diff returns a shortest line diff of a and b (Myers' algorithm after
// trimming the common head and tail). Documents differing in more than a
// few thousand lines get a coarser, still correct, diff.
func Diff(a, b []byte) []Line {
	al, bl := splitLines(a), splitLines(b)
	var out []Line
	pre := 0
	for pre < len(al) && pre < len(bl) && al[pre] == bl[pre] {
		out = append(out, Line{Op: Same, A: pre + 1, B: pre + 1, Text: al[pre]})
		pre++
	}
	suf := 0
	for suf < len(al)-pre && suf < len(bl)-pre && al[len(al)-1-suf] == bl[len(bl)-1-suf] {
		suf++
	}
	out = append(out, myers(al[pre:len(al)-suf], bl[pre:len(bl)-suf], pre, pre)...)
	for i := suf; i > 0; i-- {
		ai, bi := len(al)-i, len(bl)-i
		out = append(out, Line{Op: Same, A: ai + 1, B: bi + 1, Text: al[ai]})
	}
	return out
}

func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	s := strings.Split(string(bytes.TrimSuffix(b, []byte("\n"))), "\n")
	return s
}

// myers diffs a and b; offA and offB are their first lines' 0-based places.
func myers(a, b []string, offA, offB int) []Line {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return coarse(a, b, offA, offB)
	}
	max := n + m
	limit := min(max, maxEdits)
	off := limit + 1
	v := make([]int, 2*limit+3)
	var trace [][]int
	found := -1
	for d := 0; d <= limit && found < 0; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = d
				break
			}
		}
		snap := make([]int, 2*d+3)
		copy(snap, v[off-d-1:off+d+2])
		trace = append(trace, snap)
	}
	if found < 0 {
		return coarse(a, b, offA, offB)
	}
	// Walk back through the snapshots.
	var rev []Line
	x, y := n, m
	for d := found; d > 0; d-- {
		prev := trace[d-1] // covers k in [-(d-1)-1, (d-1)+1]
		at := func(k int) int { return prev[k+d] }
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		for x > px && y > py {
			x--
			y--
			rev = append(rev, Line{Op: Same, A: offA + x + 1, B: offB + y + 1, Text: a[x]})
		}
		if x == px {
			y--
			rev = append(rev, Line{Op: Insert, B: offB + y + 1, Text: b[y]})
		} else {
			x--
			rev = append(rev, Line{Op: Delete, A: offA + x + 1, Text: a[x]})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, Line{Op: Same, A: offA + x + 1, B: offB + y + 1, Text: a[x]})
	}
	out := make([]Line, len(rev))
	for i, l := range rev {
		out[len(rev)-1-i] = l
	}
	return out
}

// coarse shows every line of a deleted, then every line of b inserted.
func coarse(a, b []string, offA, offB int) []Line {
	out := make([]Line, 0, len(a)+len(b))
	for i, s := range a {
		out = append(out, Line{Op: Delete, A: offA + i + 1, Text: s})
	}
	for i, s := range b {
		out = append(out, Line{Op: Insert, B: offB + i + 1, Text: s})
	}
	return out
}
