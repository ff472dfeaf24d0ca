package config

import "path/filepath"

// QueryLogConfig is the query log: every answer sent, written to Parquet files in Dir and
// searched by `warden log` and /api/querylog. Off while Dir is empty.
type QueryLogConfig struct {
	// Dir holds the log's files; relative to the config file. Made if missing.
	Dir string `yaml:"dir"`
	// MaxBytes bounds the files' total size; the oldest are removed first.
	MaxBytes int64 `yaml:"max_bytes"`
	// Sample keeps one answer in Sample (1: every one).
	Sample int `yaml:"sample"`
}

// minQueryLogBytes is the least max_bytes taken: a second's file at a high rate is a few
// megabytes, and a smaller bound would keep nothing but the newest second.
const minQueryLogBytes = 1 << 20

// Validate checks the directory (a directory, or a name one can be made at), the size bound
// and the sample.
func (q QueryLogConfig) Validate() error {
	var p problems
	if q.Dir != "" {
		if err := validateDir(q.Dir); err != nil {
			p.add("dir", "%v", err)
		}
	}
	if q.MaxBytes < minQueryLogBytes {
		p.add("max_bytes", "%d is below the least the log takes, %d (1 MiB)", q.MaxBytes, minQueryLogBytes)
	}
	if q.Sample < 1 || q.Sample > 1_000_000 {
		p.add("sample", "%d: want 1 (every answer) to 1000000 (one answer in a million)", q.Sample)
	}
	return p.err()
}

// ApplyQueryLogFlag sets query_log.dir from --query-log (a relative path is taken from the
// working directory), naming the flag in an error.
func ApplyQueryLogFlag(c *Config, dir string) error {
	if dir == "" {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		err = validateDir(abs)
	}
	if err != nil {
		return &Error{Flag: flagName("--query-log", dir), Msg: err.Error()}
	}
	c.QueryLog.Dir = abs
	if c.where == nil {
		c.where = make(map[string]location)
	}
	c.where["query_log.dir"] = location{flag: flagName("--query-log", dir)}
	return nil
}
