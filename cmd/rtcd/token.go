package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rtcd/rtcd/auth"
	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/signal/proto"
)

// token mints a join token with the configured Auth.TokenSecret, the way an
// operator's own app would, so token mode can be tried without writing one.
func token(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	room := fs.String("room", "", "room the token admits to (* for any)")
	user := fs.String("user", "", "user id, carried into TURN usernames")
	name := fs.String("name", "", "display name (optional)")
	role := fs.String("role", "", "role (optional)")
	host := fs.Bool("host", false, "a host token (role host): host controls in its room, and no host hand-over away from token hosts")
	ttl := fs.Duration("ttl", time.Hour, "validity")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *room == "" || *user == "" {
		return usageError{errors.New("token: --room and --user are required")}
	}
	if *host {
		if *role != "" && *role != proto.RoleHost {
			return usageError{fmt.Errorf("token: --host means --role %s, not %q", proto.RoleHost, *role)}
		}
		*role = proto.RoleHost
	}
	if *ttl <= 0 {
		return usageError{errors.New("token: --ttl must be positive")}
	}
	c, err := config.Load(path())
	if err != nil {
		return err
	}
	if c.Auth.TokenSecret == "" {
		return errors.New("token: Auth.TokenSecret is empty (set RTCD_TOKEN_SECRET)")
	}
	tokens, err := auth.NewTokens(c.Auth.TokenSecret)
	if err != nil {
		return fmt.Errorf("Auth.TokenSecret: %w", err)
	}
	tok, err := tokens.Sign(auth.Claims{Room: *room, User: *user, Name: *name, Role: *role, Expires: time.Now().Add(*ttl)})
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, _ = fmt.Fprintln(stdout, tok)
	return nil
}
