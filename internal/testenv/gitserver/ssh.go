package gitserver

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Bounds on what one SSH client can hold open.
const (
	sshHandshakeTimeout = 30 * time.Second
	sshExecTimeout      = 30 * time.Second // from opening a session to asking for a command
	sshMaxSessions      = 4                // open sessions per connection
	sshMaxEnv           = 8                // env requests per session
)

func (s *Server) acceptSSH() {
	for {
		nc, err := s.sshListener.Accept()
		if err != nil {
			return // listener closed
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.sshConns[nc] = true
		s.sshWork.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.sshWork.Done()
			defer func() {
				s.mu.Lock()
				delete(s.sshConns, nc)
				s.mu.Unlock()
				_ = nc.Close()
			}()
			s.serveSSH(nc)
		}()
	}
}

func (s *Server) serveSSH(nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(sshHandshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(nc, s.sshConfig)
	if err != nil {
		return
	}
	_ = nc.SetDeadline(time.Time{})
	go ssh.DiscardRequests(reqs)
	sessions := make(chan struct{}, sshMaxSessions)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "only session channels are served")
			continue
		}
		select {
		case sessions <- struct{}{}:
		default:
			_ = nch.Reject(ssh.ResourceShortage, "too many open sessions")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			<-sessions
			continue
		}
		// Counted while the connection's own count is held, so Add never races Wait.
		s.sshWork.Add(1)
		go func() {
			defer s.sshWork.Done()
			defer func() { <-sessions }()
			s.serveSession(conn.Permissions.Extensions["user"], ch, chReqs)
		}()
	}
}

// serveSession runs one git command on a session channel. Only "env" for
// GIT_PROTOCOL (so protocol v2 works) and one "exec" are accepted; there is no shell.
func (s *Server) serveSession(user string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	idle := time.AfterFunc(sshExecTimeout, func() { _ = ch.Close() })
	defer idle.Stop()
	var env []string
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			ok := len(env) < sshMaxEnv && ssh.Unmarshal(req.Payload, &kv) == nil && kv.Name == "GIT_PROTOCOL"
			if ok {
				env = append(env, "GIT_PROTOCOL="+kv.Value)
			}
			_ = req.Reply(ok, nil)
		case "exec":
			var cmd struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &cmd); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			if !idle.Stop() {
				return // timed out just now
			}
			_ = req.Reply(true, nil)
			go ssh.DiscardRequests(reqs) // nothing more is honoured, but nothing may block
			code := s.runGit(user, cmd.Command, env, ch)
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{code}))
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// runGit runs the git service the client asked for and returns its exit status.
func (s *Server) runGit(user, command string, env []string, ch ssh.Channel) uint32 {
	fail := func(err error) uint32 {
		fmt.Fprintf(ch.Stderr(), "lockstep-git: %v\n", err)
		return 1
	}
	service, repo, err := parseGitCommand(command)
	if err != nil {
		return fail(err)
	}
	want := Read
	if service == "git-receive-pack" {
		want = ReadWrite
	}
	if err := s.authorize(user, want); err != nil {
		return fail(err)
	}
	path, err := s.repoPath(repo)
	if err != nil {
		return fail(err)
	}
	cmd := exec.CommandContext(s.ctx, "git", strings.TrimPrefix(service, "git-"), path)
	cmd.Env = append(cmd.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
	run := cmd.Run
	if service == "git-receive-pack" {
		name := strings.TrimSuffix(strings.TrimPrefix(repo, "/"), ".git")
		run = func() (err error) {
			s.afterPush(name, path, func() { err = cmd.Run() })
			return err
		}
	}
	if err := run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return uint32(exit.ExitCode())
		}
		return fail(err)
	}
	return 0
}

// parseGitCommand accepts exactly what git sends over SSH:
// git-upload-pack 'path' or git-receive-pack 'path' (git-upload-archive is not served).
func parseGitCommand(command string) (service, repo string, err error) {
	service, arg, ok := strings.Cut(command, " ")
	if !ok || (service != "git-upload-pack" && service != "git-receive-pack") {
		return "", "", fmt.Errorf("command not allowed: %.80q", command)
	}
	if len(arg) < 2 || arg[0] != '\'' || arg[len(arg)-1] != '\'' || strings.Contains(arg[1:len(arg)-1], "'") {
		return "", "", fmt.Errorf("malformed repository argument: %.80q", arg)
	}
	return service, arg[1 : len(arg)-1], nil
}
