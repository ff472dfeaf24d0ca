package querylog

import (
	"hash/maphash"
	"time"

	"warden/internal/query"
)

// columns is a batch of rows as the Parquet file lays them out: one slice per column, the
// columns that repeat few values held as indexes into a dictionary of the batch. The collector
// appends each entry's values straight into it, and the segment writer encodes it column by
// column; no Row exists between the two. Dictionary indexes come from tables indexed by code
// (types, rcodes, sources, transports) or from the clients' table, so that neither side hashes
// a text per row for them.
type columns struct {
	timeUS    []int64
	latencyUS []int64
	// names holds the rows' names end to end; nameEnd[i] is where row i's name ends.
	names   []byte
	nameEnd []uint32

	client, qtype, rcode, source, policySet, policyRule, upstream, transport dictColumn

	// The tables that find a dictionary index by code, valid for the current batch only.
	qtypes, rcodes, sources, transports codeIndex
	clients                             clientTable
}

// dictColumn is one dictionary-encoded column of a batch: each row's index into values.
type dictColumn struct {
	idx    []uint32
	values []string
	// byText finds a text's index for the texts no code table covers (policy sets and rules,
	// upstreams, and every column of rows read back from a file for a merge).
	byText map[string]uint32
	// last is the text looked up last, which the next row most likely repeats.
	last    string
	lastIdx uint32
	hasLast bool
}

func (d *dictColumn) reset() {
	d.idx = d.idx[:0]
	clear(d.values)
	d.values = d.values[:0]
	clear(d.byText)
	d.last, d.hasLast = "", false
}

// newValue adds s to the dictionary and returns its index; the caller knows it is not there.
func (d *dictColumn) newValue(s string) uint32 {
	d.values = append(d.values, s)
	return uint32(len(d.values) - 1)
}

// indexOf returns s's index, adding it when new.
func (d *dictColumn) indexOf(s string) uint32 {
	if d.hasLast && s == d.last {
		return d.lastIdx
	}
	i, ok := d.byText[s]
	if !ok {
		if d.byText == nil {
			d.byText = make(map[string]uint32)
		}
		i = d.newValue(s)
		d.byText[s] = i
	}
	d.last, d.lastIdx, d.hasLast = s, i, true
	return i
}

// codeIndex finds the dictionary index of a code (a type, an rcode, a source, a transport):
// at[code] is the index plus one, 0 while the code has not been seen in the batch.
type codeIndex struct {
	at []uint32
}

func (c *codeIndex) reset() { clear(c.at) }

// indexOf returns the code's index in d, adding text(code) to d the first time.
func (c *codeIndex) indexOf(d *dictColumn, code uint16, text func(uint16) string) uint32 {
	if int(code) >= len(c.at) {
		// Grown to the code seen, in steps, up to 65,536 slots for a type of its own.
		c.at = append(c.at, make([]uint32, max(int(code)+1, 2*len(c.at), 32)-len(c.at))...)
	}
	if i := c.at[code]; i != 0 {
		return i - 1
	}
	i := d.newValue(text(code))
	c.at[code] = i + 1
	return i
}

// clientTable keeps the texts of the clients seen lately and their index in the batch's
// dictionary. Clients are few, and formatting an address costs more than a name: their texts
// live in a small direct-mapped table, a hash picking the one slot that holds the last client
// seen there. A client that pushes another out of its slot is looked for in inBatch, so that
// the dictionary holds each client once.
type clientTable struct {
	seed  maphash.Seed
	slots *[clientSlots]clientSlot
	// batch numbers the batches, so that a slot's index is known to belong to this one.
	batch uint32
	// inBatch is the dictionary index of every client of the batch, asked only when a slot
	// misses.
	inBatch map[[16]byte]uint32
	// last is the slot of the previous row's client: a run of one client's queries (a busy
	// client, a load generator) skips the hash.
	last *clientSlot
}

// clientSlots is the size of the clients' table: 4,096 slots, 160 KiB.
const clientSlots = 4 << 10

// clientSlot is keyed by the address in 16 bytes (IPv4 mapped), which hashes and compares
// faster than a netip.Addr; the log writes IPv4 addresses unmapped either way.
type clientSlot struct {
	addr  [16]byte
	set   bool
	text  string
	batch uint32 // the batch idx is valid for
	idx   uint32
}

// reset empties the batch, keeping its memory and the clients' texts.
func (c *columns) reset() {
	c.timeUS = c.timeUS[:0]
	c.latencyUS = c.latencyUS[:0]
	c.names = c.names[:0]
	c.nameEnd = c.nameEnd[:0]
	for _, d := range c.dicts() {
		d.reset()
	}
	c.qtypes.reset()
	c.rcodes.reset()
	c.sources.reset()
	c.transports.reset()
	c.clients.batch++
	clear(c.clients.inBatch)
}

// dicts lists the dictionary columns.
func (c *columns) dicts() [8]*dictColumn {
	return [8]*dictColumn{&c.client, &c.qtype, &c.rcode, &c.source, &c.policySet, &c.policyRule, &c.upstream, &c.transport}
}

