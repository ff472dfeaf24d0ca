package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "print the version, the revision it was built from, and the Go version (also --version)",
		about: `Prints the module version, the version control revision the binary was built from with its
commit time and whether the checkout had uncommitted changes, and the Go version and platform.
Go records the revision only in builds from a checkout with -buildvcs=true (the default, unless
GOFLAGS turns it off); without it the revision is unknown.`,
		flags: func() []flagDef { return nil },
		exit:  "0, or 2 for a usage error.",
		run: func(args []string, stdout, stderr io.Writer) int {
			c := versionCommand()
			rest, err := c.parse(nil, args)
			if err == nil && len(rest) > 0 {
				err = usagef("unexpected argument %q", rest[0])
			}
			if err != nil {
				return c.fail(err, stdout, stderr)
			}
			return printVersion(stdout)
		},
	}
}

// build is what the binary knows of how it was built.
type build struct {
	version   string // the main module's version: a tag, a pseudo-version, or (devel)
	revision  string // the commit, "" when not recorded
	time      string // the commit's time, RFC 3339
	modified  bool   // the checkout had uncommitted changes
	goVersion string
}

// readBuild reads the build information Go embeds in the binary.
func readBuild() build {
	b := build{version: "(devel)", goVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		b.goVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.time":
			b.time = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b
}

// String is the version as `warden version` prints it, one fact a line.
func (b build) String() string {
	s := "warden " + b.version + "\n"
	switch {
	case b.revision == "":
		s += "revision unknown (built without -buildvcs)\n"
	default:
		s += "revision " + b.revision
		if b.time != "" {
			s += ", committed " + b.time
		}
		if b.modified {
			s += ", with uncommitted changes"
		}
		s += "\n"
	}
	return s + fmt.Sprintf("built with %s for %s/%s\n", b.goVersion, runtime.GOOS, runtime.GOARCH)
}

func printVersion(w io.Writer) int {
	fmt.Fprint(w, readBuild())
	return 0
}
