package rbac

import (
	"sync"
	"testing"
)

func TestStore(t *testing.T) {
	var s Store
	alice := Subjects{User: "alice"}
	// Before any Load: the built-in roles, held by nobody.
	if d := s.Policy().Enforce(alice, Applications, Get, "team-a/x/y"); d.Allowed() {
		t.Fatalf("the zero Store allowed: %s", d)
	}
	if err := s.Load(map[string]string{KeyDefault: ReadOnly}); err != nil {
		t.Fatalf("Load: %v", err)
	}
	good := s.Policy()
	if d := good.Enforce(alice, Applications, Get, "team-a/x/y"); !d.Allowed() {
		t.Fatalf("after Load with a default role: %s", d)
	}
	// A bad edit keeps the policy in force.
	if err := s.Load(map[string]string{KeyPolicy: "p, alice, applications, get, *, alow"}); err == nil {
		t.Fatal("Load of a bad policy succeeded")
	}
	if s.Policy() != good {
		t.Error("a failed Load replaced the policy in force")
	}
	// An emptied ConfigMap is a good policy: it takes everything away.
	if err := s.Load(nil); err != nil {
		t.Fatalf("Load(nil): %v", err)
	}
	if d := s.Policy().Enforce(alice, Applications, Get, "team-a/x/y"); d.Allowed() {
		t.Errorf("after Load(nil): %s", d)
	}
}

// Requests read the Store while reloads replace its Policy; run with -race.
func TestStoreConcurrent(t *testing.T) {
	var s Store
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				if (i+j)%2 == 0 {
					_ = s.Load(map[string]string{KeyPolicy: teamPolicy, KeyDefault: ReadOnly})
					continue
				}
				s.Policy().Enforce(Subjects{User: "alice"}, Applications, Get, "secret-project/x/y")
			}
		})
	}
	wg.Wait()
}
