package rbac

import "sync/atomic"

// A Store holds the Policy in force and swaps it when the ConfigMap changes.
// Requests read it without locks. The zero Store is ready and answers the
// built-in policy, held by nobody, until the first Load succeeds.
type Store struct {
	current atomic.Pointer[Policy]
}

// Load parses the ConfigMap's data and puts it in force. On error the Policy
// in force stays, so a bad edit cannot open or close the API; the caller
// reports the error, and the new policy's warnings through Policy().Warnings.
func (s *Store) Load(data map[string]string) error {
	p, _, err := FromConfigMap(data)
	if err != nil {
		return err
	}
	s.current.Store(p)
	return nil
}

// Policy returns the Policy in force. It is never nil.
func (s *Store) Policy() *Policy {
	if p := s.current.Load(); p != nil {
		return p
	}
	return builtin
}
