package config

import (
	"fmt"
	"os/user"
	"strings"
)

// validateUser checks that name, when set, is an account of this system: a server that could not
// give root up must not start as if it had.
func validateUser(name string) error {
	if name == "" {
		return nil
	}
	if strings.ContainsAny(name, ":/\x00\n") || strings.TrimSpace(name) != name {
		return fmt.Errorf("%s is not a user name", quote(name))
	}
	if _, err := user.Lookup(name); err != nil {
		if _, idErr := user.LookupId(name); idErr == nil {
			return nil // a numeric uid with an entry
		}
		return fmt.Errorf("no user %s on this system (%v)", quote(name), err)
	}
	return nil
}

// ApplyUserFlag sets the account the server runs as from --user, naming the flag in an error.
func ApplyUserFlag(c *Config, name string) error {
	if name == "" {
		return nil
	}
	if err := validateUser(name); err != nil {
		return &Error{Flag: flagName("--user", name), Msg: err.Error()}
	}
	c.User = name
	if c.where == nil {
		c.where = make(map[string]location)
	}
	c.where["user"] = location{flag: flagName("--user", name)}
	return nil
}
