package querylog

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// segmentWriter writes a batch as one Parquet file of the log's fixed schema (Row's columns,
// in Row's order). It is Warden's own encoder rather than parquet-go's generic writer: the
// collector hands it columns whose dictionary indexes are already assigned, so the writer
// hashes no value to build a dictionary, converts no Row, and compresses only what zstd
// shrinks (the names, and the clients when they are many); the rest is bit-packed and
// run-length encoded. The files are ordinary Parquet (format 2, data pages v1), which
// parquet-go and DuckDB read; search.go reads them with parquet-go as it reads those of the
// writer before.
//
// Each row group holds, per column: a dictionary page and a page of RLE_DICTIONARY indexes for
// the dictionary columns, a DELTA_BINARY_PACKED page for time and latency_us (with min/max
// statistics), a DELTA_LENGTH_BYTE_ARRAY page compressed with zstd for the names; then the
// split-block Bloom filters of the name and client columns. The footer has no page index: the
// search skips row groups by their Bloom filters and reads a column's one page whole.
type segmentWriter struct {
	hdr, meta  thriftWriter
	out        []byte // the row group being written
	body, comp []byte
	zenc       *zstd.Encoder
	ints       []int64
	// local, localOf and used turn the batch's dictionary indexes into a row group's own, so
	// that each group's dictionary holds only the values it uses.
	local   []uint32
	localOf []uint32 // batch index → local index plus one
	used    []uint32
	names   splitBlockFilter
	clients splitBlockFilter
	chunks  []chunkMeta // row group by row group, column by column
	groups  []groupMeta
}

// The log's schema: Row's columns in Row's order.
type columnKind uint8

const (
	kindTime columnKind = iota
	kindInt
	kindName
	kindDict
)

var logSchema = [...]struct {
	name string
	kind columnKind
}{
	{"time", kindTime}, {"client", kindDict}, {"name", kindName}, {"qtype", kindDict},
	{"rcode", kindDict}, {"source", kindDict}, {"policy_set", kindDict}, {"policy_rule", kindDict},
	{"upstream", kindDict}, {"latency_us", kindInt}, {"transport", kindDict},
}

// The columns with Bloom filters, as indexes of logSchema.
const (
	colClient = 1
	colName   = 2
)

// dictOf is the batch's column for a dictionary column of logSchema.
func (c *columns) dictOf(col int) *dictColumn {
	switch logSchema[col].name {
	case "client":
		return &c.client
	case "qtype":
		return &c.qtype
	case "rcode":
		return &c.rcode
	case "source":
		return &c.source
	case "policy_set":
		return &c.policySet
	case "policy_rule":
		return &c.policyRule
	case "upstream":
		return &c.upstream
	default:
		return &c.transport
	}
}

// Values of the format's enums (parquet.thrift).
const (
	typeInt64     = 2
	typeByteArray = 6

	encPlain       = 0
	encRLE         = 3
	encDelta       = 5
	encDeltaLength = 6
	encRLEDict     = 8

	codecNone = 0
	codecZstd = 6

	pageData = 0
	pageDict = 2

	convertedUTF8       = 0
	convertedTimeMicros = 10
	convertedInt64      = 18
)

// wholeDictBelow is the size of a batch's dictionary that each row group takes whole; those
// of types, rcodes, sources, transports and policies are this small.
const wholeDictBelow = 64

// compressDictAbove is the size of a batch's dictionary above which its column is compressed.
const compressDictAbove = 256

// chunkMeta is what the footer says of one column chunk.
type chunkMeta struct {
	start, dictOffset, dataOffset int64
	compressed, uncompressed      int64
	codec                         int32
	encoding                      int32
	dict                          bool
	stats                         bool
	min, max                      int64
	bloomOffset                   int64
	bloomLen                      int32
}

type groupMeta struct {
	start, rows, compressed, uncompressed int64
}

var parquetMagic = []byte("PAR1")

func newSegmentWriter() (*segmentWriter, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("query log: zstd: %w", err)
	}
	return &segmentWriter{zenc: enc}, nil
}

