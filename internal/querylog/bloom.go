package querylog

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// splitBlockFilter is Parquet's split-block Bloom filter (BloomFilter.md): blocks of eight
// 32-bit words; a value's xxhash64 picks a block with its upper half and one bit in each word
// with its lower half. The search asks it whether a row group may hold a name or a client.
type splitBlockFilter struct {
	blocks [][8]uint32
}

// bloomSalts are the format's eight odd constants, one per word of a block.
var bloomSalts = [8]uint32{0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31}

// reset sizes the filter for n distinct values at bloomBitsPerValue bits each (a block holds
// 256 bits), and empties it.
func (f *splitBlockFilter) reset(n int) {
	k := max((n*bloomBitsPerValue+255)/256, 1)
	if cap(f.blocks) < k {
		f.blocks = make([][8]uint32, k)
	}
	f.blocks = f.blocks[:k]
	clear(f.blocks)
}

func (f *splitBlockFilter) insert(h uint64) {
	b := &f.blocks[(h>>32)*uint64(len(f.blocks))>>32]
	key := uint32(h)
	for i, salt := range bloomSalts {
		b[i] |= 1 << ((key * salt) >> 27)
	}
}

func (f *splitBlockFilter) insertBytes(v []byte) { f.insert(xxhash.Sum64(v)) }

func (f *splitBlockFilter) insertString(v string) { f.insert(xxhash.Sum64String(v)) }

// appendTo appends the filter as a file holds it: its header (BloomFilterHeader, compact
// Thrift), then the blocks in little-endian words.
func (f *splitBlockFilter) appendTo(out []byte, t *thriftWriter) []byte {
	t.reset()
	t.i32(1, int32(len(f.blocks)*32))
	t.begin(2) // algorithm: BLOCK
	t.empty(1)
	t.end()
	t.begin(3) // hash: XXHASH
	t.empty(1)
	t.end()
	t.begin(4) // compression: UNCOMPRESSED
	t.empty(1)
	t.end()
	t.buf = append(t.buf, 0)
	out = append(out, t.buf...)
	for i := range f.blocks {
		for _, w := range f.blocks[i] {
			out = binary.LittleEndian.AppendUint32(out, w)
		}
	}
	return out
}
