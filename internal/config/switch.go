package config

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// Switch is a setting that is on or off, written "on" or "off" (true and false are taken too, as
// YAML's booleans).
type Switch bool

// parseSwitch reads the words a Switch may be written as.
func parseSwitch(s string) (Switch, error) {
	switch strings.ToLower(s) {
	case "on", "true":
		return true, nil
	case "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not on or off", s)
}

// unmarshalSwitch is the decoder's reading of a Switch; the walk has already refused anything
// else with its line.
func unmarshalSwitch(s *Switch, b []byte) error {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*s = Switch(x)
		return nil
	case string:
		p, err := parseSwitch(x)
		if err != nil {
			return err
		}
		*s = p
		return nil
	}
	return fmt.Errorf("%v is not on or off", v)
}

// onOff checks a Switch's value in the walk.
func (w *walker) onOff(node ast.Node, key string) {
	switch n := node.(type) {
	case *ast.BoolNode:
	case *ast.StringNode:
		if _, err := parseSwitch(n.Value); err != nil {
			w.fail(node, key, "%s is not on or off", quote(n.Value))
		}
	default:
		w.fail(node, key, "want on or off, got %s", describe(node))
	}
}
