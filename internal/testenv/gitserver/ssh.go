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

func (s *Server) acceptSSH() {
	for {
		nc, err := s.sshListener.Accept()
		if err != nil {
			return // listener closed
		}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			s.serveSSH(nc)
		}()
	}
}

func (s *Server) serveSSH(nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second)) // handshake only
	conn, chans, reqs, err := ssh.NewServerConn(nc, s.sshConfig)
	if err != nil {
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	s.mu.Lock()
	s.sshConns[conn] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sshConns, conn)
		s.mu.Unlock()
		_ = conn.Close()
	}()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "only session channels are served")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			continue
		}
		go s.serveSession(conn.Permissions.Extensions["user"], ch, chReqs)
	}
}

// serveSession runs one git command on a session channel. Only "env" for
// GIT_PROTOCOL (so protocol v2 works) and one "exec" are accepted; there is no shell.
func (s *Server) serveSession(user string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var env []string
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			ok := ssh.Unmarshal(req.Payload, &kv) == nil && kv.Name == "GIT_PROTOCOL"
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
			_ = req.Reply(true, nil)
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
	if err := cmd.Run(); err != nil {
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
