package config

import (
	"reflect"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// masker is a section holding secrets: mask replaces them in place (in a
// copy: see Masked).
type masker interface {
	mask()
}

// Masked returns a copy of c safe to log: passwords in DSNs, credentials in
// the NATS URLs and the JWT secret replaced. Every section that holds a
// secret masks itself, so a section added to a binary is masked too.
func Masked[C Service](c C) C {
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		if m, ok := v.Field(i).Addr().Interface().(masker); ok {
			m.mask()
		}
	}
	return c
}

// mask makes a new slice: the copy shares the original's array.
func (s *Shards) mask() {
	m := make(Shards, len(*s))
	for i, dsn := range *s {
		m[i] = maskDSN(dsn)
	}
	*s = m
}

// mask makes a new slice: the copy shares the original's array.
func (s *Servers) mask() {
	m := make(Servers, len(*s))
	for i, entry := range *s {
		name, dsn, _ := strings.Cut(entry, "=")
		m[i] = name + "=" + maskDSN(dsn)
	}
	*s = m
}

func (m *MoveConfig) mask() {
	if m.ReplicationPassword != "" {
		m.ReplicationPassword = "***"
	}
}

func (n *NATSConfig) mask() { n.URL = MaskURLs(n.URL) }

func (l *LedgerConfig) mask() {
	m := make(Databases, len(l.Databases)) // the copy shares the original's array
	for i, dsn := range l.Databases {
		m[i] = maskDSN(dsn)
	}
	l.Databases = m
	if l.DSN != "" {
		l.DSN = maskDSN(l.DSN)
	}
	if l.ReconcileToken != "" {
		l.ReconcileToken = "***" // an operator's bearer token
	}
}

func (a *AuthConfig) mask() {
	if a.JWTSecret != "" {
		a.JWTSecret = "***" // the key that signs every HS256 token
	}
	a.JWKSURL = MaskURLs(a.JWKSURL)
}

func maskDSN(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "<invalid>"
	}
	if cfg.Passwd != "" {
		cfg.Passwd = "***"
	}
	return cfg.FormatDSN()
}

// MaskURLs replaces the credentials in a comma-separated list of URLs such
// as nats.url: the password of user:password@, or a bare token@ (NATS token
// auth), becomes ***. It works on the text, not url.Parse, so that URLs
// without a scheme (user:pw@host:4222, which nats.go accepts) are masked too.
func MaskURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		parts[i] = maskURL(u)
	}
	return strings.Join(parts, ",")
}

func maskURL(u string) string {
	start := 0
	if i := strings.Index(u, "://"); i >= 0 {
		start = i + len("://")
	}
	end := len(u)
	if i := strings.IndexAny(u[start:], "/?#"); i >= 0 {
		end = start + i
	}
	at := strings.LastIndex(u[start:end], "@")
	if at < 0 {
		return u
	}
	at += start
	user, _, hasPass := strings.Cut(u[start:at], ":")
	if !hasPass {
		user = "***"
	} else {
		user += ":***"
	}
	return u[:start] + user + u[at:]
}
