package policy

import (
	"errors"
	"testing"
	"time"
)

func TestHistoryRollback(t *testing.T) {
	h := NewHistory[string](10)
	now := time.Unix(0, 0)
	if _, err := h.Rollback(now); !errors.Is(err, ErrNoEarlierVersion) {
		t.Fatalf("rollback of nothing: %v", err)
	}
	h.Add("A", "start", now)
	if _, err := h.Rollback(now); !errors.Is(err, ErrNoEarlierVersion) {
		t.Fatalf("rollback of the first version: %v", err)
	}
	h.Add("B", "reload", now)
	h.Add("C", "reload", now)
	for _, want := range []struct {
		policy string
		n      int
	}{{"B", 4}, {"A", 5}} {
		v, err := h.Rollback(now)
		if err != nil || v.Policy != want.policy || v.N != want.n {
			t.Fatalf("rollback gave %+v, %v; want policy %s as version %d", v, err, want.policy, want.n)
		}
		if cur, _ := h.Current(); cur.Policy != want.policy {
			t.Fatalf("current %s after rollback, want %s", cur.Policy, want.policy)
		}
	}
	if _, err := h.Rollback(now); !errors.Is(err, ErrNoEarlierVersion) {
		t.Fatalf("rolled back past the first version: %v", err)
	}
	// A change after rollbacks; rolling it back returns to what was in force before it (A).
	h.Add("D", "reload", now)
	if v, err := h.Rollback(now); err != nil || v.Policy != "A" || v.Reason != "rollback to version 1" {
		t.Fatalf("rollback after a new change: %+v, %v", v, err)
	}
	if got := len(h.List()); got != 7 {
		t.Fatalf("%d versions listed, want 7", got)
	}
}

func TestHistoryBounded(t *testing.T) {
	h := NewHistory[int](3)
	for i := range 100 {
		h.Add(i, "reload", time.Unix(int64(i), 0))
	}
	vs := h.List()
	if len(vs) != 12 || vs[0].Policy != 88 || vs[11].N != 100 {
		t.Fatalf("kept %+v", vs)
	}
	for _, want := range []int{98, 97} {
		if v, err := h.Rollback(time.Now()); err != nil || v.Policy != want {
			t.Fatalf("rollback: %+v, %v; want %d", v, err, want)
		}
	}
	if _, err := h.Rollback(time.Now()); err == nil {
		t.Fatal("rolled back beyond the versions kept")
	}
}
