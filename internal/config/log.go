package config

import (
	"io"
	"log/slog"
	"strings"
)

// LogConfig chooses what the server logs and how.
type LogConfig struct {
	// Level is the least severe level logged: "debug", "info", "warn" or "error".
	Level string `yaml:"level"`
	// Format is "text" (key=value lines, for people) or "json" (one object a line, for collectors).
	Format string `yaml:"format"`
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

var logFormats = []string{"text", "json"}

// Validate checks level and format against the allowed sets.
func (l LogConfig) Validate() error {
	var p problems
	if _, ok := logLevels[l.Level]; !ok {
		p.add("level", "%s is not one of debug, info, warn, error", quote(l.Level))
	}
	if l.Format != "text" && l.Format != "json" {
		p.add("format", "%s is not one of %s", quote(l.Format), strings.Join(logFormats, ", "))
	}
	return p.err()
}

// Logger returns a logger writing to w with the configured level and format. A level or format
// that Validate would reject falls back to info and text, so a logger is always at hand to report
// the config's own errors.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	level, ok := logLevels[c.Log.Level]
	if !ok {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
