package source_test

import (
	"testing"

	"github.com/lockstep-dev/lockstep/internal/source"
)

// A new head descends from the commits before it; an older commit does not
// descend from a newer one: that is a rollback.
func TestDescendsTellsARollback(t *testing.T) {
	f := newFixture(t)
	a := f.commit(t, map[string]string{"a.yaml": "1"}, "a")
	b := f.commit(t, map[string]string{"a.yaml": "2"}, "b")
	c := f.commit(t, map[string]string{"a.yaml": "3"}, "c")
	head := f.fetch(t, f.req, 0)
	for _, ancestor := range []string{a, b, c} {
		if ok, err := head.Descends(ancestor); err != nil || !ok {
			t.Errorf("the head %.7s descends from %.7s: got %v, %v", c, ancestor, ok, err)
		}
	}
	pinned := f.req
	pinned.Ref = source.Ref{Commit: a}
	old := f.fetch(t, pinned, 0)
	if ok, err := old.Descends(c); err != nil || ok {
		t.Errorf("the older %.7s descends from the head %.7s: got %v, %v; want a rollback", a, c, ok, err)
	}
	if _, err := old.Descends("not-a-hash"); err == nil {
		t.Error("a malformed hash was accepted")
	}
}
