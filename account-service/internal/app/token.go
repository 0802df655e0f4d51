package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/walletco/wallet/pkg/auth"
	"github.com/walletco/wallet/pkg/config"
	"github.com/walletco/wallet/pkg/service"
)

// TokenCommand is "account-service token": it prints an HS256 token signed
// with auth.jwt_secret, for the local stack and operators' scripts. In
// production customers' tokens come from the identity provider.
func TokenCommand() service.Command[config.AccountService] {
	var role, sub string
	var ttl time.Duration
	return service.Command[config.AccountService]{
		Name:    "token",
		Summary: "print a bearer token signed with auth.jwt_secret (--role operator|service|customer --sub ID --ttl 24h)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&role, "role", "operator", "customer, operator or service")
			fs.StringVar(&sub, "sub", "", "the subject: a customer's owner_id, an operator's or service's name")
			fs.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
		},
		Run: func(_ context.Context, cfg config.AccountService, _ *slog.Logger) error {
			switch r := auth.Role(role); {
			case r != auth.Customer && r != auth.Operator && r != auth.Service:
				return fmt.Errorf("%w: --role %q is not customer, operator or service", service.ErrUsage, role)
			case sub == "":
				return fmt.Errorf("%w: --sub is required", service.ErrUsage)
			case ttl <= 0:
				return fmt.Errorf("%w: --ttl must be positive", service.ErrUsage)
			case cfg.Auth.JWTSecret == "":
				return errors.New("auth.jwt_secret (WALLET_AUTH_JWT_SECRET) is not set")
			}
			tok, err := auth.Mint(cfg.Auth.JWTSecret, sub, auth.Role(role), ttl, cfg.Auth.Issuer, cfg.Auth.Audience)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(os.Stdout, tok)
			return err
		},
	}
}
