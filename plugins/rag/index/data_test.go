package index

import "math/rand/v2"

// clustered returns n vectors of dim dimensions around clusters random
// centres, like embeddings of texts on a few topics: each vector is its
// centre plus a mix of a few directions of its cluster plus small isotropic
// noise. Deterministic from seed.
func clustered(n, dim, clusters int, seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	const dirs = 8
	centres := make([][]float32, clusters)
	basis := make([][][]float32, clusters)
	gauss := func(scale float64) []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
		}
		return v
	}
	for c := range centres {
		centres[c] = gauss(1)
		basis[c] = make([][]float32, dirs)
		for j := range basis[c] {
			basis[c][j] = gauss(0.2)
		}
	}
	out := make([][]float32, n)
	for i := range out {
		c := rng.IntN(clusters)
		v := gauss(1.0)
		for j := range v {
			v[j] += centres[c][j]
		}
		for _, b := range basis[c] {
			a := float32(rng.NormFloat64())
			for j := range v {
				v[j] += a * b[j]
			}
		}
		out[i] = v
	}
	return out
}