func (c *columns) len() int { return len(c.timeUS) }

// name is row i's name; it points into the batch.
func (c *columns) name(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = c.nameEnd[i-1]
	}
	return c.names[start:c.nameEnd[i]]
}

// add appends an entry as a row; now stands in for its time when the listener did not take one.
func (c *columns) add(e *entry, now time.Time) {
	us := now.UnixMicro()
	if e.sentUnixNano != 0 {
		us = e.sentUnixNano / 1000
		if e.sentUnixNano < 0 && e.sentUnixNano%1000 != 0 {
			us-- // toward the past, as time.Truncate does
		}
	}
	c.timeUS = append(c.timeUS, us)
	c.latencyUS = append(c.latencyUS, e.latencyNanos/1000)
	c.names = appendNameText(c.names, e.qname[:e.qnameLen])
	c.nameEnd = append(c.nameEnd, uint32(len(c.names)))
	c.client.idx = append(c.client.idx, c.clientIndex(e))
	c.qtype.idx = append(c.qtype.idx, c.qtypes.indexOf(&c.qtype, e.qtype, typeText))
	c.rcode.idx = append(c.rcode.idx, c.rcodes.indexOf(&c.rcode, e.rcode, rcodeText))
	c.source.idx = append(c.source.idx, c.sources.indexOf(&c.source, uint16(e.source), sourceText))
	c.transport.idx = append(c.transport.idx, c.transports.indexOf(&c.transport, uint16(e.transport), transportText))
	c.policySet.idx = append(c.policySet.idx, c.policySet.indexOf(e.policySet))
	c.policyRule.idx = append(c.policyRule.idx, c.policyRule.indexOf(e.policyRule))
	c.upstream.idx = append(c.upstream.idx, c.upstream.indexOf(e.upstream))
}

func sourceText(s uint16) string    { return query.Source(s).String() }
func transportText(t uint16) string { return query.Transport(t).String() }

// clientIndex is the dictionary index of the entry's client, found through the clients' table.
func (c *columns) clientIndex(e *entry) uint32 {
	if !e.client.IsValid() {
		return c.client.indexOf("")
	}
	t := &c.clients
	if t.slots == nil {
		t.seed = maphash.MakeSeed()
		t.slots = new([clientSlots]clientSlot)
	}
	key := e.client.Addr().As16()
	if cs := t.last; cs != nil && cs.addr == key && cs.batch == t.batch {
		return cs.idx
	}
	cs := &t.slots[maphash.Comparable(t.seed, key)&(clientSlots-1)]
	t.last = cs
	if cs.set && cs.addr == key && cs.batch == t.batch {
		return cs.idx
	}
	if i, ok := t.inBatch[key]; ok {
		cs.addr, cs.set, cs.text, cs.batch, cs.idx = key, true, c.client.values[i], t.batch, i
		return i
	}
	if !cs.set || cs.addr != key {
		cs.addr, cs.set, cs.text = key, true, clientText(e.client)
	}
	if t.inBatch == nil {
		t.inBatch = make(map[[16]byte]uint32)
	}
	cs.batch, cs.idx = t.batch, c.client.newValue(cs.text)
	t.inBatch[key] = cs.idx
	return cs.idx
}

// addRow appends a row read back from a file (a merge) or made by a test.
func (c *columns) addRow(r *Row) {
	c.timeUS = append(c.timeUS, r.Time.UnixMicro())
	c.latencyUS = append(c.latencyUS, r.LatencyUS)
	c.names = append(c.names, r.Name...)
	c.nameEnd = append(c.nameEnd, uint32(len(c.names)))
	for _, v := range [...]struct {
		d    *dictColumn
		text string
	}{
		{&c.client, r.Client}, {&c.qtype, r.QType}, {&c.rcode, r.Rcode}, {&c.source, r.Source},
		{&c.policySet, r.PolicySet}, {&c.policyRule, r.PolicyRule}, {&c.upstream, r.Upstream},
		{&c.transport, r.Transport},
	} {
		v.d.idx = append(v.d.idx, v.d.indexOf(v.text))
	}
}

// columnsOf is rows as a batch.
func columnsOf(rows []Row) *columns {
	c := new(columns)
	c.reset()
	for i := range rows {
		c.addRow(&rows[i])
	}
	return c
}

// row is row i as a Row, for the top lists' tests and for checks.
func (c *columns) row(i int) Row {
	return Row{
		Time:       time.UnixMicro(c.timeUS[i]).UTC(),
		Client:     c.client.text(i),
		Name:       string(c.name(i)),
		QType:      c.qtype.text(i),
		Rcode:      c.rcode.text(i),
		Source:     c.source.text(i),
		PolicySet:  c.policySet.text(i),
		PolicyRule: c.policyRule.text(i),
		Upstream:   c.upstream.text(i),
		LatencyUS:  c.latencyUS[i],
		Transport:  c.transport.text(i),
	}
}

func (d *dictColumn) text(i int) string { return d.values[d.idx[i]] }