// write writes the rows of c in the order given (indexes into c, oldest first) to w as one
// file, and returns its size.
func (sw *segmentWriter) write(w io.Writer, c *columns, order []int32) (int64, error) {
	sw.chunks, sw.groups = sw.chunks[:0], sw.groups[:0]
	if _, err := w.Write(parquetMagic); err != nil {
		return 0, err
	}
	off := int64(len(parquetMagic))
	for lo := 0; lo < len(order); lo += rowsPerGroup {
		rows := order[lo:min(lo+rowsPerGroup, len(order))]
		sw.out = sw.out[:0]
		g := groupMeta{start: off, rows: int64(len(rows))}
		first := len(sw.chunks)
		for col, spec := range logSchema {
			ch := chunkMeta{start: off + int64(len(sw.out))}
			switch spec.kind {
			case kindTime:
				sw.intChunk(&ch, c.timeUS, rows)
			case kindInt:
				sw.intChunk(&ch, c.latencyUS, rows)
			case kindName:
				sw.nameChunk(&ch, c, rows)
			case kindDict:
				sw.dictChunk(&ch, c.dictOf(col), rows, col == colClient)
			}
			g.compressed += ch.compressed
			g.uncompressed += ch.uncompressed
			sw.chunks = append(sw.chunks, ch)
			// A server with one CPU for Go (GOMAXPROCS=1) has a UDP worker waiting for it.
			runtime.Gosched()
		}
		// The filters follow the group's chunks.
		for _, bf := range [...]struct {
			col int
			f   *splitBlockFilter
		}{{colName, &sw.names}, {colClient, &sw.clients}} {
			ch := &sw.chunks[first+bf.col]
			ch.bloomOffset = off + int64(len(sw.out))
			sw.out = bf.f.appendTo(sw.out, &sw.hdr)
			ch.bloomLen = int32(off + int64(len(sw.out)) - ch.bloomOffset)
		}
		if _, err := w.Write(sw.out); err != nil {
			return 0, err
		}
		off += int64(len(sw.out))
		sw.groups = append(sw.groups, g)
	}
	footer := sw.footer(int64(len(order)))
	footer = binary.LittleEndian.AppendUint32(footer, uint32(len(footer)))
	footer = append(footer, parquetMagic...)
	if _, err := w.Write(footer); err != nil {
		return 0, err
	}
	return off + int64(len(footer)), nil
}

// page appends a page (its header, then its body, compressed if asked) to the group and counts
// it in ch.
func (sw *segmentWriter) page(ch *chunkMeta, kind int32, values int, encoding int32, body []byte, compress bool) {
	stored := body
	if compress {
		sw.comp = sw.zenc.EncodeAll(body, sw.comp[:0])
		stored = sw.comp
	}
	t := &sw.hdr
	t.reset()
	t.i32(1, kind)
	t.i32(2, int32(len(body)))
	t.i32(3, int32(len(stored)))
	if kind == pageDict {
		t.begin(7)
		t.i32(1, int32(values))
		t.i32(2, encPlain)
		t.end()
	} else {
		t.begin(5)
		t.i32(1, int32(values))
		t.i32(2, encoding)
		t.i32(3, encRLE)
		t.i32(4, encRLE)
		t.end()
	}
	t.buf = append(t.buf, 0)
	sw.out = append(sw.out, t.buf...)
	sw.out = append(sw.out, stored...)
	ch.uncompressed += int64(len(t.buf) + len(body))
	ch.compressed += int64(len(t.buf) + len(stored))
}

// intChunk writes an integer column (time, latency_us) with its min and max.
func (sw *segmentWriter) intChunk(ch *chunkMeta, vals []int64, rows []int32) {
	sw.ints = sw.ints[:0]
	ch.min, ch.max = vals[rows[0]], vals[rows[0]]
	for _, r := range rows {
		v := vals[r]
		sw.ints = append(sw.ints, v)
		ch.min, ch.max = min(ch.min, v), max(ch.max, v)
	}
	ch.stats, ch.encoding, ch.codec = true, encDelta, codecNone
	ch.dataOffset = ch.start
	sw.body = appendDelta(sw.body[:0], sw.ints)
	sw.page(ch, pageData, len(rows), encDelta, sw.body, false)
}

// nameChunk writes the names: their lengths delta-packed, then their bytes end to end, the
// page compressed with zstd; each name goes into the group's Bloom filter.
func (sw *segmentWriter) nameChunk(ch *chunkMeta, c *columns, rows []int32) {
	sw.ints = sw.ints[:0]
	sw.names.reset(len(rows))
	for _, r := range rows {
		n := c.name(int(r))
		sw.ints = append(sw.ints, int64(len(n)))
		sw.names.insertBytes(n)
	}
	sw.body = appendDelta(sw.body[:0], sw.ints)
	for _, r := range rows {
		sw.body = append(sw.body, c.name(int(r))...)
	}
	ch.encoding, ch.codec = encDeltaLength, codecZstd
	ch.dataOffset = ch.start
	sw.page(ch, pageData, len(rows), encDeltaLength, sw.body, true)
}

// dictChunk writes a dictionary column: the group's dictionary, then its indexes. The
// client's column also fills the client Bloom filter, from the dictionary: one hash per
// distinct client.
func (sw *segmentWriter) dictChunk(ch *chunkMeta, d *dictColumn, rows []int32, bloom bool) {
	sw.body = sw.body[:0]
	sw.local = sw.local[:0]
	if !bloom && len(d.values) <= wholeDictBelow {
		// A small dictionary goes whole into every group: no remapping of its indexes.
		for _, r := range rows {
			sw.local = append(sw.local, d.idx[r])
		}
		sw.used = sw.used[:0]
		for i := range d.values {
			sw.used = append(sw.used, uint32(i))
		}
	} else {
		sw.remap(d, rows)
	}
	if bloom {
		sw.clients.reset(len(sw.used))
	}
	for _, g := range sw.used {
		v := d.values[g]
		sw.body = binary.LittleEndian.AppendUint32(sw.body, uint32(len(v)))
		sw.body = append(sw.body, v...)
		if bloom {
			sw.clients.insertString(v)
		}
	}
	// A large dictionary (the clients of a busy server) is worth compressing: addresses in text
	// shrink to a third. A column's codec covers all its pages, the indexes' too, and is chosen
	// for the whole file: parquet-go's reader takes the first row group's codec for every group.
	compress := len(d.values) > compressDictAbove
	ch.dict, ch.encoding, ch.codec = true, encRLEDict, codecNone
	if compress {
		ch.codec = codecZstd
	}
	ch.dictOffset = ch.start
	sw.page(ch, pageDict, len(sw.used), encPlain, sw.body, compress)
	ch.dataOffset = ch.start + ch.compressed
	width := uint(max(bits.Len(uint(len(sw.used)-1)), 1))
	sw.body = append(sw.body[:0], byte(width))
	sw.body = appendHybrid(sw.body, sw.local, width)
	sw.page(ch, pageData, len(rows), encRLEDict, sw.body, compress)
}

