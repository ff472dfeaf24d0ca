package querylog

import (
	"encoding/binary"
	"math/bits"
)

// The value encodings of the log's Parquet files (the format's Encodings.md): the RLE and
// bit-packed hybrid for dictionary indexes, DELTA_BINARY_PACKED for integers and the lengths of
// names.

// bitPacker packs values of a fixed width, least significant bit first, as both encodings do.
type bitPacker struct {
	acc   uint64
	nbits uint
}

// put adds v, which must fit in width bits (at most 64).
func (p *bitPacker) put(out []byte, v uint64, width uint) []byte {
	p.acc |= v << p.nbits
	p.nbits += width
	if p.nbits >= 64 {
		out = binary.LittleEndian.AppendUint64(out, p.acc)
		p.nbits -= 64
		// The bits of v that did not fit; a shift by 64 gives 0 in Go.
		p.acc = v >> (width - p.nbits)
		if p.nbits == 0 {
			p.acc = 0
		}
	}
	return out
}

// flush writes the bits left, padded to a whole byte.
func (p *bitPacker) flush(out []byte) []byte {
	for p.nbits > 0 {
		out = append(out, byte(p.acc))
		p.acc >>= 8
		p.nbits = uint(max(int(p.nbits)-8, 0))
	}
	p.acc = 0
	return out
}

// appendHybrid appends vals in the RLE/bit-packed hybrid encoding at width bits, without the
// length prefix (as a data page's dictionary indexes take it). A value repeated 8 times or
// more becomes one run; the rest is packed in groups of 8.
func appendHybrid(out []byte, vals []uint32, width uint) []byte {
	n := len(vals)
	runAt := func(i int) int { // the length of the run of equal values at i
		j := i + 1
		for j < n && vals[j] == vals[i] {
			j++
		}
		return j - i
	}
	valueBytes := int(width+7) / 8
	var p bitPacker
	for i := 0; i < n; {
		if r := runAt(i); r >= 8 {
			out = binary.AppendUvarint(out, uint64(r)<<1)
			v := vals[i]
			for range valueBytes {
				out = append(out, byte(v))
				v >>= 8
			}
			i += r
			continue
		}
		// Groups of 8 until a run of 8 starts at a group's end, or the values end.
		start := i
		for i < n {
			i += 8
			if i < n && n-i >= 8 && vals[i] == vals[i+7] && runAt(i) >= 8 {
				break
			}
		}
		groups := (i - start) / 8
		if i > n {
			i = n
		}
		out = binary.AppendUvarint(out, uint64(groups)<<1|1)
		for k := start; k < start+groups*8; k++ {
			v := uint64(0)
			if k < n {
				v = uint64(vals[k])
			}
			out = p.put(out, v, width)
		}
		out = p.flush(out)
	}
	return out
}

// Layout of DELTA_BINARY_PACKED blocks: 128 values in 4 miniblocks of 32, as the format
// suggests and most writers use.
const (
	deltaBlock     = 128
	deltaMiniblock = 32
	deltaMinis     = deltaBlock / deltaMiniblock
)

// appendDelta appends vals in DELTA_BINARY_PACKED. Deltas are taken with wrapping arithmetic,
// as the format says, so any int64s encode.
func appendDelta(out []byte, vals []int64) []byte {
	out = binary.AppendUvarint(out, deltaBlock)
	out = binary.AppendUvarint(out, deltaMinis)
	out = binary.AppendUvarint(out, uint64(len(vals)))
	if len(vals) == 0 {
		return binary.AppendVarint(out, 0)
	}
	out = binary.AppendVarint(out, vals[0])
	var deltas [deltaBlock]int64
	var p bitPacker
	prev := vals[0]
	rest := vals[1:]
	for len(rest) > 0 {
		n := min(len(rest), deltaBlock)
		minDelta := int64(0)
		for i, v := range rest[:n] {
			d := v - prev
			prev = v
			deltas[i] = d
			if i == 0 || d < minDelta {
				minDelta = d
			}
		}
		out = binary.AppendVarint(out, minDelta)
		var widths [deltaMinis]uint
		for m := range deltaMinis {
			lo := m * deltaMiniblock
			if lo >= n {
				break
			}
			var or uint64
			for _, d := range deltas[lo:min(lo+deltaMiniblock, n)] {
				or |= uint64(d - minDelta)
			}
			widths[m] = uint(bits.Len64(or))
		}
		for _, w := range widths {
			out = append(out, byte(w))
		}
		for m := range deltaMinis {
			lo := m * deltaMiniblock
			if lo >= n {
				break
			}
			for k := lo; k < lo+deltaMiniblock; k++ {
				v := uint64(0)
				if k < n {
					v = uint64(deltas[k] - minDelta)
				}
				out = p.put(out, v, widths[m])
			}
			out = p.flush(out)
		}
		rest = rest[n:]
	}
	return out
}
