package service

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/walletco/wallet/pkg/config"
)

// The command line refuses what it does not understand with exit 2 and the
// usage, answers -h with the usage and exit 0, and passes flags and exit
// codes of a command through. The serve command is never reached here.
func TestCommandLine(t *testing.T) {
	var got string
	var sub []string
	cmds := []Command[config.AccountService]{{
		Name: "things", Summary: "a command with a subcommand",
		Args: func(args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("%w: a subcommand is required", ErrUsage)
			}
			if args[len(args)-1] == "-h" {
				return flag.ErrHelp
			}
			sub = args
			return nil
		},
		Run: func(context.Context, config.AccountService, *slog.Logger) error {
			if strings.Join(sub, " ") != "list --all" {
				return ExitCode(1)
			}
			return nil
		},
	}, {
		Name: "check", Summary: "checks something",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&got, "into", "", "where") },
		Run: func(context.Context, config.AccountService, *slog.Logger) error {
			if got == "fail" {
				return ExitCode(1)
			}
			if got == "broken" {
				return errors.New("could not")
			}
			if got == "" {
				return fmt.Errorf("%w: --into is required", ErrUsage)
			}
			return nil
		},
	}}
	build := func(context.Context, config.AccountService, *slog.Logger) (App, error) {
		t.Fatal("serve must not run in this test")
		return nil, nil
	}
	tests := []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{[]string{"--help"}, 0, "commands:", ""},
		{[]string{"-h"}, 0, "check", ""},
		{[]string{"bogus"}, 2, "", `unknown command "bogus"`},
		{[]string{"check", "-h"}, 0, "-into", ""},
		{[]string{"serve", "--help"}, 0, "usage: svc serve", ""},
		{[]string{"check", "--nope"}, 2, "", "flag provided but not defined: -nope"},
		{[]string{"check", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"check", "--into", "x"}, 0, "", ""},
		{[]string{"check", "--into", "fail"}, 1, "", ""},
		{[]string{"check", "--into", "broken"}, 1, "", "svc: could not"},
		{[]string{"check"}, 2, "", "--into is required"},
		{[]string{"things", "list", "--all"}, 0, "", ""},
		{[]string{"things", "show"}, 1, "", ""},
		{[]string{"things"}, 2, "", "a subcommand is required"},
		{[]string{"things", "list", "-h"}, 0, "usage: svc things", ""},
	}
	for _, tt := range tests {
		got = ""
		var out, errOut bytes.Buffer
		code := run(tt.args, &out, &errOut, "svc", "a test service", build, cmds)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errOut.String(), tt.errOut) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tt.args, code, out.String(), errOut.String(), tt.code, tt.out, tt.errOut)
		}
		if tt.out != "" && errOut.Len() > 0 {
			t.Errorf("%v: help goes to stdout only, stderr got %q", tt.args, errOut.String())
		}
		if code == 2 && strings.Count(errOut.String(), "usage:") != 1 {
			t.Errorf("%v: a misuse prints the usage once to stderr, got %q", tt.args, errOut.String())
		}
	}
}
