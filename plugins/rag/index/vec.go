package index

import "math"

// dotF32 is the dot product of a and b (len(b) >= len(a)), unrolled by eight
// into four accumulators so that the loop is not one long dependency chain.
func dotF32(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	for len(a) >= 8 && len(b) >= 8 {
		s0 += a[0]*b[0] + a[4]*b[4]
		s1 += a[1]*b[1] + a[5]*b[5]
		s2 += a[2]*b[2] + a[6]*b[6]
		s3 += a[3]*b[3] + a[7]*b[7]
		a, b = a[8:], b[8:]
	}
	for i := range a {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dotI8 is the integer dot product of a and b (len(b) >= len(a)). With at
// most 65536 dimensions of |x| <= 127 the sum fits an int32.
func dotI8(a, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	for len(a) >= 8 && len(b) >= 8 {
		s0 += int32(a[0])*int32(b[0]) + int32(a[4])*int32(b[4])
		s1 += int32(a[1])*int32(b[1]) + int32(a[5])*int32(b[5])
		s2 += int32(a[2])*int32(b[2]) + int32(a[6])*int32(b[6])
		s3 += int32(a[3])*int32(b[3]) + int32(a[7])*int32(b[7])
		a, b = a[8:], b[8:]
	}
	for i := range a {
		s0 += int32(a[i]) * int32(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// normalise writes v/|v| into dst (len(dst) == len(v)). It reports false for
// a zero vector or one with a NaN or infinite component.
func normalise(dst, v []float32) bool {
	var ss float64
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
		ss += f * f
	}
	if ss == 0 || math.IsInf(ss, 0) {
		return false
	}
	inv := 1 / math.Sqrt(ss)
	for i, x := range v {
		dst[i] = float32(float64(x) * inv)
	}
	return true
}

// quantise writes v as int8 with a symmetric scale into dst and returns the
// scale: v[i] ≈ dst[i]*scale, max |dst[i]| = 127.
func quantise(dst []int8, v []float32) float32 {
	var mx float32
	for _, x := range v {
		if x < 0 {
			x = -x
		}
		mx = max(mx, x)
	}
	if mx == 0 {
		clear(dst)
		return 0
	}
	scale := mx / 127
	inv := 127 / mx
	for i, x := range v {
		r := math.Round(float64(x * inv))
		dst[i] = int8(max(-127, min(127, r)))
	}
	return scale
}
