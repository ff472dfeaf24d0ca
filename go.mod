module warden

go 1.26.8

require (
	codeberg.org/miekg/dns v0.6.0
	github.com/goccy/go-yaml v1.19.2
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)

require (
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