// remap gives the group a dictionary of its own, of the values its rows use: sw.used lists
// them by their index in d, and sw.local holds each row's index into that list.
func (sw *segmentWriter) remap(d *dictColumn, rows []int32) {
	if len(sw.localOf) < len(d.values) {
		sw.localOf = make([]uint32, len(d.values)+len(d.values)/4)
	}
	sw.used = sw.used[:0]
	for _, r := range rows {
		g := d.idx[r]
		l := sw.localOf[g]
		if l == 0 {
			sw.used = append(sw.used, g)
			l = uint32(len(sw.used))
			sw.localOf[g] = l
		}
		sw.local = append(sw.local, l-1)
	}
	for _, g := range sw.used {
		sw.localOf[g] = 0 // ready for the next column
	}
}

// footer is the file's FileMetaData in compact Thrift.
func (sw *segmentWriter) footer(rows int64) []byte {
	t := &sw.meta
	t.reset()
	t.i32(1, 2)
	t.list(2, tStruct, 1+len(logSchema))
	t.elem()
	t.string(4, "Row")
	t.i32(5, int32(len(logSchema)))
	t.end()
	for _, spec := range logSchema {
		t.elem()
		switch spec.kind {
		case kindTime:
			t.i32(1, typeInt64)
			t.i32(3, 0) // REQUIRED
			t.string(4, spec.name)
			t.i32(6, convertedTimeMicros)
			t.begin(10)
			t.begin(8) // TIMESTAMP
			t.bool(1, true)
			t.begin(2)
			t.empty(2) // MICROS
			t.end()
			t.end()
			t.end()
		case kindInt:
			t.i32(1, typeInt64)
			t.i32(3, 0)
			t.string(4, spec.name)
			t.i32(6, convertedInt64)
			t.begin(10)
			t.begin(10) // INTEGER
			t.byte8(1, 64)
			t.bool(2, true)
			t.end()
			t.end()
		default:
			t.i32(1, typeByteArray)
			t.i32(3, 0)
			t.string(4, spec.name)
			t.i32(6, convertedUTF8)
			t.begin(10)
			t.empty(1) // STRING
			t.end()
		}
		t.end()
	}
	t.i64(3, rows)
	t.list(4, tStruct, len(sw.groups))
	for gi, g := range sw.groups {
		t.elem()
		t.list(1, tStruct, len(logSchema))
		for col, spec := range logSchema {
			ch := &sw.chunks[gi*len(logSchema)+col]
			t.elem()
			t.i64(2, ch.start)
			t.begin(3)
			if spec.kind == kindName || spec.kind == kindDict {
				t.i32(1, typeByteArray)
			} else {
				t.i32(1, typeInt64)
			}
			if ch.dict {
				t.listI32(2, encPlain, encRLEDict)
			} else {
				t.listI32(2, ch.encoding)
			}
			t.listString(3, spec.name)
			t.i32(4, ch.codec)
			t.i64(5, g.rows)
			t.i64(6, ch.uncompressed)
			t.i64(7, ch.compressed)
			t.i64(9, ch.dataOffset)
			if ch.dict {
				t.i64(11, ch.dictOffset)
			}
			if ch.stats {
				var lo, hi [8]byte
				binary.LittleEndian.PutUint64(lo[:], uint64(ch.min))
				binary.LittleEndian.PutUint64(hi[:], uint64(ch.max))
				t.begin(12)
				t.i64(3, 0) // null_count
				t.binary(5, hi[:])
				t.binary(6, lo[:])
				t.end()
			}
			if ch.bloomLen > 0 {
				t.i64(14, ch.bloomOffset)
				t.i32(15, ch.bloomLen)
			}
			t.end()
			t.end()
		}
		t.i64(2, g.uncompressed)
		t.i64(3, g.rows)
		t.i64(5, g.start)
		t.i64(6, g.compressed)
		t.i16(7, int16(gi))
		t.end()
	}
	t.string(6, "warden")
	t.list(7, tStruct, len(logSchema))
	for range logSchema {
		t.elem()
		t.empty(1) // TYPE_ORDER
		t.end()
	}
	t.buf = append(t.buf, 0)
	return t.buf
}
