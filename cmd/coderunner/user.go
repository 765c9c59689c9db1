package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"coderunner"
	"coderunner/accounts"
)

// userCmd manages accounts from the command line; `user create` makes
// the first admin, whom nobody could otherwise promote.
func userCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: coderunner user create --name NAME [--role STUDENT|EDITOR|ADMIN] --password-stdin")
	}
	flags := flag.NewFlagSet("user create", flag.ContinueOnError)
	name := flags.String("name", "", "the user's name")
	role := flags.String("role", string(coderunner.RoleStudent), "STUDENT, EDITOR or ADMIN")
	fromStdin := flags.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	if !*fromStdin {
		// A password given as an argument would be seen in ps and kept
		// in the shell's history.
		return errors.New("user create: pass --password-stdin and the password on standard input")
	}
	password, err := bufio.NewReader(io.LimitReader(stdin, coderunner.MaxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the password: %w", err)
	}
	password = strings.TrimRight(password, "\r\n")
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	svc := &accounts.Service{Store: store}
	u, err := svc.Bootstrap(ctx, *name, password, coderunner.Role(strings.ToUpper(*role)))
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	fmt.Fprintf(stdout, "created %s %q with id %s in %s\n", u.Role, u.Name, u.ID, storeKind(cfg))
	return nil
}
