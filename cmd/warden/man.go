package main

import (
	"fmt"
	"io"
	"strings"
)

// The manual pages are written from the same commands, flags and text as the help, in the man(7)
// macros that man(1) and groff read: .TH, .SH, .PP, .TP, .B and .I.

// man writes c's manual page, warden-NAME(1).
func (c *command) man(w io.Writer, b build) {
	title := "warden-" + c.name
	manHeader(w, title, b)
	fmt.Fprintf(w, ".SH NAME\n%s \\- %s\n", roff(title), roff(c.summary))
	fmt.Fprintf(w, ".SH SYNOPSIS\n.B warden %s\n", c.name)
	if c.flags != nil && len(c.flags()) > 0 {
		fmt.Fprintln(w, "[\\fIflags\\fR]")
	}
	if c.args != "" {
		fmt.Fprintln(w, placeholders(c.args))
	}
	fmt.Fprintln(w, ".SH DESCRIPTION")
	for i, p := range paragraphs(c.about) {
		if i > 0 {
			fmt.Fprintln(w, ".PP")
		}
		fmt.Fprintln(w, roff(p))
	}
	if len(c.verbs) > 0 {
		fmt.Fprintln(w, ".SH COMMANDS")
		for _, v := range c.verbs {
			fmt.Fprintf(w, ".TP\n%s\n%s\n", placeholders(v.name), roff(v.help))
		}
	}
	fmt.Fprintln(w, ".SH OPTIONS")
	for _, d := range c.flags() {
		label := `\fB\-\-` + roff(d.name) + `\fR`
		if d.arg != "" {
			label += " " + `\fI` + roff(d.arg) + `\fR`
		}
		fmt.Fprintf(w, ".TP\n%s\n%s\n", label, roff(d.fullHelp()))
	}
	fmt.Fprintf(w, ".TP\n\\fB\\-\\-help\\fR, \\fB\\-h\\fR\nshow the usage and flags, and exit.\n")
	fmt.Fprintln(w, ".PP")
	fmt.Fprintln(w, roff(flagsNote))
	if c.exit != "" {
		fmt.Fprintf(w, ".SH EXIT STATUS\n%s\n", roff(c.exit))
	}
	fmt.Fprintf(w, ".SH SEE ALSO\n.BR warden (1)\n")
}

// writeOverviewMan writes warden(1): the commands, one entry each, pointing to their pages.
func writeOverviewMan(w io.Writer, b build) {
	manHeader(w, "warden", b)
	fmt.Fprintf(w, ".SH NAME\nwarden \\- a DNS server: authoritative, replicating, resolving, with response policy\n")
	fmt.Fprintf(w, ".SH SYNOPSIS\n.B warden\n[\\fICOMMAND\\fR] [\\fIflags\\fR] [\\fIarguments\\fR]\n.br\n.B warden \\-\\-version\n.br\n.B warden \\-\\-help\n")
	fmt.Fprintf(w, ".SH DESCRIPTION\n%s\n.PP\n%s\n", roff(paragraphs(overviewAbout)[0]),
		roff(`Without a command, warden serves, as "warden serve" does. Each command's flags are in its own page.`))
	fmt.Fprintln(w, ".SH COMMANDS")
	for _, c := range commands() {
		fmt.Fprintf(w, ".TP\n.B %s\n%s; see \\fB\\%%warden\\-%s\\fR(1).\n", c.name, roff(c.summary), c.name)
	}
	fmt.Fprintln(w, ".SH OPTIONS")
	fmt.Fprintf(w, ".TP\n\\fB\\-\\-version\\fR\nprint the version, as \\fBwarden version\\fR does, and exit.\n")
	fmt.Fprintf(w, ".TP\n\\fB\\-\\-help\\fR, \\fB\\-h\\fR\nlist the commands, as \\fBwarden help\\fR does, and exit.\n")
	fmt.Fprintf(w, ".SH EXIT STATUS\n%s\n", roff("0 success; 2 a usage error (an unknown command or flag, a missing value); other statuses as each command's page says."))
	fmt.Fprintln(w, ".SH SEE ALSO")
	var refs []string
	for _, c := range commands() {
		refs = append(refs, ".BR \\%warden\\-"+c.name+" (1)")
	}
	fmt.Fprintln(w, strings.Join(refs, ",\n"))
}

// manHeader writes the .TH line: the page's title, section 1, the date of the commit built
// (none when unknown, so the same source makes the same page) and the version.
func manHeader(w io.Writer, title string, b build) {
	date := ""
	if len(b.time) >= len("2006-01-02") {
		date = b.time[:len("2006-01-02")]
	}
	fmt.Fprintln(w, `.\" Written by "warden help --man"; edit the command's help in cmd/warden, not this page.`)
	fmt.Fprintf(w, ".TH %s 1 %q %q \"Warden manual\"\n", strings.ToUpper(roff(title)), date, "warden "+b.version)
}

// placeholders writes a synopsis or verb such as "zone show ZONE" or "[SET]" in roff: the
// upper-case placeholders in italics, the words to type in bold.
func placeholders(s string) string {
	var out []string
	for _, word := range strings.Fields(s) {
		core := strings.Trim(word, "[].")
		switch {
		case core == "":
			out = append(out, roff(word))
		case core == strings.ToUpper(core) && strings.ToUpper(core) != strings.ToLower(core):
			out = append(out, strings.Replace(roff(word), roff(core), `\fI`+roff(core)+`\fR`, 1))
		default:
			out = append(out, strings.Replace(roff(word), roff(core), `\fB`+roff(core)+`\fR`, 1))
		}
	}
	return strings.Join(out, " ")
}

// roff escapes text for a roff line: backslashes, dashes (so that flags copy as typed) and a
// leading dot or quote, which would read as a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
