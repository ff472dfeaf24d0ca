package querylog

import "encoding/binary"

// thriftWriter writes Thrift's compact protocol, the encoding of Parquet's page headers and
// footer: only what those need (structs, lists, i32, i64, binary, bool, byte).
type thriftWriter struct {
	buf []byte
	// last is the id of the previous field in each open struct: compact field headers carry
	// the difference.
	last []int16
}

// Compact protocol type codes.
const (
	tBoolTrue  = 1
	tBoolFalse = 2
	tByte      = 3
	tI16       = 4
	tI32       = 5
	tI64       = 6
	tBinary    = 8
	tList      = 9
	tStruct    = 12
)

func (w *thriftWriter) reset() {
	w.buf = w.buf[:0]
	w.last = append(w.last[:0], 0)
}

func (w *thriftWriter) field(id int16, typ byte) {
	top := &w.last[len(w.last)-1]
	if d := id - *top; d > 0 && d <= 15 {
		w.buf = append(w.buf, byte(d)<<4|typ)
	} else {
		w.buf = append(w.buf, typ)
		w.buf = binary.AppendVarint(w.buf, int64(id))
	}
	*top = id
}

func (w *thriftWriter) i16(id int16, v int16) {
	w.field(id, tI16)
	w.buf = binary.AppendVarint(w.buf, int64(v))
}

func (w *thriftWriter) i32(id int16, v int32) {
	w.field(id, tI32)
	w.buf = binary.AppendVarint(w.buf, int64(v))
}

func (w *thriftWriter) i64(id int16, v int64) {
	w.field(id, tI64)
	w.buf = binary.AppendVarint(w.buf, v)
}

func (w *thriftWriter) byte8(id int16, v int8) {
	w.field(id, tByte)
	w.buf = append(w.buf, byte(v))
}

func (w *thriftWriter) bool(id int16, v bool) {
	if v {
		w.field(id, tBoolTrue)
	} else {
		w.field(id, tBoolFalse)
	}
}

func (w *thriftWriter) binary(id int16, v []byte) {
	w.field(id, tBinary)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(v)))
	w.buf = append(w.buf, v...)
}

func (w *thriftWriter) string(id int16, v string) {
	w.field(id, tBinary)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(v)))
	w.buf = append(w.buf, v...)
}

// begin opens a struct field; end closes it.
func (w *thriftWriter) begin(id int16) {
	w.field(id, tStruct)
	w.last = append(w.last, 0)
}

func (w *thriftWriter) end() {
	w.buf = append(w.buf, 0)
	w.last = w.last[:len(w.last)-1]
}

// empty is a field holding an empty struct: how Thrift unions of Parquet name their choice.
func (w *thriftWriter) empty(id int16) {
	w.begin(id)
	w.end()
}

// list opens a list field of n elements of type typ.
func (w *thriftWriter) list(id int16, typ byte, n int) {
	w.field(id, tList)
	if n < 15 {
		w.buf = append(w.buf, byte(n)<<4|typ)
	} else {
		w.buf = append(w.buf, 0xf0|typ)
		w.buf = binary.AppendUvarint(w.buf, uint64(n))
	}
}

// elem opens a struct that is an element of a list; end closes it.
func (w *thriftWriter) elem() { w.last = append(w.last, 0) }

// listI32 and listString write the elements of a list of i32 or of strings.
func (w *thriftWriter) listI32(id int16, vs ...int32) {
	w.list(id, tI32, len(vs))
	for _, v := range vs {
		w.buf = binary.AppendVarint(w.buf, int64(v))
	}
}

func (w *thriftWriter) listString(id int16, vs ...string) {
	w.list(id, tBinary, len(vs))
	for _, v := range vs {
		w.buf = binary.AppendUvarint(w.buf, uint64(len(v)))
		w.buf = append(w.buf, v...)
	}
}
